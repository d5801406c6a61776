import { existsSync } from "node:fs";
import { join } from "node:path";
import express from "express";
import type { Store as RateLimitStore } from "express-rate-limit";
import type { Logger, SealAgency } from "@casebridge/kit";
import type { GatewayAuth } from "./auth/keycloak-auth";
import { apiRouter } from "./api/router";
import type { Route } from "./api/route";
import type { AgencyClients } from "./api/agency-clients";
import { problemHandler, sendProblem } from "./problem";

/** Where the built web UI is (gateway/dist/public, from both src/ and dist/). */
export const PUBLIC_DIR = join(__dirname, "..", "dist", "public");

/** What the Express app is made of. */
export interface AppParts {
  readonly routes: readonly Route[];
  readonly openApi: Record<string, unknown>;
  readonly components: Record<string, Record<string, unknown>>;
  readonly auth: GatewayAuth;
  readonly clients: (agency: SealAgency) => AgencyClients;
  readonly rateLimitPerMinute: number;
  /** Counts the API's rate limit for all replicas together. */
  readonly rateLimitStore?: RateLimitStore;
  /** Where the sign-out form's answer redirects (Keycloak's end-session endpoint): allowed by the CSP's form-action. */
  readonly issuerOrigin: string;
  readonly logger: Logger;
  /** Which proxies' X-Forwarded-For the gateway believes (Express "trust proxy"): the client address of the per-address limits. */
  readonly trustProxy?: string;
}

/** Security headers of every answer; the sign-out form posts to /logout, which redirects to Keycloak (`issuerOrigin`), so form-action names it. */
function securityHeaders(issuerOrigin: string): Record<string, string> {
  return {
    "content-security-policy": `default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self' ${issuerOrigin}`,
    "x-content-type-options": "nosniff",
    "referrer-policy": "same-origin",
  };
}

/** The gateway's Express app: liveness, the OpenAPI document, the web UI, login/logout, and the REST API. */
export function createApp(parts: AppParts): express.Express {
  const app = express();
  app.disable("x-powered-by");
  app.set("trust proxy", parts.trustProxy ?? "loopback");
  const headers = securityHeaders(parts.issuerOrigin);
  app.use((_req, res, next) => {
    res.set(headers);
    next();
  });
  app.get("/healthz", (_req, res) => {
    res.json({ status: "ok" });
  });
  app.get("/openapi.json", (_req, res) => {
    res.json(parts.openApi);
  });
  app.use(express.static(PUBLIC_DIR, { index: false, maxAge: "1h" }));
  // "//host/…" would leave the site on any redirect built from the path (keycloak-connect's after login): refused.
  app.use((req, res, next) => (req.url.startsWith("//") ? sendProblem(res, 400, "INVALID_ARGUMENT", "a path may not start with //", "/") : next()));
  // Keycloak's back-channel logout needs no session (and sends no cookie).
  app.post("/backchannel-logout", ...parts.auth.backchannelLogout);
  app.all("/backchannel-logout", (req, res) => {
    res.set("allow", "POST");
    sendProblem(res, 405, "METHOD_NOT_ALLOWED", "Keycloak posts logout tokens here (POST, application/x-www-form-urlencoded)", req.originalUrl);
  });
  app.use(parts.auth.middleware);
  app.get("/login", ...parts.auth.login);
  app.get("/login/callback", ...parts.auth.callback);
  app.use(apiRouter({ routes: parts.routes, components: parts.components, auth: parts.auth, clients: parts.clients, rateLimitPerMinute: parts.rateLimitPerMinute, rateLimitStore: parts.rateLimitStore, logger: parts.logger }));
  app.use("/api", (req, res) => sendProblem(res, 404, "NOT_FOUND", `no route for ${req.method} ${req.originalUrl}`, req.originalUrl));
  // The single-page UI answers every other GET with its shell; it asks /api/v1/me who is signed in.
  app.get(/.*/, (req, res, next) => {
    const shell = join(PUBLIC_DIR, "index.html");
    if (!existsSync(shell)) return sendProblem(res, 404, "NOT_FOUND", "the web UI is not built (npm run build)", req.originalUrl);
    res.set("cache-control", "no-cache").sendFile(shell, (err) => err && next(err));
  });
  app.use((req, res) => sendProblem(res, 404, "NOT_FOUND", `no route for ${req.method} ${req.originalUrl}`, req.originalUrl));
  app.use(problemHandler(parts.logger));
  return app;
}
