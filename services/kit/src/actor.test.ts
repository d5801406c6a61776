import { generateKeyPairSync, sign, type KeyObject } from "node:crypto";
import { common } from "@casebridge/proto";
import { bearerMetadata, TokenVerifier } from "./actor";
import type { CallContext } from "./contract";
import { PermissionDeniedError, UnauthenticatedError } from "./errors";

const issuer = "http://keycloak.test/realms/casebridge";
const rsa = generateKeyPairSync("rsa", { modulusLength: 2048 });
const ec = generateKeyPairSync("ec", { namedCurve: "P-256" });
const now = 1_800_000_000_000;

function jwk(key: KeyObject, kid: string, alg: string) {
  return { ...key.export({ format: "jwk" }), kid, alg, use: "sig" };
}

function token(claims: Record<string, unknown>, options: { kid?: string; alg?: string; key?: KeyObject } = {}): string {
  const alg = options.alg ?? "RS256";
  const header = Buffer.from(JSON.stringify({ alg, kid: options.kid ?? "rsa-1", typ: "JWT" })).toString("base64url");
  const payload = Buffer.from(JSON.stringify(claims)).toString("base64url");
  const data = Buffer.from(`${header}.${payload}`);
  const signature = alg === "ES256" ? sign("sha256", data, { key: options.key ?? ec.privateKey, dsaEncoding: "ieee-p1363" }) : sign("sha256", data, options.key ?? rsa.privateKey);
  return `${header}.${payload}.${signature.toString("base64url")}`;
}

const legal = { iss: issuer, aud: ["casebridge-api", "account"], exp: now / 1000 + 300, typ: "Bearer", sub: "u-1", preferred_username: "legal.li", agency: "police", unit: "320582-PSB-LEGAL", realm_access: { roles: ["police-legal"] } };

function verifier(fetches = { count: 0 }): TokenVerifier {
  return new TokenVerifier(
    issuer,
    () => {
      fetches.count++;
      return Promise.resolve({ keys: [jwk(rsa.publicKey, "rsa-1", "RS256"), jwk(ec.publicKey, "ec-1", "ES256")] });
    },
    () => now,
  );
}

function ctx(metadata: Record<string, string>): CallContext {
  return { traceId: "t", metadata, logger: undefined as never, transport: "nats" };
}

describe("TokenVerifier", () => {
  it("accepts a token signed by the realm's key and reads user, roles, agency and unit", async () => {
    await expect(verifier().verify(token(legal))).resolves.toEqual({ user: "legal.li", roles: ["police-legal"], agency: common.Agency.AGENCY_POLICE, unit: "320582-PSB-LEGAL", platform: false });
    await expect(verifier().verify(token({ ...legal, unit: undefined }))).resolves.toMatchObject({ unit: "" });
    await expect(verifier().verify(token({ ...legal, unit: ["320582-PSB-LEGAL", "320581-PSB-LEGAL"] }))).resolves.toMatchObject({ unit: "" });
    await expect(verifier().verify(token(legal, { alg: "ES256", kid: "ec-1" }))).resolves.toMatchObject({ user: "legal.li" });
  });

  it("refuses a token that is not for the CaseBridge API (no or another audience)", async () => {
    await expect(verifier().verify(token({ ...legal, aud: undefined }))).rejects.toThrow("not for the CaseBridge API");
    await expect(verifier().verify(token({ ...legal, aud: "account" }))).rejects.toThrow("not for the CaseBridge API");
    await expect(verifier().verify(token({ ...legal, aud: "casebridge-api" }))).resolves.toMatchObject({ user: "legal.li" });
  });

  it("refuses expired, foreign, tampered, unsigned and unknown-key tokens", async () => {
    const v = verifier();
    await expect(v.verify(token({ ...legal, exp: now / 1000 - 120 }))).rejects.toThrow("expired");
    await expect(v.verify(token({ ...legal, iss: "http://evil/realms/casebridge" }))).rejects.toThrow("another issuer");
    const [h, , s] = token(legal).split(".");
    const promoted = Buffer.from(JSON.stringify({ ...legal, realm_access: { roles: ["platform-admin"] } })).toString("base64url");
    await expect(v.verify(`${h}.${promoted}.${s}`)).rejects.toThrow("signature does not verify");
    const forged = generateKeyPairSync("rsa", { modulusLength: 2048 }).privateKey;
    await expect(v.verify(token(legal, { key: forged }))).rejects.toThrow("signature does not verify");
    const none = `${Buffer.from(JSON.stringify({ alg: "none", kid: "rsa-1" })).toString("base64url")}.${Buffer.from(JSON.stringify(legal)).toString("base64url")}.`;
    await expect(v.verify(none)).rejects.toThrow("not accepted");
    await expect(v.verify(token(legal, { kid: "other" }))).rejects.toThrow("unknown key");
    await expect(v.verify("garbage")).rejects.toBeInstanceOf(UnauthenticatedError);
  });

  it("fetches the keys once, not on every call or every unknown key id", async () => {
    const fetches = { count: 0 };
    const v = verifier(fetches);
    await Promise.all([v.verify(token(legal)), v.verify(token(legal)), v.verify(token(legal, { kid: "nope" })).catch(() => undefined)]);
    expect(fetches.count).toBe(1);
  });

  it("requires a bearer token, the service's agency and one of the roles", async () => {
    const v = verifier();
    await expect(v.requireActor(ctx({}), common.Agency.AGENCY_POLICE, ["police-legal"])).rejects.toThrow("no bearer access token");
    await expect(v.requireActor(ctx(bearerMetadata(token(legal))), common.Agency.AGENCY_POLICE, ["police-legal"])).resolves.toMatchObject({ user: "legal.li" });
    await expect(v.requireActor(ctx(bearerMetadata(token(legal))), common.Agency.AGENCY_PROSECUTION, ["police-legal"])).rejects.toBeInstanceOf(PermissionDeniedError);
    await expect(v.requireActor(ctx(bearerMetadata(token(legal))), common.Agency.AGENCY_POLICE, ["judge"])).rejects.toThrow("needs one of the roles judge");
  });

  it("lets only platform operators with the role through a platform check, whatever roles an agency user claims", async () => {
    const v = verifier();
    const admin = { ...legal, preferred_username: "admin.he", agency: "platform", realm_access: { roles: ["platform-admin"] } };
    await expect(v.requirePlatformActor(ctx(bearerMetadata(token(admin))), ["platform-admin"])).resolves.toMatchObject({ user: "admin.he", platform: true, agency: common.Agency.AGENCY_UNSPECIFIED });
    const agencyUserWithTheRole = { ...legal, realm_access: { roles: ["platform-admin"] } };
    await expect(v.requirePlatformActor(ctx(bearerMetadata(token(agencyUserWithTheRole))), ["platform-admin"])).rejects.toThrow("is not a platform operator");
    await expect(v.requirePlatformActor(ctx(bearerMetadata(token({ ...admin, realm_access: { roles: [] } }))), ["platform-admin"])).rejects.toBeInstanceOf(PermissionDeniedError);
  });
});
