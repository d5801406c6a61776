import { createHash, createHmac, randomBytes, timingSafeEqual } from "node:crypto";
import express, { type Request, type RequestHandler, type Response } from "express";
import { rateLimit, type Store as RateLimitStore } from "express-rate-limit";
import session from "express-session";
import Keycloak from "keycloak-connect";
import { audiencesOf, type Logger } from "@casebridge/kit";
import { sendProblem } from "../problem";
import { rateLimitLogger } from "../rate-limit-store";
import { crossSite, principalOf, type AccessTokenClaims, type Principal } from "./access";
import type { Logouts } from "./logouts";
import type { NatsSessionStore } from "./nats-session-store";

/**
 * What the gateway needs from its identity provider. keycloak-connect (in maintenance mode upstream)
 * lives behind this interface and in this file only, so that it can be swapped for another OIDC
 * library without touching a route.
 */
export interface GatewayAuth {
  /** Mounted before every route: session cookie, /logout (POST only, same-site only), and the grant of the request. */
  readonly middleware: RequestHandler[];
  /** GET /login: sends the browser to Keycloak's login page (authorization code flow with state, nonce and PKCE); stores no session. */
  readonly login: RequestHandler[];
  /** GET /login/callback: checks the state against this browser's login, redeems the code with its PKCE verifier, checks the ID token's nonce, then opens the session and goes home. */
  readonly callback: RequestHandler[];
  /** POST /backchannel-logout: Keycloak's logout token ends the gateway sessions of that Keycloak session and refuses its tokens from then on. */
  readonly backchannelLogout: RequestHandler[];
  /** The verified user of a request (bearer token or browser session), or undefined. */
  principalOf(req: Request): Principal | undefined;
  /** Whether a Keycloak session (a principal's `session`) has ended over the back channel since its token was issued. */
  signedOut(session: Principal["session"]): boolean;
}

/** Settings of the Keycloak adapter. */
export interface KeycloakAuthOptions {
  /** Realm URL, e.g. http://127.0.0.1:8180/realms/casebridge. */
  readonly issuer: string;
  readonly clientId: string;
  readonly clientSecret: string;
  readonly sessionSecret: string;
  readonly secureCookies: boolean;
  readonly store: NatsSessionStore;
  /** The back-channel logouts of every replica. */
  readonly logouts: Logouts;
  /** Limits shared by every replica (express-rate-limit stores), one per limit. */
  readonly rateLimitStore?: (prefix: string) => RateLimitStore;
  readonly logger: Logger;
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

/** The grant keycloak-connect makes of a token answer (its tokens' signatures checked). */
interface KeycloakGrant {
  id_token?: { token: string; content: { nonce?: unknown } };
}

/** The session cookie's name. */
const SESSION_COOKIE = "casebridge.sid";

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
    name: SESSION_COOKIE,
    secret: options.sessionSecret,
    store: options.store,
    resave: false,
    saveUninitialized: false,
    rolling: true,
    cookie: { httpOnly: true, sameSite: "lax", secure: options.secureCookies, maxAge: options.sessionIdleMs },
  });
  const flow = new LoginFlow(options, {
    createGrant: (json) => keycloak.grantManager.createGrant(json) as Promise<KeycloakGrant>,
    storeGrant: (grant, req, res) => keycloak.storeGrant(grant as never, req, res),
  });
  return {
    // keycloak-connect's own /logout (any method, even cross-site GET) is never reached: /logout is answered before it.
    middleware: [refuseAdapterCallback, sessionMiddleware, logout(options), ...keycloak.middleware({ logout: "/logout", admin: "/" })],
    login: [
      rateLimit({
        windowMs: 60_000,
        limit: options.loginsPerMinute,
        standardHeaders: "draft-8",
        legacyHeaders: false,
        ...(options.rateLimitStore ? { store: options.rateLimitStore("login."), passOnStoreError: true, logger: rateLimitLogger(options.logger) } : {}),
        handler: (_req, res) => problem(res, 429, "RESOURCE_EXHAUSTED", `more than ${options.loginsPerMinute} logins a minute from this address; wait a minute`),
      }),
      (req, res) => flow.start(req, res),
    ],
    callback: [(req, res, next) => void flow.finish(req, res).catch(next)],
    backchannelLogout: [express.urlencoded({ extended: false, limit: "16kb", type: () => true }), (req, res, next) => void backchannelLogout(options, req, res).catch(next)],
    principalOf(req) {
      const token = (req as KeycloakRequest).kauth?.grant?.access_token;
      if (!token || !audiencesOf(token.content).includes(options.audience)) return undefined;
      // A token of a Keycloak session that ended over the back channel (it may still be unexpired).
      if (options.logouts.isLoggedOut(token.content)) return undefined;
      return principalOf(token.content, token.token);
    },
    signedOut: (session) => options.logouts.isLoggedOut(session),
  };
}

