import { randomUUID } from "node:crypto";
import Ajv, { type ErrorObject, type ValidateFunction } from "ajv";
import addFormats from "ajv-formats";
import express, { type NextFunction, type Request, type Response } from "express";
import { rateLimit, type Store as RateLimitStore } from "express-rate-limit";
import { bearerMetadata, InvalidArgumentError, PermissionDeniedError, ResourceExhaustedError, TRACE_ID_HEADER, UnauthenticatedError, type FieldViolation, type Logger, type SealAgency } from "@casebridge/kit";
import { crossSite, isAllowed, type Principal } from "../auth/access";
import type { GatewayAuth } from "../auth/keycloak-auth";
import { rateLimitLogger } from "../rate-limit-store";
import { sendProblem } from "../problem";
import type { AgencyClients } from "./agency-clients";
import type { JsonSchema } from "./proto-schema";
import type { BinaryResult, Route } from "./route";

/** Largest JSON body (documents of more than a few hundred KiB go through the upload route). */
const JSON_BODY_LIMIT = "2mb";

/** What the API router needs. */
export interface ApiRouterOptions {
  readonly routes: readonly Route[];
  /** OpenAPI's components.schemas, which the route schemas refer to. */
  readonly components: Record<string, JsonSchema>;
  readonly auth: GatewayAuth;
  readonly clients: (agency: SealAgency) => AgencyClients;
  readonly rateLimitPerMinute: number;
  /** Counts the rate limit for all replicas together (in-process when absent). */
  readonly rateLimitStore?: RateLimitStore;
  readonly logger?: Logger;
}

interface Validators {
  params?: ValidateFunction;
  query?: ValidateFunction;
  body?: ValidateFunction;
}

/** Express path of an OpenAPI path: /transfers/{transferId} → /transfers/:transferId. */
function expressPath(path: string): string {
  return path.replace(/\{(\w+)\}/g, ":$1");
}

/**
 * Mounts the routes with, in this order: authentication (401), the route's role and agency check
 * (403), per-user rate limiting (429), body parsing with limits (413/415), validation against the
 * same schemas the OpenAPI document shows (400), then the handler, which calls the caller's agency
 * service with the caller's own token.
 */
