import { createPublicKey, verify as verifySignature, type JsonWebKey, type KeyObject } from "node:crypto";
import { common } from "@casebridge/proto";
import type { CallContext } from "./contract";
import { PermissionDeniedError, UnauthenticatedError } from "./errors";
import { agencyEnumOf, parseSealAgency } from "./seal/pki";

/** The audience of access tokens for the CaseBridge API: the gateway and every service refuse tokens without it. */
export const API_AUDIENCE = "casebridge-api";

/** Who is calling, from a verified Keycloak access token: user, realm roles, agency and unit. */
export interface Actor {
  readonly user: string;
  readonly roles: readonly string[];
  readonly agency: common.Agency;
  /** The user's unit (`unit` claim, e.g. "320582-PSB-YANGSHE"; units/units.ts); "" when the token names none. Never taken from a request. */
  readonly unit: string;
  /** The user belongs to the platform operator (agency claim "platform"), not to an agency. */
  readonly platform?: boolean;
}

/** Metadata that presents a user's access token to a service (gRPC metadata or NATS header). */
export function bearerMetadata(accessToken: string): Record<string, string> {
  return { authorization: `Bearer ${accessToken}` };
}

/** The claims of a Keycloak access token that the platform reads. */
interface AccessClaims {
  iss?: string;
  exp?: number;
  nbf?: number;
  typ?: string;
  sub?: string;
  preferred_username?: string;
  agency?: string;
  unit?: string;
  aud?: string | string[];
  realm_access?: { roles?: string[] };
}

const ALGORITHMS: Readonly<Record<string, { digest: string; dsaEncoding?: "ieee-p1363" }>> = {
  RS256: { digest: "sha256" },
  ES256: { digest: "sha256", dsaEncoding: "ieee-p1363" },
};

/** How long a refresh of the signing keys is not repeated for an unknown key id. */
const JWKS_REFRESH_MS = 10_000;
/** Clock difference tolerated on exp and nbf. */
const CLOCK_SKEW_S = 30;

/**
 * Verifies the access tokens callers forward, against the keys Keycloak publishes (JWKS): signature
 * (RS256 or ES256), issuer, expiry. A service never trusts a caller's claims without this.
 */
export class TokenVerifier {
  private keys = new Map<string, { key: KeyObject; alg: string }>();
  private lastFetch = 0;
  private fetching: Promise<void> | undefined;

  constructor(
    /** Realm URL, e.g. http://127.0.0.1:8180/realms/casebridge: the tokens' `iss`. */
    readonly issuer: string,
    private readonly fetchKeys: () => Promise<{ keys: Array<JsonWebKey & { kid?: string; alg?: string; use?: string }> }> = async () => {
      const response = await fetch(`${issuer}/protocol/openid-connect/certs`, { signal: AbortSignal.timeout(5000) });
      if (!response.ok) throw new Error(`JWKS answered ${response.status}`);
      return (await response.json()) as { keys: Array<JsonWebKey & { kid?: string; alg?: string; use?: string }> };
    },
    private readonly now: () => number = Date.now,
    /** The audience a token must name; tokens of the realm's other clients are refused. */
    private readonly audience: string = API_AUDIENCE,
  ) {}

  /** The actor of a verified access token; throws UnauthenticatedError saying why not. */
  async verify(token: string): Promise<Actor> {
    const claims = await this.signedClaims<AccessClaims>(token, "access token");
    const nowS = this.now() / 1000;
    if (typeof claims.exp !== "number" || claims.exp + CLOCK_SKEW_S < nowS) throw new UnauthenticatedError("the access token has expired");
    if (typeof claims.nbf === "number" && claims.nbf - CLOCK_SKEW_S > nowS) throw new UnauthenticatedError("the access token is not valid yet");
    if (claims.typ !== undefined && claims.typ !== "Bearer") throw new UnauthenticatedError("not an access token");
    if (!audiencesOf(claims).includes(this.audience)) throw new UnauthenticatedError(`the access token is not for the CaseBridge API (its audience lacks ${this.audience})`);
    const agency = parseSealAgency(claims.agency ?? "");
    return {
      user: claims.preferred_username ?? claims.sub ?? "",
      roles: claims.realm_access?.roles ?? [],
      agency: agency ? agencyEnumOf(agency) : common.Agency.AGENCY_UNSPECIFIED,
      unit: typeof claims.unit === "string" ? claims.unit : "",
      platform: claims.agency === "platform",
    };
  }