/**
 * POST /logout ends the gateway session and sends the browser to Keycloak's end-session endpoint
 * (with the ID token as hint, and back to this site afterwards). Other methods get 405: a link, an
 * image or a prefetch must never sign anyone out, and the UI's sign-out button posts a form. A POST
 * from another site is refused, as the API refuses unsafe cross-site requests.
 */
function logout(options: KeycloakAuthOptions): RequestHandler {
  return (req, res, next) => {
    if (req.path !== "/logout") return next();
    if (req.method !== "POST") {
      res.set("allow", "POST");
      return problem(res, 405, "METHOD_NOT_ALLOWED", "sign out with the sign-out button (POST /logout); a link cannot sign you out");
    }
    if (crossSite(req)) return problem(res, 403, "PERMISSION_DENIED", "sign out from the CaseBridge page itself; a request from another site cannot sign you out");
    const idToken = idTokenOf(req.session as unknown as Record<string, unknown>);
    req.session.destroy((error) => {
      if (error) return next(error);
      res.clearCookie(SESSION_COOKIE, { httpOnly: true, sameSite: "lax", secure: options.secureCookies });
      const url = new URL(`${options.issuer}/protocol/openid-connect/logout`);
      url.search = new URLSearchParams({ client_id: options.clientId, post_logout_redirect_uri: `${req.protocol}://${req.get("host") ?? "localhost"}/`, ...(idToken ? { id_token_hint: idToken } : {}) }).toString();
      res.redirect(303, url.toString());
    });
  };
}

/** The raw ID token keycloak-connect keeps in a session. */
function idTokenOf(sessionData: Record<string, unknown>): string | undefined {
  const raw = sessionData["keycloak-token"];
  if (typeof raw !== "string") return undefined;
  try {
    const token = (JSON.parse(raw) as { id_token?: unknown }).id_token;
    return typeof token === "string" ? token : undefined;
  } catch {
    return undefined;
  }
}

/**
 * OpenID Connect back-channel logout: Keycloak posts a signed logout token when a user's Keycloak
 * session ends (sign-out elsewhere, an administrator, expiry). The gateway records the logout for
 * every replica (so the session's tokens, even unexpired bearer tokens, are refused from then on),
 * then ends the gateway sessions of that Keycloak session. Answers 200 once done, 400 otherwise
 * (the spec's status for a token that does not verify; Keycloak logs it).
 */
async function backchannelLogout(options: KeycloakAuthOptions, req: Request, res: Response): Promise<void> {
  const token = typeof (req.body as Record<string, unknown> | undefined)?.logout_token === "string" ? ((req.body as Record<string, string>).logout_token as string) : "";
  res.set("cache-control", "no-store");
  if (!token) return problem(res, 400, "INVALID_ARGUMENT", "send logout_token (application/x-www-form-urlencoded)");
  let done;
  try {
    done = await options.logouts.verify(token);
  } catch (error) {
    options.logger.warn({ err: error }, "refused a back-channel logout token");
    return problem(res, 400, "INVALID_ARGUMENT", (error as Error).message);
  }
  await options.logouts.record(done);
  const ended = done.sid ? await options.store.destroyByKeycloakSession(done.sid) : 0;
  options.logger.info({ sessions: ended, bySubject: !done.sid }, "back-channel logout");
  res.status(200).end();
  // An administrator's "sign out" of a user sends one logout token, naming one of the user's sessions,
  // for all of them (keycloak#27359), and ends the others only after this call: the user's other
  // sessions are checked with Keycloak a moment later, and again later.
  if (done.sub) void recheckSessionsOf(options, done.sub, done.sid);
}

