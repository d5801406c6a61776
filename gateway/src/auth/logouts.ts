import { createHash } from "node:crypto";
import { Kvm, type KV } from "@nats-io/kv";
import type { NatsConnection } from "@nats-io/transport-node";
import { audiencesOf, TokenVerifier, UnauthenticatedError, type Logger } from "@casebridge/kit";

/** JetStream key-value bucket of the Keycloak sessions (and users) logged out over the back channel, shared by every replica. */
export const LOGOUT_BUCKET = "cb_gateway_logouts";

/** The event a back-channel logout token must carry (OpenID Connect Back-Channel Logout 1.0, 2.4). */
export const BACKCHANNEL_LOGOUT_EVENT = "http://schemas.openid.net/event/backchannel-logout";

/** How old (or how far in the future) a logout token's `iat` may be. */
const LOGOUT_TOKEN_MAX_AGE_S = 120;
/** Added to the longest token lifetime: clock skew between Keycloak, the replicas and NATS. */
const MARGIN_S = 60;

/** What a verified logout token names: a Keycloak session, or all sessions of a user before `at`. */
export interface Logout {
  readonly sid?: string;
  readonly sub?: string;
  /** When it was logged out (ms); tokens of `sub` issued until then are refused. */
  readonly at: number;
}

/** The claims of a token the gateway compares with the logouts. */
export interface SessionClaims {
  sid?: string;
  sub?: string;
  iat?: number;
}

/** The claims of a back-channel logout token. */
export interface LogoutTokenClaims {
  iss?: string;
  aud?: string | string[];
  iat?: number;
  exp?: number;
  sub?: string;
  sid?: string;
  nonce?: unknown;
  events?: Record<string, unknown>;
}

/**
 * Back-channel logouts: verifies Keycloak's logout tokens and remembers the logged-out Keycloak
 * sessions (`sid`, or `sub` when the token names no session) in a key-value bucket that every replica
 * watches, for as long as a token of that session can live. `isLoggedOut` answers from memory.
 */
export class Logouts {
  private readonly sids = new Map<string, number>();
  private readonly subs = new Map<string, { at: number; until: number }>();
  private stopWatch: (() => void) | undefined;

  private constructor(
    private readonly kv: KV,
    private readonly verifier: TokenVerifier,
    private readonly clientId: string,
    private readonly rememberMs: number,
    private readonly logger: Logger,
  ) {}

  /** Opens (or creates) the bucket and starts following it; `maxTokenLifetimeS` is the longest lifetime of a token of the realm. */
  static async open(nc: NatsConnection, options: { issuer: string; clientId: string; maxTokenLifetimeS: number; logger: Logger }): Promise<Logouts> {
    const rememberMs = (options.maxTokenLifetimeS + MARGIN_S) * 1000;
    const kv = await new Kvm(nc).create(LOGOUT_BUCKET, { ttl: rememberMs, history: 1 });
    const logouts = new Logouts(kv, new TokenVerifier(options.issuer), options.clientId, rememberMs, options.logger);
    await logouts.follow();
    return logouts;
  }

  /**
   * The logout a back-channel logout token asks for, once it is verified: signed by the realm, for
   * this client, a logout event, no nonce, a session or a subject, issued moments ago. Throws
   * UnauthenticatedError saying why not.
   */
  async verify(logoutToken: string): Promise<Logout> {
    return logoutOf(await this.verifier.signedClaims<LogoutTokenClaims>(logoutToken, "logout token"), this.clientId, Date.now());
  }

  /** Remembers a logout here at once and, through the bucket, on every replica. */
  async record(logout: Logout): Promise<void> {
    this.remember(logout);
    // The session when the token names one (the user's other sessions go on); the user otherwise.
    const key = logout.sid ? `sid.${hashed(logout.sid)}` : `sub.${hashed(logout.sub!)}`;
    await this.kv.put(key, JSON.stringify(logout));
  }

  /** Whether a token with these claims belongs to a session (or user) logged out over the back channel. */
  isLoggedOut(claims: SessionClaims): boolean {
    const now = Date.now();
    if (claims.sid) {
      const until = this.sids.get(hashed(claims.sid));
      if (until !== undefined && until > now) return true;
    }
    if (claims.sub) {
      const user = this.subs.get(hashed(claims.sub));
      if (user && user.until > now && (claims.iat ?? 0) * 1000 <= user.at) return true;
    }
    return false;
  }

  /** Stops following the bucket. */
  close(): void {
    this.stopWatch?.();
  }

  private remember(logout: Logout): void {
    const until = logout.at + this.rememberMs;
    if (logout.sid) this.sids.set(hashed(logout.sid), until);
    else if (logout.sub) this.subs.set(hashed(logout.sub), { at: logout.at, until });
    if (this.sids.size + this.subs.size > 10_000) this.forgetExpired();
  }

  private forgetExpired(): void {
    const now = Date.now();
    for (const [key, until] of this.sids) if (until <= now) this.sids.delete(key);
    for (const [key, user] of this.subs) if (user.until <= now) this.subs.delete(key);
  }

  /** Follows the bucket (its current values, then every change), so every replica knows every logout within moments. */
  private async follow(): Promise<void> {
    const watch = await this.kv.watch();
    this.stopWatch = () => watch.stop();
    void (async () => {
      for await (const entry of watch) {
        if (entry.operation !== "PUT") continue;
        try {
          this.remember(JSON.parse(entry.string()) as Logout);
        } catch (error) {
          this.logger.warn({ err: error, key: entry.key }, "ignoring an unreadable back-channel logout record");
        }
      }
    })();
  }
}

/** The logout that the claims of a realm-signed logout token ask for (the rules of OpenID Connect Back-Channel Logout 1.0, 2.6); throws UnauthenticatedError saying why not. */
export function logoutOf(claims: LogoutTokenClaims, clientId: string, now: number): Logout {
  const nowS = now / 1000;
  if (!audiencesOf(claims).includes(clientId)) throw new UnauthenticatedError(`the logout token is not for ${clientId}`);
  if (typeof claims.events !== "object" || claims.events === null || typeof claims.events[BACKCHANNEL_LOGOUT_EVENT] !== "object") throw new UnauthenticatedError("the token carries no back-channel logout event");
  if (claims.nonce !== undefined) throw new UnauthenticatedError("a logout token has no nonce");
  if (typeof claims.iat !== "number" || Math.abs(nowS - claims.iat) > LOGOUT_TOKEN_MAX_AGE_S) throw new UnauthenticatedError("the logout token is not recent");
  if (typeof claims.exp === "number" && claims.exp + 30 < nowS) throw new UnauthenticatedError("the logout token has expired");
  const sid = typeof claims.sid === "string" && claims.sid ? claims.sid : undefined;
  const sub = typeof claims.sub === "string" && claims.sub ? claims.sub : undefined;
  if (!sid && !sub) throw new UnauthenticatedError("the logout token names neither a session (sid) nor a user (sub)");
  return { sid, sub, at: now };
}

function hashed(value: string): string {
  return createHash("sha256").update(value).digest("base64url");
}