  /** The claims of a JWT signed by the realm (signature with its published keys, and `iss`); the caller checks the rest. Throws UnauthenticatedError naming `what`. */
  async signedClaims<T extends { iss?: string }>(token: string, what = "token"): Promise<T> {
    const parts = token.split(".");
    if (parts.length !== 3) throw new UnauthenticatedError(`the ${what} is not a JWT`);
    const [headerPart, payloadPart, signaturePart] = parts as [string, string, string];
    let header: { alg?: string; kid?: string };
    let claims: T;
    try {
      header = JSON.parse(Buffer.from(headerPart, "base64url").toString("utf8")) as { alg?: string; kid?: string };
      claims = JSON.parse(Buffer.from(payloadPart, "base64url").toString("utf8")) as T;
    } catch {
      throw new UnauthenticatedError(`the ${what} is not a JWT`);
    }
    const algorithm = ALGORITHMS[header.alg ?? ""];
    if (!algorithm || !header.kid) throw new UnauthenticatedError(`${what}s signed with ${header.alg ?? "nothing"} are not accepted`);
    const key = await this.keyFor(header.kid);
    if (!key || key.alg !== header.alg) throw new UnauthenticatedError(`the ${what} is signed by an unknown key`);
    const signed = verifySignature(algorithm.digest, Buffer.from(`${headerPart}.${payloadPart}`), { key: key.key, dsaEncoding: algorithm.dsaEncoding }, Buffer.from(signaturePart, "base64url"));
    if (!signed) throw new UnauthenticatedError(`the ${what}'s signature does not verify`);
    if (typeof claims !== "object" || claims === null || claims.iss !== this.issuer) throw new UnauthenticatedError(`the ${what} is from another issuer`);
    return claims;
  }

  /** The caller of this call, from its `authorization: Bearer …` metadata. */
  async actorOf(ctx: CallContext): Promise<Actor> {
    const header = ctx.metadata.authorization ?? "";
    const match = /^Bearer\s+(\S+)$/i.exec(header);
    if (!match) throw new UnauthenticatedError("the call carries no bearer access token");
    return this.verify(match[1]!);
  }

  /** The caller, who must belong to `agency` and hold one of `roles`; throws PermissionDeniedError otherwise. */
  async requireActor(ctx: CallContext, agency: common.Agency, roles: readonly string[]): Promise<Actor> {
    const actor = await this.actorOf(ctx);
    if (actor.agency !== agency) throw new PermissionDeniedError(`${actor.user} does not belong to this agency`);
    if (!roles.some((role) => actor.roles.includes(role))) throw new PermissionDeniedError(`${actor.user} needs one of the roles ${roles.join(", ")}`);
    return actor;
  }

  /** The caller, who must be a platform operator holding one of `roles`; throws PermissionDeniedError otherwise. */
  async requirePlatformActor(ctx: CallContext, roles: readonly string[]): Promise<Actor> {
    const actor = await this.actorOf(ctx);
    if (!actor.platform) throw new PermissionDeniedError(`${actor.user} is not a platform operator`);
    if (!roles.some((role) => actor.roles.includes(role))) throw new PermissionDeniedError(`${actor.user} needs one of the roles ${roles.join(", ")}`);
    return actor;
  }

  private async keyFor(kid: string): Promise<{ key: KeyObject; alg: string } | undefined> {
    const known = this.keys.get(kid);
    if (known) return known;
    if (!this.fetching) {
      if (this.now() - this.lastFetch < JWKS_REFRESH_MS) return undefined;
      this.fetching = this.refresh().finally(() => {
        this.fetching = undefined;
      });
    }
    await this.fetching;
    return this.keys.get(kid);
  }

  private async refresh(): Promise<void> {
    this.lastFetch = this.now();
    let jwks;
    try {
      jwks = await this.fetchKeys();
    } catch (error) {
      this.lastFetch = 0;
      throw new UnauthenticatedError(`cannot check the access token: Keycloak's keys are unreachable (${(error as Error).message})`);
    }
    const keys = new Map<string, { key: KeyObject; alg: string }>();
    for (const jwk of jwks.keys) {
      if (!jwk.kid || (jwk.use && jwk.use !== "sig") || !jwk.alg || !ALGORITHMS[jwk.alg]) continue;
      keys.set(jwk.kid, { key: createPublicKey({ key: jwk, format: "jwk" }), alg: jwk.alg });
    }
    this.keys = keys;
  }
}

/** The audiences a token names (`aud` is a string or a list). */
export function audiencesOf(claims: { aud?: string | string[] }): string[] {
  return Array.isArray(claims.aud) ? claims.aud : claims.aud ? [claims.aud] : [];
}
