/**
 * Development and tests only: an access token of a demo user through the realm's test-only public
 * client `casebridge-test` and the password grant (the demo password is "demo"). Production users
 * log in through the gateway (authorization code flow); this client does not exist there.
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
