import { SEQUENCE_CODEC } from "../runtime/sequences";
import { courtCaseNumber, sequenceKey, yearInChina } from "./case-number";

describe("court case numbers (案号)", () => {
  it("formats the national case number of a basic court's criminal case of first instance", () => {
    expect(courtCaseNumber("320582-CRT", 2026, 123)).toBe("（2026）苏0582刑初123号");
    expect(courtCaseNumber("320581-CRT", 2027, 1)).toBe("（2027）苏0581刑初1号");
    expect(courtCaseNumber("110105-CRT", 2026, 7)).toBe("（2026）京0105刑初7号");
  });

  it("refuses a unit without a division code, an unknown province and a sequence below 1", () => {
    expect(() => courtCaseNumber("CRT", 2026, 1)).toThrow(/no court code/);
    expect(() => courtCaseNumber("990582-CRT", 2026, 1)).toThrow(/no court code/);
    expect(() => courtCaseNumber("320582-CRT", 2026, 0)).toThrow(/sequence/);
  });

  it("counts years in China Standard Time: New Year's Eve 16:30 UTC is already next year in 张家港", () => {
    expect(yearInChina(new Date("2026-12-31T15:59:59Z"))).toBe(2026);
    expect(yearInChina(new Date("2026-12-31T16:00:00Z"))).toBe(2027);
  });

  it("keeps one sequence per court, type and year, stored as a decimal", () => {
    expect(new Set([sequenceKey("320582-CRT", "刑初", 2026), sequenceKey("320582-CRT", "刑初", 2027), sequenceKey("320581-CRT", "刑初", 2026), sequenceKey("320582-CRT", "民初", 2026)]).size).toBe(4);
    expect(SEQUENCE_CODEC.decode(SEQUENCE_CODEC.encode(123))).toBe(123);
  });
});
