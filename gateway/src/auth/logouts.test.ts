import { BACKCHANNEL_LOGOUT_EVENT, logoutOf, type LogoutTokenClaims } from "./logouts";

describe("logoutOf (the claims of a back-channel logout token)", () => {
  const now = 1_800_000_000_000;
  const good: LogoutTokenClaims = { iss: "http://kc/realms/casebridge", aud: "casebridge-gateway", iat: now / 1000 - 1, sub: "u-1", sid: "s-1", events: { [BACKCHANNEL_LOGOUT_EVENT]: {} } };

  it("names the session (and the user) of a valid token", () => {
    expect(logoutOf(good, "casebridge-gateway", now)).toEqual({ sid: "s-1", sub: "u-1", at: now });
    expect(logoutOf({ ...good, sid: undefined }, "casebridge-gateway", now)).toEqual({ sid: undefined, sub: "u-1", at: now });
  });

  it.each<[string, LogoutTokenClaims, string]>([
    ["another client's", { ...good, aud: "casebridge-test" }, "not for casebridge-gateway"],
    ["an access token", { ...good, events: undefined }, "no back-channel logout event"],
    ["another event", { ...good, events: { "http://example.org/other": {} } }, "no back-channel logout event"],
    ["a token with a nonce (an ID token)", { ...good, nonce: "n" }, "no nonce"],
    ["an old token", { ...good, iat: now / 1000 - 600 }, "not recent"],
    ["a token from the future", { ...good, iat: now / 1000 + 600 }, "not recent"],
    ["an expired token", { ...good, exp: now / 1000 - 120 }, "expired"],
    ["a token naming nobody", { ...good, sid: undefined, sub: undefined }, "neither a session"],
  ])("refuses %s", (_name, claims, message) => {
    expect(() => logoutOf(claims, "casebridge-gateway", now)).toThrow(message);
  });
});