/** When the user's other sessions are checked after a back-channel logout (ms after it). */
const RECHECK_AFTER_MS = [1_000, 5_000, 15_000];

async function recheckSessionsOf(options: KeycloakAuthOptions, sub: string, except: string | undefined): Promise<void> {
  for (const delay of RECHECK_AFTER_MS) {
    await new Promise((resolve) => setTimeout(resolve, delay).unref());
    try {
      const { ended, open } = await endSessionsKeycloakEnded(options, sub, except);
      if (ended > 0) options.logger.info({ sessions: ended }, "ended the user's other sessions that Keycloak ended");
      if (open === 0) return;
    } catch (error) {
      options.logger.warn({ err: error }, "could not check the user's other sessions after a back-channel logout");
    }
  }
}

/**
 * Ends the gateway sessions of user `sub` (other than those of Keycloak session `except`) whose
 * Keycloak session is over: Keycloak's token introspection says their refresh token is no longer
 * active. A session Keycloak cannot be asked about stays (it ends at its next refresh). Resolves to how many ended and how many are still open.
 */
async function endSessionsKeycloakEnded(options: KeycloakAuthOptions, sub: string, except: string | undefined): Promise<{ ended: number; open: number }> {
  let ended = 0;
  let open = 0;
  for (const { sessionId, tokens } of await options.store.sessionsOfUser(sub, except)) {
    if (!tokens.refresh_token) continue;
    try {
      const answer = await fetch(`${options.issuer}/protocol/openid-connect/token/introspect`, {
        method: "POST",
        headers: { "content-type": "application/x-www-form-urlencoded", authorization: clientAuthorization(options) },
        body: new URLSearchParams({ token: tokens.refresh_token, token_type_hint: "refresh_token" }),
        signal: AbortSignal.timeout(5_000),
      });
      if (!answer.ok) throw new Error(`introspection answered ${answer.status}`);
      if (((await answer.json()) as { active?: unknown }).active === true) {
        open++;
        continue;
      }
      await new Promise<void>((resolve, reject) => options.store.destroy(sessionId, (error) => (error ? reject(error instanceof Error ? error : new Error("the session store failed")) : resolve())));
      ended++;
    } catch (error) {
      options.logger.warn({ err: error }, "could not check a session with Keycloak after a logout; it ends at its next refresh");
    }
  }
  return { ended, open };
}

