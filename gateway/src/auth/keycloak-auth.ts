import { createHash, createHmac, randomBytes, timingSafeEqual } from "node:crypto";
import type { Request, RequestHandler, Response } from "express";
import { rateLimit } from "express-rate-limit";
import session from "express-session";
import Keycloak from "keycloak-connect";
import { audiencesOf } from "@casebridge/kit";
import { sendProblem } from "../problem";
import { crossSite, principalOf, type AccessTokenClaims, type Principal } from "./access";

/**
 * What the gateway needs from its identity provider. keycloak-connect (in maintenance mode upstream)
 * lives behind this interface and in this file only, so that it can be swapped for another OIDC
 * library without touching a route.
 */
export interface GatewayAuth {
  /** Mounted before every route: session cookie, the login callback, /logout, and the grant of the request. */
  readonly middleware: RequestHandler[];
  /** GET /login: sends the browser to Keycloak's login page (authorization code flow with state and PKCE); stores no session. */
  readonly login: RequestHandler[];
  /** GET /login/callback: checks the state against this browser's login, redeems the code with its PKCE verifier, then opens the session and goes home. */
  readonly callback: RequestHandler[];
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
  /** Logins one client address may start per minute. */
  readonly loginsPerMinute: number;
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
  keycloak.accessDenied = (req, res) => {
    sendProblem(res, 401, "UNAUTHENTICATED", "the login did not complete; try again from /login", req.originalUrl);
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
  const flow = new LoginFlow(options, (json, req, res) => keycloak.grantManager.createGrant(json).then((grant) => keycloak.storeGrant(grant, req, res)));
  return {
    // A cross-site GET cannot log the user out (it would end a session from any page on the web).
    middleware: [refuseCrossSiteLogout, refuseAdapterCallback, sessionMiddleware, ...keycloak.middleware({ logout: "/logout", admin: "/" })],
    login: [
      rateLimit({
        windowMs: 60_000,
        limit: options.loginsPerMinute,
        standardHeaders: "draft-8",
        legacyHeaders: false,
        handler: (_req, res) => problem(res, 429, "RESOURCE_EXHAUSTED", `more than ${options.loginsPerMinute} logins a minute from this address; wait a minute`),
      }),
      (req, res) => flow.start(req, res),
    ],
    callback: [(req, res, next) => void flow.finish(req, res).catch(next)],
    principalOf(req) {
      const token = (req as KeycloakRequest).kauth?.grant?.access_token;
      if (!token || !audiencesOf(token.content).includes(options.audience)) return undefined;
      return principalOf(token.content, token.token);
    },
  };
}

/** The cookie that ties a login to the browser that started it (state, PKCE verifier, expiry; HMAC-signed). */
const LOGIN_COOKIE = "casebridge.login";
const LOGIN_TTL_MS = 10 * 60_000;

/**
 * The authorization code flow done right (keycloak-connect sends `state` but never checks it, and
 * cannot do PKCE): /login keeps a random state and a PKCE verifier in a short-lived signed cookie
 * (no session is stored before the user returns); the callback refuses a state that is not this
 * browser's (login CSRF) and redeems the code with the verifier, so a code stolen or planted from
 * another login is useless. The realm requires PKCE (S256) of the gateway client.
 */
class LoginFlow {
  private readonly tokenEndpoint: string;

  constructor(
    private readonly options: KeycloakAuthOptions,
    private readonly store: (tokenJson: string, req: Request, res: Response) => Promise<unknown>,
  ) {
    this.tokenEndpoint = `${options.issuer}/protocol/openid-connect/token`;
  }

  /** Redirects to Keycloak's login page with a fresh state and PKCE challenge. */
  start(req: Request, res: Response): void {
    const state = randomBytes(18).toString("base64url");
    const verifier = randomBytes(32).toString("base64url");
    const challenge = createHash("sha256").update(verifier).digest("base64url");
    res.cookie(LOGIN_COOKIE, this.sign({ state, verifier, exp: Date.now() + LOGIN_TTL_MS }), { httpOnly: true, sameSite: "lax", secure: this.options.secureCookies, path: "/login", maxAge: LOGIN_TTL_MS });
    const url = new URL(`${this.options.issuer}/protocol/openid-connect/auth`);
    url.search = new URLSearchParams({ client_id: this.options.clientId, redirect_uri: callbackUrl(req), response_type: "code", scope: "openid", state, code_challenge: challenge, code_challenge_method: "S256" }).toString();
    res.redirect(url.toString());
  }

