import { displayNameOf, isAllowed, principalOf, type Access } from "./access";

const legal = principalOf({ preferred_username: "legal.li", name: "李法制", sub: "u-1", sid: "s-1", iat: 1_999_999_700, agency: "police", unit: "320582-PSB-LEGAL", exp: 2_000_000_000, realm_access: { roles: ["police-legal", "offline_access"] } }, "token");

describe("isAllowed", () => {
  it("lets a user in when one grant matches both agency and role", () => {
    const access: Access = [
      { agency: "prosecution", roles: ["prosecutor"] },
      { agency: "police", roles: ["police-officer", "police-legal"] },
    ];
    expect(isAllowed(access, legal)).toBe(true);
  });

  it("refuses the right role at the wrong agency, and the right agency with the wrong role", () => {
    expect(isAllowed([{ agency: "prosecution", roles: ["police-legal"] }], legal)).toBe(false);
    expect(isAllowed([{ agency: "police", roles: ["police-officer"] }], legal)).toBe(false);
    expect(isAllowed([], legal)).toBe(false);
  });

  it("lets any signed-in user ask for any-user routes, even without an agency", () => {
    const stranger = principalOf({ sub: "x", agency: "mars" }, "token");
    expect(stranger.agency).toBeUndefined();
    expect(isAllowed("any-user", stranger)).toBe(true);
    expect(isAllowed([{ agency: "police", roles: [] }], stranger)).toBe(false);
  });
});

describe("principalOf", () => {
  it("reads user, name, roles, agency, unit, expiry and the Keycloak session from the claims", () => {
    expect(principalOf({ sub: "x", agency: "police" }, "token").unit).toBe("");
    expect(legal).toEqual({ user: "legal.li", name: "李法制", roles: ["police-legal", "offline_access"], agency: "police", unit: "320582-PSB-LEGAL", accessToken: "token", expiresAt: new Date(2_000_000_000_000), session: { sid: "s-1", sub: "u-1", iat: 1_999_999_700 } });
  });
});

describe("displayNameOf", () => {
  it("shows a Chinese name family name first without a space, any other as Keycloak's full name", () => {
    expect(displayNameOf({ name: "娜 李", given_name: "娜", family_name: "李" })).toBe("李娜");
    expect(displayNameOf({ name: "娜 欧阳", given_name: "娜", family_name: "欧阳" })).toBe("欧阳娜");
    expect(displayNameOf({ name: "Anna Lee", given_name: "Anna", family_name: "Lee" })).toBe("Anna Lee");
    expect(displayNameOf({ given_name: "Anna", family_name: "Lee" })).toBe("Anna Lee");
    expect(displayNameOf({})).toBe("");
  });
});