export function apiRouter(options: ApiRouterOptions): express.Router {
  const router = express.Router();
  const withComponents = (schema: JsonSchema) => ({ ...schema, components: { schemas: options.components } });
  const inputAjv = addFormats(new Ajv({ allErrors: true, strict: false, coerceTypes: "array", useDefaults: false }));
  const bodyAjv = addFormats(new Ajv({ allErrors: true, strict: false }));
  const limiter = rateLimit({
    windowMs: 60_000,
    limit: options.rateLimitPerMinute,
    standardHeaders: "draft-8",
    legacyHeaders: false,
    keyGenerator: (_req, res) => `user:${(res.locals.principal as Principal).user}`,
    ...(options.rateLimitStore ? { store: options.rateLimitStore, passOnStoreError: true, ...(options.logger ? { logger: rateLimitLogger(options.logger) } : {}) } : {}),
    handler: (_req, _res, next) => next(new ResourceExhaustedError(`more than ${options.rateLimitPerMinute} requests a minute; slow down`)),
  });

  for (const route of options.routes) {
    const validators: Validators = {
      params: route.params ? inputAjv.compile(withComponents({ type: "object", properties: route.params, required: Object.keys(route.params) })) : undefined,
      query: inputAjv.compile(withComponents({ type: "object", properties: route.query ?? {}, required: route.body && "upload" in route.body ? Object.keys(route.query ?? {}) : [], additionalProperties: false })),
      body: route.body && "json" in route.body ? bodyAjv.compile(withComponents(route.body.json)) : undefined,
    };
    const parse =
      route.body && "upload" in route.body
        ? express.raw({ type: () => true, limit: route.body.upload.maxBytes })
        : express.json({ limit: JSON_BODY_LIMIT, type: () => true });
    router[route.method](
      expressPath(route.path),
      (req: Request, res: Response, next: NextFunction) => {
        const principal = options.auth.principalOf(req);
        if (!principal) return next(new UnauthenticatedError("sign in (browser) or send a valid Keycloak access token (Authorization: Bearer …)"));
        if (!isAllowed(route.access, principal)) return next(new PermissionDeniedError(`${principal.user} (${principal.agency ?? "no agency"}: ${principal.roles.join(", ") || "no roles"}) may not ${route.summary.toLowerCase()}`));
        if (route.method === "post" && !req.headers.authorization && crossSite(req)) return next(new PermissionDeniedError("cross-site requests are refused"));
        res.locals.principal = principal;
        next();
      },
      limiter,
      (req: Request, res: Response, next: NextFunction) => {
        if (!route.body) return next();
        if ("json" in route.body && route.body.optional && !hasBody(req)) {
          req.body = {};
          return next();
        }
        if ("json" in route.body && !req.is("application/json")) return next(Object.assign(new Error("send the body as application/json"), { status: 415, expose: true }));
        parse(req, res, next);
      },
      (req: Request, res: Response, next: NextFunction) => {
        const principal = res.locals.principal as Principal;
        const query: Record<string, unknown> = { ...(req.query as Record<string, unknown>) };
        const violations = [...check(validators.params, req.params, "path"), ...check(validators.query, query, "query"), ...check(validators.body, req.body ?? {}, "body")];
        if (violations.length > 0) return next(new InvalidArgumentError("the request does not match the API description (/openapi.json)", violations));
        const upload = route.body && "upload" in route.body ? { bytes: req.body as Buffer, mediaType: req.get("content-type") || "application/octet-stream" } : undefined;
        if (upload && (!Buffer.isBuffer(upload.bytes) || upload.bytes.length === 0)) return next(new InvalidArgumentError("the document is empty", [{ field: "body", description: "must hold the document's bytes" }]));
        const traceId = req.get(TRACE_ID_HEADER) ?? randomUUID();
        res.set(TRACE_ID_HEADER, traceId);
        const agency = principal.agency as SealAgency;
        route
          .handle(
            { params: req.params as Record<string, string>, query, body: req.body, upload },
            { principal, agency, services: options.clients(agency), clientsOf: options.clients, call: { metadata: bearerMetadata(principal.accessToken), traceId } },
            res,
          )
          .then((result) => {
            if (route.response === "events") return;
            if (route.response === "binary") return sendBinary(res, result as BinaryResult);
            res.status(route.response.status).json(result);
          })
          .catch(next);
      },
    );
  }
  // A known path asked with a method it does not have: 405 with the methods it has (Allow).
  const allowed = new Map<string, Set<string>>();
  for (const route of options.routes) allowed.set(route.path, (allowed.get(route.path) ?? new Set<string>()).add(route.method.toUpperCase()));
  for (const [path, methods] of allowed) {
    const allow = [...methods, ...(methods.has("GET") ? ["HEAD"] : [])].join(", ");
    router.all(expressPath(path), (req: Request, res: Response) => {
      res.set("allow", allow);
      sendProblem(res, 405, "METHOD_NOT_ALLOWED", `${req.method} is not allowed on ${path}; allowed: ${allow}`, req.originalUrl);
    });
  }
  return router;
}


function check(validate: ValidateFunction | undefined, data: unknown, where: string): FieldViolation[] {
  if (!validate || validate(data)) return [];
  return (validate.errors ?? []).map((error: ErrorObject) => ({
    field: `${where}${error.instancePath.replace(/\//g, ".")}${error.keyword === "required" ? `.${(error.params as { missingProperty: string }).missingProperty}` : ""}${error.keyword === "additionalProperties" ? `.${(error.params as { additionalProperty: string }).additionalProperty}` : ""}`,
    description: error.keyword === "additionalProperties" ? "is not a known field" : (error.message ?? "is invalid"),
  }));
}

function sendBinary(res: Response, result: BinaryResult): void {
  res
    .status(200)
    .type(result.mediaType)
    .set("content-disposition", `attachment; filename*=UTF-8''${encodeURIComponent(result.filename)}`)
    .set("x-content-type-options", "nosniff")
    .set("content-security-policy", "sandbox")
    .send(result.binary);
}

/** Whether a request carries a body (a length above 0, or chunked). */
function hasBody(req: Request): boolean {
  return req.headers["transfer-encoding"] !== undefined || Number(req.headers["content-length"] ?? 0) > 0;
}