/** HTTP Basic authentication of the gateway's client at Keycloak. */
function clientAuthorization(options: KeycloakAuthOptions): string {
  return `Basic ${Buffer.from(`${encodeURIComponent(options.clientId)}:${encodeURIComponent(options.clientSecret)}`).toString("base64")}`;
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
    private readonly grants: { createGrant(tokenJson: string): Promise<KeycloakGrant>; storeGrant(grant: KeycloakGrant, req: Request, res: Response): unknown },
  ) {
    this.tokenEndpoint = `${options.issuer}/protocol/openid-connect/token`;
  }

  /** Redirects to Keycloak's login page with a fresh state, nonce and PKCE challenge. */
  start(req: Request, res: Response): void {
    const state = randomBytes(18).toString("base64url");
    const nonce = randomBytes(18).toString("base64url");
    const verifier = randomBytes(32).toString("base64url");
    const challenge = createHash("sha256").update(verifier).digest("base64url");
    res.cookie(LOGIN_COOKIE, signLogin(this.options.sessionSecret, { state, nonce, verifier, exp: Date.now() + LOGIN_TTL_MS }), { httpOnly: true, sameSite: "lax", secure: this.options.secureCookies, path: "/login", maxAge: LOGIN_TTL_MS });
    const url = new URL(`${this.options.issuer}/protocol/openid-connect/auth`);
    url.search = new URLSearchParams({ client_id: this.options.clientId, redirect_uri: callbackUrl(req), response_type: "code", scope: "openid", state, nonce, code_challenge: challenge, code_challenge_method: "S256" }).toString();
    res.redirect(url.toString());
  }

  /** Checks the state, redeems the code with the verifier, checks the ID token's nonce, opens the session (a new id) and goes home. */
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
      headers: { "content-type": "application/x-www-form-urlencoded", authorization: clientAuthorization(this.options) },
      body: new URLSearchParams({ grant_type: "authorization_code", code, redirect_uri: callbackUrl(req), code_verifier: started.verifier }),
      signal: AbortSignal.timeout(10_000),
    });
    if (!answer.ok) return problem(res, 401, "UNAUTHENTICATED", "Keycloak refused the login code (used, expired, or from another login); sign in again from /login");
    // The grant checks the tokens' signatures; the ID token must carry this login's nonce (a token issued to another login is not replayed into this one).
    const grant = await this.grants.createGrant(await answer.text()).catch(() => undefined);
    const nonce = grant?.id_token?.content.nonce;
    if (!grant || typeof nonce !== "string" || !equal(nonce, started.nonce)) {
      return problem(res, 401, "UNAUTHENTICATED", "the ID token was not issued for this login (nonce mismatch or no ID token); sign in again from /login");
    }
    // A new session id at login (no fixation), then the grant stored in it.
    await new Promise<void>((resolve, reject) => req.session.regenerate((error) => (error ? reject(error as Error) : resolve())));
    await this.grants.storeGrant(grant, req, res);
    res.redirect("/");
  }

  private verify(cookie: string | undefined): LoginCookie | undefined {
    const [body, mac] = (cookie ?? "").split(".");
    if (!body || !mac || !equal(mac, createHmac("sha256", this.options.sessionSecret).update(body).digest("base64url"))) return undefined;
    try {
      const payload = JSON.parse(Buffer.from(body, "base64url").toString("utf8")) as Partial<LoginCookie>;
      if (!payload.state || !payload.nonce || !payload.verifier || !payload.exp || payload.exp < Date.now()) return undefined;
      return { state: payload.state, nonce: payload.nonce, verifier: payload.verifier, exp: payload.exp };
    } catch {
      return undefined;
    }
  }
}

/** What the login cookie holds. */
export interface LoginCookie {
  state: string;
  nonce: string;
  verifier: string;
  /** Expiry, ms since the epoch. */
  exp: number;
}

/** The signed login cookie's value (HMAC-SHA256 with the session secret). */
export function signLogin(secret: string, payload: LoginCookie): string {
  const body = Buffer.from(JSON.stringify(payload)).toString("base64url");
  return `${body}.${createHmac("sha256", secret).update(body).digest("base64url")}`;
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

/**
 * keycloak-connect's own login callback (`?auth_callback=1&code=…` on any URL) checks no state and
 * would leave a socket to Keycloak open on every failed exchange: it is never used (logins come back
 * to /login/callback), so it is refused before the adapter sees it; so are its legacy admin endpoints
 * (`/k_logout`, `/k_push_not_before`): logouts come over the standard back channel only.
 */
const refuseAdapterCallback: RequestHandler = (req, res, next) => {
  if (req.path === "/k_logout" || req.path === "/k_push_not_before") return problem(res, 404, "NOT_FOUND", `no route for ${req.method} ${req.path}`);
  if (req.query.auth_callback === undefined) return next();
  problem(res, 401, "UNAUTHENTICATED", "not a login answer of this gateway; sign in from /login");
};
