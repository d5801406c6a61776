import { randomBytes } from "node:crypto";
import { SessionCipher, sessionKey } from "./session-cipher";

describe("SessionCipher", () => {
  const key = sessionKey(randomBytes(32));
  const cipher = new SessionCipher(key);
  const value = JSON.stringify({ "keycloak-token": '{"access_token":"eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.sig"}' });

  it("seals a value with the key id in front and no plain text, and opens it for the same session id", () => {
    const sealed = cipher.seal("session-a", value);
    expect(sealed.startsWith(`v1.${key.id}.`)).toBe(true);
    expect(sealed).not.toContain("eyJ");
    expect(sealed).not.toContain("keycloak-token");
    expect(cipher.open("session-a", sealed)).toBe(value);
  });

  it("does not open a value under another session id, a tampered value, or one sealed with an unknown key", () => {
    const sealed = cipher.seal("session-a", value);
    expect(cipher.open("session-b", sealed)).toBeUndefined();
    const bytes = Buffer.from(sealed.split(".")[2]!, "base64url");
    bytes[bytes.length - 1]! ^= 1;
    expect(cipher.open("session-a", `v1.${key.id}.${bytes.toString("base64url")}`)).toBeUndefined();
    expect(new SessionCipher(sessionKey(randomBytes(32))).open("session-a", sealed)).toBeUndefined();
    expect(cipher.open("session-a", "not sealed")).toBeUndefined();
  });

  it("opens values of the old keys after a rotation and seals new ones with the new key", () => {
    const sealed = cipher.seal("session-a", value);
    const next = sessionKey(randomBytes(32));
    const rotated = new SessionCipher(next, [key]);
    expect(rotated.open("session-a", sealed)).toBe(value);
    expect(rotated.seal("session-a", value).startsWith(`v1.${next.id}.`)).toBe(true);
  });

  it("refuses a key that is not 32 bytes", () => {
    expect(() => sessionKey(randomBytes(16))).toThrow("32 bytes");
  });
});
