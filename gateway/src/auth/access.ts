import type { Request } from "express";
import { SEAL_AGENCIES, type SealAgency } from "@casebridge/kit";

/** The agency a user belongs to: one of the five, or the platform operator. */
export type UserAgency = SealAgency | "platform";

/** The signed-in user of a request, from a verified Keycloak access token. */
export interface Principal {
  /** Keycloak username, e.g. legal.li. */
  readonly user: string;
  /** Display name. */
  readonly name: string;
  readonly roles: readonly string[];
  /** Undefined when the token names no known agency: such a user may only ask who they are. */
  readonly agency: UserAgency | undefined;
  /** The user's unit (`unit` claim), "" when none; the services scope every case by it. */
  readonly unit: string;
  /** The raw access token, forwarded to the services (which verify it again). */
  readonly accessToken: string;
  readonly expiresAt: Date;
  /** The Keycloak session the token belongs to (sid, sub, iat): a back-channel logout of it ends what the token opened. */
  readonly session: { readonly sid?: string; readonly sub?: string; readonly iat?: number };
}

/** One grant of a route: users of `agency` holding one of `roles`. */
export interface Grant {
  readonly agency: UserAgency;
  readonly roles: readonly string[];
}

/** Who may call a route: any signed-in user, or the users of the listed grants. */
export type Access = "any-user" | readonly Grant[];

/** Whether `principal` may call a route declared with `access`: the one place where roles and agency are checked. */
export function isAllowed(access: Access, principal: Principal): boolean {
  if (access === "any-user") return true;
  return access.some((grant) => grant.agency === principal.agency && grant.roles.some((role) => principal.roles.includes(role)));
}

/** The claims of a Keycloak access token the gateway reads. */
export interface AccessTokenClaims {
  preferred_username?: string;
  name?: string;
  given_name?: string;
  family_name?: string;
  sub?: string;
  sid?: string;
  iat?: number;
  agency?: string;
  unit?: string;
  exp?: number;
  aud?: string | string[];
  realm_access?: { roles?: string[] };
}

/** The principal of a verified access token. */
export function principalOf(claims: AccessTokenClaims, accessToken: string): Principal {
  const agency = claims.agency === "platform" || (SEAL_AGENCIES as readonly string[]).includes(claims.agency ?? "") ? (claims.agency as UserAgency) : undefined;
  const user = claims.preferred_username ?? claims.sub ?? "";
  return { user, name: displayNameOf(claims) || user, roles: claims.realm_access?.roles ?? [], agency, unit: typeof claims.unit === "string" ? claims.unit : "", accessToken, expiresAt: new Date((claims.exp ?? 0) * 1000), session: { sid: claims.sid, sub: claims.sub, iat: claims.iat } };
}

/** A browser request sent from another site (Sec-Fetch-Site or Origin says so). */
export function crossSite(req: Request): boolean {
  const site = req.get("sec-fetch-site");
  if (site && site !== "same-origin" && site !== "none") return true;
  const origin = req.get("origin");
  return origin !== undefined && origin !== `${req.protocol}://${req.get("host")}`;
}

const CJK = /[\u3400-\u9fff\uf900-\ufaff]/;

/** How a person is shown: a Chinese name family name first, without a space (李娜); any other as Keycloak's `name` (given name first). */
export function displayNameOf(claims: Pick<AccessTokenClaims, "name" | "given_name" | "family_name">): string {
  const [family, given] = [claims.family_name?.trim() ?? "", claims.given_name?.trim() ?? ""];
  if (CJK.test(family + given)) return `${family}${given}`;
  return claims.name?.trim() || [given, family].filter(Boolean).join(" ");
}
