import { createHash, randomBytes } from "node:crypto";

/**
 * Tests only: an access token of a demo user through a test-only public client (`casebridge-test`,
 * `-short`, `-noaud`) and the password grant (the demo password is "demo"). Those clients exist
 * only in the realm `npm test` imports (KEYCLOAK_TEST_CLIENTS=1, infra/keycloak/test-clients.json);
 * tools use `cliUserToken`, users the gateway's login.
 */
export async function devUserToken(issuer: string, username: string, password = "demo", clientId = "casebridge-test"): Promise<string> {
  const response = await fetch(`${issuer}/protocol/openid-connect/token`, {
    method: "POST",
    body: new URLSearchParams({ grant_type: "password", client_id: clientId, username, password }),
    signal: AbortSignal.timeout(10_000),
  });
  if (!response.ok) throw new Error(`Keycloak refused a token for ${username}: ${response.status} ${await response.text()}`);
  return ((await response.json()) as { access_token: string }).access_token;
}

/** The public client of the command-line tools and its loopback redirect URI (never served: the code is taken from the redirect). */
export const CLI_CLIENT = { clientId: "casebridge-cli", redirectUri: "http://127.0.0.1/cli-callback" } as const;

/**
 * An access token of a user for the command-line tools (demo seeding, volume seeding), the way a
 * native app signs in (RFC 8252): the authorization code flow with state and PKCE (S256) of the
 * public client `casebridge-cli`, the user's name and password entered on Keycloak's own login form,
 * the code taken from the redirect to the loopback address and redeemed with the verifier. No
 * password grant: the realm has none outside the tests.
 */
export async function cliUserToken(issuer: string, username: string, password: string): Promise<string> {
  const cookies = new Map<string, string>();
  const call = async (url: string, init: RequestInit = {}): Promise<Response> => {
    const response = await fetch(url, { ...init, redirect: "manual", headers: { ...(init.headers as Record<string, string>), cookie: [...cookies].map(([name, value]) => `${name}=${value}`).join("; ") }, signal: AbortSignal.timeout(10_000) });
    for (const line of response.headers.getSetCookie()) {
      const [pair] = line.split(";");
      const at = pair!.indexOf("=");
      if (at > 0) cookies.set(pair!.slice(0, at).trim(), pair!.slice(at + 1).trim());
    }
    return response;
  };
  const state = randomBytes(16).toString("base64url");
  const verifier = randomBytes(32).toString("base64url");
  const authorize = new URL(`${issuer}/protocol/openid-connect/auth`);
  authorize.search = new URLSearchParams({
    client_id: CLI_CLIENT.clientId,
    redirect_uri: CLI_CLIENT.redirectUri,
    response_type: "code",
    scope: "openid",
    state,
    code_challenge: createHash("sha256").update(verifier).digest("base64url"),
    code_challenge_method: "S256",
  }).toString();
  const page = await call(authorize.toString());
  const html = await page.text();
  const action = /<form[^>]*id="kc-form-login"[^>]*action="([^"]+)"/.exec(html)?.[1];
  if (!action) throw new Error(`Keycloak showed no login form for ${CLI_CLIENT.clientId} (${page.status})`);
  const posted = await call(action.replace(/&amp;/g, "&"), { method: "POST", headers: { "content-type": "application/x-www-form-urlencoded" }, body: new URLSearchParams({ username, password, credentialId: "" }).toString() });
  await posted.arrayBuffer();
  const back = posted.headers.get("location");
  if (posted.status !== 302 || !back?.startsWith(CLI_CLIENT.redirectUri)) throw new Error(`Keycloak did not sign ${username} in (${posted.status}): wrong name or password?`);
  const answer = new URL(back).searchParams;
  if (answer.get("state") !== state || !answer.get("code")) throw new Error("Keycloak's answer does not belong to this login (state) or carries no code");
  const response = await fetch(`${issuer}/protocol/openid-connect/token`, {
    method: "POST",
    body: new URLSearchParams({ grant_type: "authorization_code", client_id: CLI_CLIENT.clientId, code: answer.get("code")!, redirect_uri: CLI_CLIENT.redirectUri, code_verifier: verifier }),
    signal: AbortSignal.timeout(10_000),
  });
  if (!response.ok) throw new Error(`Keycloak refused the code of ${username}: ${response.status} ${await response.text()}`);
  return ((await response.json()) as { access_token: string }).access_token;
}
