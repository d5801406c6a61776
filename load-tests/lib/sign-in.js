// k6: signs a user in the way the command-line tools do (services/kit/src/dev-token.ts cliUserToken):
// the authorization code flow with state and PKCE (S256) of the public client `casebridge-cli`, the
// name and password entered on Keycloak's own login form, the code taken from the redirect to the
// loopback address and redeemed with the verifier. No password grant (the realm has none outside the tests).
import http from "k6/http";
import crypto from "k6/crypto";
import encoding from "k6/encoding";
import { fail } from "k6";

const CLIENT_ID = "casebridge-cli";
const REDIRECT_URI = "http://127.0.0.1/cli-callback";

/** An access token of `username` from the realm at `realm` (…/realms/casebridge). */
export function signIn(realm, username, password) {
  const jar = new http.CookieJar();
  const state = encoding.b64encode(crypto.randomBytes(16), "rawurl");
  const verifier = encoding.b64encode(crypto.randomBytes(32), "rawurl");
  const query = [
    ["client_id", CLIENT_ID],
    ["redirect_uri", REDIRECT_URI],
    ["response_type", "code"],
    ["scope", "openid"],
    ["state", state],
    ["code_challenge", crypto.sha256(verifier, "base64rawurl")],
    ["code_challenge_method", "S256"],
  ]
    .map(([name, value]) => `${name}=${encodeURIComponent(value)}`)
    .join("&");
  const page = http.get(`${realm}/protocol/openid-connect/auth?${query}`, { jar, redirects: 0, tags: { name: "login" } });
  const action = /<form[^>]*id="kc-form-login"[^>]*action="([^"]+)"/.exec(page.body || "");
  if (!action) fail(`Keycloak showed no login form for ${username}: ${page.status}`);
  const posted = http.post(action[1].replace(/&amp;/g, "&"), { username, password, credentialId: "" }, { jar, redirects: 0, tags: { name: "login" } });
  const back = posted.headers.Location || posted.headers.location || "";
  if (posted.status !== 302 || back.indexOf(REDIRECT_URI) !== 0) fail(`Keycloak did not sign ${username} in: ${posted.status}`);
  const params = {};
  for (const pair of back.slice(back.indexOf("?") + 1).split("&")) {
    const at = pair.indexOf("=");
    params[decodeURIComponent(pair.slice(0, at))] = decodeURIComponent(pair.slice(at + 1));
  }
  if (params.state !== state || !params.code) fail(`Keycloak's answer for ${username} is not this login's`);
  const token = http.post(`${realm}/protocol/openid-connect/token`, { grant_type: "authorization_code", client_id: CLIENT_ID, code: params.code, redirect_uri: REDIRECT_URI, code_verifier: verifier }, { tags: { name: "login" } });
  if (token.status !== 200) fail(`Keycloak refused the code of ${username}: ${token.status} ${token.body}`);
  return token.json("access_token");
}
