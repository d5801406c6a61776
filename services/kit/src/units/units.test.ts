import { readFileSync } from "node:fs";
import { join } from "node:path";
import { common } from "@casebridge/proto";
import { divisionOf, mayAccess, recipientUnitFor, unitOf, UNITS, visibleUnits, JURISDICTION } from "./units";

const { AGENCY_POLICE: POLICE, AGENCY_PROSECUTION: PROSECUTION, AGENCY_COURT: COURT } = common.Agency;
const police = (unit: string) => ({ agency: POLICE, unit });

describe("units and supervision", () => {
  it("lets an officer see their own station only", () => {
    expect(visibleUnits(police("320582-PSB-YANGSHE"))).toEqual(["320582-PSB-YANGSHE"]);
    expect(mayAccess(police("320582-PSB-YANGSHE"), "320582-PSB-YANGSHE")).toBe(true);
    expect(mayAccess(police("320582-PSB-YANGSHE"), "320582-PSB-JINGANG")).toBe(false);
    expect(mayAccess(police("320581-PSB-YUSHAN"), "320582-PSB-YANGSHE")).toBe(false);
  });

  it("lets a county's legal unit see the stations it supervises, not another county's", () => {
    expect(visibleUnits(police("320582-PSB-LEGAL")).sort()).toEqual(["320582-PSB-JINGANG", "320582-PSB-LEGAL", "320582-PSB-YANGSHE"]);
    expect(mayAccess(police("320582-PSB-LEGAL"), "320581-PSB-YUSHAN")).toBe(false);
    expect(mayAccess(police("320581-PSB-LEGAL"), "320581-PSB-YUSHAN")).toBe(true);
  });

  it("lets a higher procuratorate or court see the lower ones, never the reverse", () => {
    expect(mayAccess({ agency: PROSECUTION, unit: "320500-PRO" }, "320582-PRO")).toBe(true);
    expect(mayAccess({ agency: PROSECUTION, unit: "320582-PRO" }, "320500-PRO")).toBe(false);
    expect(mayAccess({ agency: PROSECUTION, unit: "320582-PRO" }, "320581-PRO")).toBe(false);
    expect(mayAccess({ agency: COURT, unit: "320500-CRT" }, "320581-CRT")).toBe(true);
  });

  it("fails closed: no unit, an unknown unit, a unit of another agency, an empty record unit", () => {
    expect(visibleUnits(police(""))).toEqual([]);
    expect(visibleUnits(police("999999-PSB-X"))).toEqual([]);
    expect(visibleUnits({ agency: PROSECUTION, unit: "320582-PSB-LEGAL" })).toEqual([]);
    expect(mayAccess(police("320582-PSB-YANGSHE"), "")).toBe(false);
    expect(mayAccess(police("320582-PSB-YANGSHE"), undefined)).toBe(false);
  });

  it("addresses a transfer to the unit with jurisdiction, or to a named unit of the recipient agency only", () => {
    expect(divisionOf("320582-PSB-YANGSHE")).toBe("320582");
    expect(recipientUnitFor("320582-PSB-YANGSHE", PROSECUTION)?.id).toBe("320582-PRO");
    expect(recipientUnitFor("320581-PSB-YUSHAN", PROSECUTION)?.id).toBe("320581-PRO");
    expect(recipientUnitFor("320582-PRO", COURT)?.id).toBe("320582-CRT");
    expect(recipientUnitFor("320500-PRO", COURT)?.id).toBe("320500-CRT");
    expect(recipientUnitFor("320582-PSB-YANGSHE", PROSECUTION, "320500-PRO")?.id).toBe("320500-PRO");
    expect(recipientUnitFor("320582-PSB-YANGSHE", PROSECUTION, "320582-CRT")).toBeUndefined();
    expect(recipientUnitFor("110101-PSB-X", PROSECUTION)).toBeUndefined();
  });

  it("has a consistent table: ids start with a division code, supervised units and jurisdictions exist in the same agency", () => {
    for (const unit of UNITS.values()) {
      expect(unit.id).toMatch(/^\d{6}-[A-Z]+(-[A-Z]+)?$/);
      for (const below of unit.supervises ?? []) expect([unit.id, UNITS.get(below)?.agency]).toEqual([unit.id, unit.agency]);
    }
    for (const [division, units] of Object.entries(JURISDICTION)) {
      for (const [agency, id] of Object.entries(units)) expect([division, agency, UNITS.get(id)?.agency, divisionOf(id)]).toEqual([division, agency, agency, division]);
    }
    expect(unitOf("320582-PRO", POLICE)).toBeUndefined();
  });

  it("agrees with the realm: every demo user's unit is a unit of their agency, and the user profile allows exactly the table's units", () => {
    const realm = JSON.parse(readFileSync(join(__dirname, "../../../../infra/keycloak/casebridge-realm.json"), "utf8")) as {
      users: Array<{ username: string; attributes: { agency: string[]; unit?: string[] } }>;
      components: Record<string, Array<{ config: Record<string, string[]> }>>;
    };
    for (const user of realm.users) {
      const [agency] = user.attributes.agency;
      const unit = user.attributes.unit?.[0] ?? "";
      if (agency === "platform") expect([user.username, unit]).toEqual([user.username, expect.stringMatching(/^\d{6}-OPS$/)]);
      else expect([user.username, UNITS.get(unit)?.agency]).toEqual([user.username, agency]);
    }
    const profile = JSON.parse(realm.components["org.keycloak.userprofile.UserProfileProvider"]![0]!.config["kc.user.profile.config"]![0]!) as { attributes: Array<{ name: string; validations?: { options?: { options: string[] } } }> };
    const allowed = profile.attributes.find((a) => a.name === "unit")!.validations!.options!.options.filter((id) => !id.endsWith("-OPS"));
    expect(allowed.sort()).toEqual([...UNITS.keys()].sort());
  });
});
