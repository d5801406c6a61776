import { deadline as dpb, transfer as tpb } from "@casebridge/proto";
import { alertIdOf, isAudience, isCurrent, parseDeadlineRules, plannedTimers, STATUTORY_RULES, timerChanges, type DeadlineRules } from "./domain";

const start = new Date("2026-11-23T08:00:00Z");
const HOUR = 3_600_000;

function file(measures: Array<Partial<tpb.CoerciveMeasure>>): tpb.CaseFile {
  return tpb.CaseFile.fromPartial({
    case: { caseId: "case:1", caseNumber: "320582-2026-00042", parties: [{ partyId: "p1", name: "李某" }], measures: measures.map((m, i) => ({ measureId: `m${i + 1}`, partyId: "p1", startsAt: start, ...m })) },
    openedBy: "officer.wang",
  });
}

describe("statutory deadline timers", () => {
  it("plans a warning and the limit for each running measure, from the statutory rule when no end is set", () => {
    const timers = plannedTimers(file([{ type: tpb.MeasureType.MEASURE_TYPE_CRIMINAL_DETENTION }]), STATUTORY_RULES);
    expect(timers.map((t) => [dpb.alertLevelToJSON(t.level), t.fireAt!.toISOString(), t.dueAt!.toISOString()])).toEqual([
      ["ALERT_LEVEL_WARNING", "2026-11-25T20:00:00.000Z", "2026-11-26T08:00:00.000Z"],
      ["ALERT_LEVEL_EXPIRED", "2026-11-26T08:00:00.000Z", "2026-11-26T08:00:00.000Z"],
    ]);
    expect(timers[0]).toMatchObject({ caseNumber: "320582-2026-00042", partyName: "李某", officer: "officer.wang", kind: dpb.DeadlineKind.DEADLINE_KIND_CRIMINAL_DETENTION });
    expect(new Set(timers.map((t) => t.timerId)).size).toBe(2);
    expect(timers.every((t) => /^[0-9a-f]{32}$/.test(t.timerId))).toBe(true);
  });

  it("uses the end set on a measure (an approved extension), and plans nothing for a lifted measure or one without a rule", () => {
    const extended = new Date(start.getTime() + 7 * 24 * HOUR);
    expect(plannedTimers(file([{ type: tpb.MeasureType.MEASURE_TYPE_CRIMINAL_DETENTION, endsAt: extended }]), STATUTORY_RULES).at(-1)!.dueAt).toEqual(extended);
    expect(plannedTimers(file([{ type: tpb.MeasureType.MEASURE_TYPE_BAIL, releasedAt: new Date() }]), STATUTORY_RULES)).toEqual([]);
    expect(plannedTimers(file([{ type: tpb.MeasureType.MEASURE_TYPE_UNSPECIFIED }]), STATUTORY_RULES)).toEqual([]);
  });

  it("moves the timers of an extended measure, cancels those of a lifted one, and leaves the others alone", () => {
    const before = file([{ type: tpb.MeasureType.MEASURE_TYPE_CRIMINAL_DETENTION }, { type: tpb.MeasureType.MEASURE_TYPE_BAIL }]);
    const after = file([{ type: tpb.MeasureType.MEASURE_TYPE_CRIMINAL_DETENTION, endsAt: new Date(start.getTime() + 7 * 24 * HOUR) }, { type: tpb.MeasureType.MEASURE_TYPE_BAIL, releasedAt: new Date() }]);
    const { set, cancel } = timerChanges(plannedTimers(before, STATUTORY_RULES), plannedTimers(after, STATUTORY_RULES));
    expect(set.map((t) => t.measureId)).toEqual(["m1", "m1"]);
    expect(cancel.map((t) => t.measureId)).toEqual(["m2", "m2"]);
    expect(timerChanges(plannedTimers(before, STATUTORY_RULES), plannedTimers(before, STATUTORY_RULES))).toEqual({ set: [], cancel: [] });
    expect(timerChanges([], plannedTimers(before, STATUTORY_RULES)).set).toHaveLength(4);
  });

  it("tells a fired timer that still stands from one the case no longer has", () => {
    const before = file([{ type: tpb.MeasureType.MEASURE_TYPE_CRIMINAL_DETENTION }]);
    const fired = plannedTimers(before, STATUTORY_RULES)[0]!;
    expect(isCurrent(fired, before, STATUTORY_RULES)).toBe(true);
    expect(isCurrent(fired, file([{ type: tpb.MeasureType.MEASURE_TYPE_CRIMINAL_DETENTION, endsAt: new Date(start.getTime() + 5 * 24 * HOUR) }]), STATUTORY_RULES)).toBe(false);
    expect(isCurrent(fired, file([{ type: tpb.MeasureType.MEASURE_TYPE_CRIMINAL_DETENTION, releasedAt: new Date() }]), STATUTORY_RULES)).toBe(false);
    expect(isCurrent(fired, undefined, STATUTORY_RULES)).toBe(false);
    // A moved point is a new alert; the same point fired twice is the same alert.
    const moved = plannedTimers(file([{ type: tpb.MeasureType.MEASURE_TYPE_CRIMINAL_DETENTION, endsAt: new Date(start.getTime() + 5 * 24 * HOUR) }]), STATUTORY_RULES)[0]!;
    expect(alertIdOf(moved)).not.toBe(alertIdOf(fired));
    expect(alertIdOf({ ...fired })).toBe(alertIdOf(fired));
  });

  it("parses rule overrides and names every problem", () => {
    const parsed = parseDeadlineRules('{"DEADLINE_KIND_CRIMINAL_DETENTION": {"limit": "8s", "warnBefore": ["4s"]}}') as { rules: DeadlineRules };
    expect(parsed.rules.DEADLINE_KIND_CRIMINAL_DETENTION).toEqual({ limitMs: 8000, warnBeforeMs: [4000] });
    expect(parsed.rules.DEADLINE_KIND_BAIL).toBe(STATUTORY_RULES.DEADLINE_KIND_BAIL);
    expect(parseDeadlineRules("")).toEqual({ rules: STATUTORY_RULES });
    expect(parseDeadlineRules("{")).toEqual({ problems: ["DEADLINE_RULES is not JSON"] });
    expect(parseDeadlineRules('{"DEADLINE_KIND_NAP": {}, "DEADLINE_KIND_BAIL": {"limit": "soon"}, "DEADLINE_KIND_RESIDENTIAL_SURVEILLANCE": {"limit": "30d", "warnBefore": ["40d"]}}')).toEqual({
      problems: [
        expect.stringContaining("unknown kind DEADLINE_KIND_NAP") as string,
        'DEADLINE_RULES.DEADLINE_KIND_BAIL.limit must be a duration such as "3d" or "6s"',
        "DEADLINE_RULES.DEADLINE_KIND_RESIDENTIAL_SURVEILLANCE.warnBefore must be a list of durations shorter than the limit",
      ],
    });
  });

  it("sends an alert to the officer in charge and unit leaders, and to the legal unit once escalated", () => {
    const alert = dpb.Alert.fromPartial({ recipients: ["officer.wang"], roles: ["unit-leader"] });
    expect(isAudience(alert, "officer.wang", ["police-officer"])).toBe(true);
    expect(isAudience(alert, "leader.qian", ["unit-leader"])).toBe(true);
    expect(isAudience(alert, "legal.li", ["police-legal"])).toBe(false);
    expect(isAudience({ ...alert, roles: ["unit-leader", "police-legal"] }, "legal.li", ["police-legal"])).toBe(true);
  });
});
