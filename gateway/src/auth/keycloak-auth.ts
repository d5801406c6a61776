import type { Request, RequestHandler } from "express";
import session from "express-session";
import Keycloak from "keycloak-connect";
import { audiencesOf } from "@casebridge/kit";
import { principalOf, type AccessTokenClaims, type Principal } from "./access";

/**
 * What the gateway needs from its identity provider. keycloak-connect (in maintenance mode upstream)
 * lives behind this interface and in this file only, so that it can be swapped for another OIDC
 * library without touching a route.
 */
export interface GatewayAuth {
  /** Mounted before every route: session cookie, the login callback, /logout, and the grant of the request. */
  readonly middleware: RequestHandler[];
  /** GET /login: sends the browser to Keycloak's login page (authorization code flow), then home. */
  readonly login: RequestHandler[];
  /** The verified user of a request (bearer token or browser session), or undefined. */
  principalOf(req: Request): Principal | undefined;
}

/** Settings of the Keycloak adapter. */
export interface KeycloakAuthOptions {
  /** Realm URL, e.g. http://127.0.0.1:8180/realms/casebridge. */
  readonly issuer: string;
  readonly clientId: string;
  readonly clientSecret: string;
  readonly sessionSecret: string;
  readonly secureCookies: boolean;
  readonly store: session.Store;
  /** Idle timeout of a browser session. */
  readonly sessionIdleMs: number;
  /** The audience every access token must name (tokens of the realm's other clients are refused). */
  readonly audience: string;
}

interface KeycloakRequest extends Request {
  kauth?: { grant?: { access_token?: { token: string; content: AccessTokenClaims } } };
}

/** The GatewayAuth of keycloak-connect: browser sessions in `store`, bearer tokens checked against the realm's keys. */
export function keycloakAuth(options: KeycloakAuthOptions): GatewayAuth {
  const match = /^(.*)\/realms\/([^/]+)\/?$/.exec(options.issuer);
  if (!match) throw new Error(`AUTH_ISSUER must be a Keycloak realm URL (…/realms/<realm>), got ${options.issuer}`);
  const keycloak = new Keycloak(
    { store: options.store },
    { realm: match[2]!, "auth-server-url": match[1]!, resource: options.clientId, credentials: { secret: options.clientSecret }, "ssl-required": "external", "confidential-port": 0 } as never,
  );
  // The API answers for itself (401/403 problem bodies); keycloak-connect's plain-text 403 is only reached on a failed login callback.
  keycloak.accessDenied = (_req, res) => {
    res.status(401).type("application/problem+json").json({ type: "about:blank", title: "UNAUTHENTICATED", status: 401, detail: "the login did not complete; try again from /login" });
  };
  const sessionMiddleware = session({
    name: "casebridge.sid",
    secret: options.sessionSecret,
    store: options.store,
    resave: false,
    saveUninitialized: false,
    rolling: true,
    cookie: { httpOnly: true, sameSite: "lax", secure: options.secureCookies, maxAge: options.sessionIdleMs },
  });
  return {
    middleware: [sessionMiddleware, ...keycloak.middleware({ logout: "/logout", admin: "/" })],
    login: [keycloak.protect(), (_req, res) => res.redirect("/")],
    principalOf(req) {
      const token = (req as KeycloakRequest).kauth?.grant?.access_token;
      if (!token || !audiencesOf(token.content).includes(options.audience)) return undefined;
      return principalOf(token.content, token.token);
    },
  };
}
