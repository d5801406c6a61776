import { HTTP_PROBLEM_CODES } from "../problem";
import type { JsonSchema } from "./proto-schema";
import type { Route } from "./route";

const PROBLEM: JsonSchema = {
  type: "object",
  description: "RFC 9457 problem details",
  required: ["type", "title", "status", "code", "detail"],
  properties: {
    type: { type: "string" },
    title: { type: "string", description: "the same as code (kept for older clients)" },
    code: {
      type: "string",
      description: `stable error code to translate: the platform's (INVALID_ARGUMENT, NOT_FOUND, ALREADY_EXISTS, FAILED_PRECONDITION, PERMISSION_DENIED, UNAUTHENTICATED, RESOURCE_EXHAUSTED, ABORTED, UNAVAILABLE, DEADLINE_EXCEEDED, INTERNAL) or HTTP's own (${HTTP_PROBLEM_CODES.join(", ")})`,
    },
    status: { type: "integer" },
    detail: { type: "string" },
    instance: { type: "string" },
    violations: { type: "array", items: { type: "object", required: ["field", "description"], properties: { field: { type: "string" }, description: { type: "string" } } } },
  },
};

const ERRORS: Record<string, string> = {
  "400": "The request does not match this description; nothing was stored",
  "401": "No valid access token or session",
  "403": "The caller's roles or agency do not allow this",
  "404": "No such resource at the caller's agency",
  "405": "The path does not have this method (Allow lists those it has)",
  "409": "The resource is not in a state that allows this",
  "413": "The body is too large",
  "415": "Wrong Content-Type",
  "429": "Too many requests from this user",
  "431": "The request's header fields are too large",
  "503": "A service is unavailable; try again",
};

/** The OpenAPI 3.1 document of the REST API, made from the same route table and schemas that serve and validate requests. */
export function openApiDocument(routes: readonly Route[], components: Record<string, JsonSchema>, info: { version: string; issuer: string }): Record<string, unknown> {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const route of routes) {
    const parameters = [
      ...Object.entries(route.params ?? {}).map(([name, schema]) => ({ name, in: "path", required: true, schema })),
      ...Object.entries(route.query ?? {}).map(([name, schema]) => ({ name, in: "query", required: route.body !== undefined && "upload" in route.body, schema })),
    ];
    const requestBody = !route.body
      ? undefined
      : "json" in route.body
        ? { required: true, content: { "application/json": { schema: route.body.json } } }
        : { required: true, description: `The document's bytes, at most ${route.body.upload.maxBytes} bytes; Content-Type is its media type`, content: { "*/*": { schema: { type: "string", format: "binary" } } } };
    const success =
      route.response === "binary"
        ? { "200": { description: "The document's bytes", content: { "application/octet-stream": { schema: { type: "string", format: "binary" } } } } }
        : route.response === "events"
          ? { "200": { description: "text/event-stream of `change` events (ChangeNotice JSON)", content: { "text/event-stream": { schema: { type: "string" } } } } }
          : { [String(route.response.status)]: { description: "OK", content: { "application/json": { schema: route.response.json } } } };
    paths[route.path] ??= {};
    paths[route.path]![route.method] = {
      operationId: route.operationId,
      summary: route.summary,
      tags: [route.tag],
      description: route.access === "any-user" ? "Any signed-in user." : `Allowed: ${route.access.map((grant) => `${grant.agency} (${grant.roles.join(", ")})`).join("; ")}.`,
      ...(parameters.length > 0 ? { parameters } : {}),
      ...(requestBody ? { requestBody } : {}),
      responses: { ...success, ...Object.fromEntries(Object.entries(ERRORS).map(([status, description]) => [status, { description, content: { "application/problem+json": { schema: { $ref: "#/components/schemas/Problem" } } } }])) },
    };
  }
  return {
    openapi: "3.1.0",
    info: { title: "CaseBridge API", version: info.version, description: "Cross-agency case transfer: cases, transfers, documents with e-seal verification, timelines, deadlines, audit." },
    servers: [{ url: "/" }],
    security: [{ bearer: [] }, { session: [] }],
    paths,
    components: {
      schemas: { ...components, Problem: PROBLEM },
      securitySchemes: {
        bearer: { type: "http", scheme: "bearer", bearerFormat: "JWT", description: "A Keycloak access token of the casebridge realm" },
        session: { type: "apiKey", in: "cookie", name: "casebridge.sid", description: "Browser session after /login" },
        oidc: { type: "openIdConnect", openIdConnectUrl: `${info.issuer}/.well-known/openid-configuration` },
      },
    },
  };
}
