import { cliUserToken } from "@casebridge/kit";
import { infra } from "./support";

const tokenUrl = `${infra.keycloakUrl}/realms/casebridge/protocol/openid-connect/token`;

function claimsOf(jwt: string): Record<string, unknown> {
  return JSON.parse(Buffer.from(jwt.split(".")[1] ?? "", "base64url").toString()) as Record<string, unknown>;
}

async function token(form: Record<string, string>): Promise<Response> {
  return fetch(tokenUrl, { method: "POST", body: new URLSearchParams(form) });
}

describe("the casebridge realm on a real Keycloak", () => {
  it.each([
    ["officer.wang", "police", "police-officer", "320582-PSB-YANGSHE"],
    ["officer.ma", "police", "police-officer", "320582-PSB-JINGANG"],
    ["officer.zhang", "police", "police-officer", "320581-PSB-YUSHAN"],
    ["legal.li", "police", "police-legal", "320582-PSB-LEGAL"],
    ["legal.xu", "police", "police-legal", "320581-PSB-LEGAL"],
    ["leader.qian", "police", "unit-leader", "320582-PSB-YANGSHE"],
    ["custodian.chen", "police", "property-custodian", "320582-PSB-PROPERTY"],
    ["prosecutor.zhao", "prosecution", "prosecutor", "320582-PRO"],
    ["prosecutor.gao", "prosecution", "prosecutor", "320581-PRO"],
    ["judge.sun", "court", "judge", "320582-CRT"],
    ["clerk.zhou", "court", "court-clerk", "320582-CRT"],
    ["lawyer.wu", "judicial", "duty-lawyer", "320582-JUS"],
    ["mediator.zheng", "judicial", "mediator", "320582-JUS"],
    ["notary.feng", "notary", "notary", "320582-NOT"],
    ["admin.he", "platform", "platform-admin", "320500-OPS"],
  ])("issues %s a token with agency %s, role %s and unit %s", async (username, agency, role, unit) => {
    const res = await token({ grant_type: "password", client_id: "casebridge-test", username, password: "demo" });
    expect(res.status).toBe(200);
    const claims = claimsOf(((await res.json()) as { access_token: string }).access_token);
    expect(claims.agency).toBe(agency);
    expect(claims.unit).toBe(unit);
    expect((claims.realm_access as { roles: string[] }).roles).toContain(role);
    expect(claims.preferred_username).toBe(username);
    expect(claims.iss).toBe(`${infra.keycloakUrl}/realms/casebridge`);
  });

  it("refuses a wrong password", async () => {
    const res = await token({ grant_type: "password", client_id: "casebridge-test", username: "legal.li", password: "wrong" });
    expect(res.status).toBe(401);
  });

  it("gives each service a client-credentials token that names its agency", async () => {
    const res = await token({ grant_type: "client_credentials", client_id: "svc-prosecution", client_secret: "dev-only-svc-prosecution-secret-change-me" });
    expect(res.status).toBe(200);
    expect(claimsOf(((await res.json()) as { access_token: string }).access_token).agency).toBe("prosecution");
  });

  it("does not let the gateway client use the password grant", async () => {
    const res = await token({ grant_type: "password", client_id: "casebridge-gateway", client_secret: "dev-only-gateway-secret-change-me", username: "legal.li", password: "demo" });
    expect(res.status).toBeGreaterThanOrEqual(400);
  });

  it("signs the command-line tools' users in with the code flow and PKCE only: a token for the API with the user's agency; no password grant, no code without the verifier", async () => {
    const issuer = `${infra.keycloakUrl}/realms/casebridge`;
    const claims = claimsOf(await cliUserToken(issuer, "legal.li", "demo"));
    expect([claims.azp, [claims.aud].flat(), claims.agency, claims.unit]).toEqual(["casebridge-cli", expect.arrayContaining(["casebridge-api"]), "police", "320582-PSB-LEGAL"]);
    await expect(cliUserToken(issuer, "legal.li", "wrong")).rejects.toThrow(/did not sign legal.li in/);
    const password = await token({ grant_type: "password", client_id: "casebridge-cli", username: "legal.li", password: "demo" });
    expect([password.status, ((await password.json()) as { error: string }).error]).toEqual([400, "unauthorized_client"]);
  });
});