  /** Checks the state, redeems the code with the verifier, opens the session (a new id) and goes home. */
  async finish(req: Request, res: Response): Promise<void> {
    const started = this.verify(cookieOf(req, LOGIN_COOKIE));
    const state = typeof req.query.state === "string" ? req.query.state : "";
    res.clearCookie(LOGIN_COOKIE, { path: "/login" });
    if (!started || !state || !equal(started.state, state)) {
      return problem(res, 403, "PERMISSION_DENIED", "this login answer does not belong to a login started in this browser (state mismatch or expired); sign in again from /login");
    }
    if (typeof req.query.error === "string") return problem(res, 401, "UNAUTHENTICATED", `the login did not complete (${req.query.error}); try again from /login`);
    const code = typeof req.query.code === "string" ? req.query.code : "";
    const answer = await fetch(this.tokenEndpoint, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded", authorization: `Basic ${Buffer.from(`${encodeURIComponent(this.options.clientId)}:${encodeURIComponent(this.options.clientSecret)}`).toString("base64")}` },
      body: new URLSearchParams({ grant_type: "authorization_code", code, redirect_uri: callbackUrl(req), code_verifier: started.verifier }),
      signal: AbortSignal.timeout(10_000),
    });
    if (!answer.ok) return problem(res, 401, "UNAUTHENTICATED", "Keycloak refused the login code (used, expired, or from another login); sign in again from /login");
    const tokens = await answer.text();
    // A new session id at login (no fixation), then the grant stored in it.
    await new Promise<void>((resolve, reject) => req.session.regenerate((error) => (error ? reject(error as Error) : resolve())));
    await this.store(tokens, req, res);
    res.redirect("/");
  }

  private sign(payload: { state: string; verifier: string; exp: number }): string {
    const body = Buffer.from(JSON.stringify(payload)).toString("base64url");
    return `${body}.${createHmac("sha256", this.options.sessionSecret).update(body).digest("base64url")}`;
  }

  private verify(cookie: string | undefined): { state: string; verifier: string } | undefined {
    const [body, mac] = (cookie ?? "").split(".");
    if (!body || !mac || !equal(mac, createHmac("sha256", this.options.sessionSecret).update(body).digest("base64url"))) return undefined;
    try {
      const payload = JSON.parse(Buffer.from(body, "base64url").toString("utf8")) as { state?: string; verifier?: string; exp?: number };
      if (!payload.state || !payload.verifier || !payload.exp || payload.exp < Date.now()) return undefined;
      return { state: payload.state, verifier: payload.verifier };
    } catch {
      return undefined;
    }
  }
}

/** Where Keycloak sends the browser back (the realm lists the allowed ones, so a forged Host header gets nowhere). */
function callbackUrl(req: Request): string {
  return `${req.protocol}://${req.get("host") ?? "localhost"}/login/callback`;
}

function cookieOf(req: Request, name: string): string | undefined {
  for (const part of (req.headers.cookie ?? "").split(";")) {
    const at = part.indexOf("=");
    if (at > 0 && part.slice(0, at).trim() === name) return decodeURIComponent(part.slice(at + 1).trim());
  }
  return undefined;
}

function equal(a: string, b: string): boolean {
  const left = Buffer.from(a);
  const right = Buffer.from(b);
  return left.length === right.length && timingSafeEqual(left, right);
}

function problem(res: Response, status: number, title: string, detail: string): void {
  sendProblem(res, status, title, detail, res.req.originalUrl);
}

/** GET /logout from another site (a link or image on any page) is refused; the UI's own sign-out is same-origin. */
const refuseCrossSiteLogout: RequestHandler = (req, res, next) => {
  if (req.path !== "/logout") return next();
  if (crossSite(req)) {
    return problem(res, 403, "PERMISSION_DENIED", "sign out from the CaseBridge page itself; a request from another site cannot sign you out");
  }
  next();
};

/**
 * keycloak-connect's own login callback (`?auth_callback=1&code=…` on any URL) checks no state and
 * would leave a socket to Keycloak open on every failed exchange: it is never used (logins come back
 * to /login/callback), so it is refused before the adapter sees it.
 */
const refuseAdapterCallback: RequestHandler = (req, res, next) => {
  if (req.query.auth_callback === undefined) return next();
  problem(res, 401, "UNAUTHENTICATED", "not a login answer of this gateway; sign in from /login");
};
