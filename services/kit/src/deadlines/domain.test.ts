import { common, deadline as dpb, transfer as tpb } from "@casebridge/proto";
import { alertIdOf, isAudience, isCurrent, measureEndViolation, measureTimers, parseDeadlineRules, STATUTORY_RULES, timerChanges, transferTimers, type DeadlineRules } from "./domain";

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
    const timers = measureTimers(file([{ type: tpb.MeasureType.MEASURE_TYPE_CRIMINAL_DETENTION }]), STATUTORY_RULES);
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
    expect(measureTimers(file([{ type: tpb.MeasureType.MEASURE_TYPE_CRIMINAL_DETENTION, endsAt: extended }]), STATUTORY_RULES).at(-1)!.dueAt).toEqual(extended);
    expect(measureTimers(file([{ type: tpb.MeasureType.MEASURE_TYPE_BAIL, releasedAt: new Date() }]), STATUTORY_RULES)).toEqual([]);
    expect(measureTimers(file([{ type: tpb.MeasureType.MEASURE_TYPE_UNSPECIFIED }]), STATUTORY_RULES)).toEqual([]);
  });

  it("moves the timers of an extended measure, cancels those of a lifted one, and leaves the others alone", () => {
    const before = file([{ type: tpb.MeasureType.MEASURE_TYPE_CRIMINAL_DETENTION }, { type: tpb.MeasureType.MEASURE_TYPE_BAIL }]);
    const after = file([{ type: tpb.MeasureType.MEASURE_TYPE_CRIMINAL_DETENTION, endsAt: new Date(start.getTime() + 7 * 24 * HOUR) }, { type: tpb.MeasureType.MEASURE_TYPE_BAIL, releasedAt: new Date() }]);
    const { set, cancel } = timerChanges(measureTimers(before, STATUTORY_RULES), measureTimers(after, STATUTORY_RULES));
    expect(set.map((t) => t.measureId)).toEqual(["m1", "m1"]);
    expect(cancel.map((t) => t.measureId)).toEqual(["m2", "m2"]);
    expect(timerChanges(measureTimers(before, STATUTORY_RULES), measureTimers(before, STATUTORY_RULES))).toEqual({ set: [], cancel: [] });
    expect(timerChanges([], measureTimers(before, STATUTORY_RULES)).set).toHaveLength(4);
  });

  it("tells a fired timer that still stands from one the case no longer has", () => {
    const before = file([{ type: tpb.MeasureType.MEASURE_TYPE_CRIMINAL_DETENTION }]);
    const fired = measureTimers(before, STATUTORY_RULES)[0]!;
    const now = (f: tpb.CaseFile) => measureTimers(f, STATUTORY_RULES);
    expect(isCurrent(fired, now(before))).toBe(true);
    expect(isCurrent(fired, now(file([{ type: tpb.MeasureType.MEASURE_TYPE_CRIMINAL_DETENTION, endsAt: new Date(start.getTime() + 5 * 24 * HOUR) }])))).toBe(false);
    expect(isCurrent(fired, now(file([{ type: tpb.MeasureType.MEASURE_TYPE_CRIMINAL_DETENTION, releasedAt: new Date() }])))).toBe(false);
    expect(isCurrent(fired, [])).toBe(false);
    // A moved point is a new alert; the same point fired twice is the same alert.
    const moved = measureTimers(file([{ type: tpb.MeasureType.MEASURE_TYPE_CRIMINAL_DETENTION, endsAt: new Date(start.getTime() + 5 * 24 * HOUR) }]), STATUTORY_RULES)[0]!;
    expect(alertIdOf(moved)).not.toBe(alertIdOf(fired));
    expect(alertIdOf({ ...fired })).toBe(alertIdOf(fired));
  });

  it("keeps a measure's new end in the future and within its statutory maximum", () => {
    const detention = tpb.CoerciveMeasure.fromPartial({ measureId: "m1", type: tpb.MeasureType.MEASURE_TYPE_CRIMINAL_DETENTION, startsAt: start });
    const now = new Date(start.getTime() + HOUR);
    expect(measureEndViolation(detention, new Date(start.getTime() + 30 * 24 * HOUR), now)).toBeUndefined();
    expect(measureEndViolation(detention, new Date(start.getTime() + 38 * 24 * HOUR), now)).toBe("may not go past the statutory maximum of 37 days from the measure's start");
    expect(measureEndViolation(detention, new Date(start.getTime() + HOUR / 2), now)).toBe("must be in the future (release a measure that has ended)");
    expect(measureEndViolation(detention, start, now)).toBe("must be after the measure's start");
    const questioning = { ...detention, type: tpb.MeasureType.MEASURE_TYPE_CONTINUED_QUESTIONING };
    expect(measureEndViolation(questioning, new Date(start.getTime() + 49 * HOUR), now)).toBe("may not go past the statutory maximum of 48 hours from the measure's start");
  });

  it("parses rule overrides and names every problem", () => {
    const parsed = parseDeadlineRules('{"DEADLINE_KIND_CRIMINAL_DETENTION": {"limit": "8s", "warnBefore": ["4s"]}}') as { rules: DeadlineRules };
    expect(parsed.rules.DEADLINE_KIND_CRIMINAL_DETENTION).toEqual({ limitMs: 8000, maxMs: 37 * 24 * HOUR, warnBeforeMs: [4000] });
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

  it("runs a transfer's statutory limit where the law puts it: review and trial at the receiver from receipt, supplementary investigation at the sender", () => {
    const received = new Date("2026-11-20T08:00:00Z");
    const transfer = (partial: Partial<tpb.Transfer>) =>
      tpb.Transfer.fromPartial({
        transferId: "t1",
        case: { caseId: "c1", caseNumber: "N-1", fastTrack: false, parties: [{ partyId: "s", role: common.PartyRole.PARTY_ROLE_SUSPECT, name: "孙某" }] },
        sender: common.Agency.AGENCY_POLICE,
        recipient: common.Agency.AGENCY_PROSECUTION,
        purpose: tpb.TransferPurpose.TRANSFER_PURPOSE_PROSECUTION_REVIEW,
        state: tpb.TransferState.TRANSFER_STATE_RECEIVED,
        receivedAt: received,
        updatedAt: received,
        ...partial,
      });
    const at = (t: tpb.Transfer, agency: common.Agency) => transferTimers(t, agency, STATUTORY_RULES).map((p) => [dpb.deadlineKindToJSON(p.kind), dpb.alertLevelToJSON(p.level), p.dueAt!.toISOString(), p.roles.join(",")]);
    expect(at(transfer({}), common.Agency.AGENCY_PROSECUTION)).toEqual([
      ["DEADLINE_KIND_PROSECUTION_REVIEW", "ALERT_LEVEL_WARNING", "2026-12-20T08:00:00.000Z", "prosecutor"],
      ["DEADLINE_KIND_PROSECUTION_REVIEW", "ALERT_LEVEL_EXPIRED", "2026-12-20T08:00:00.000Z", "prosecutor"],
    ]);
    const fast = transfer({ case: { caseId: "c1", caseNumber: "N-1", fastTrack: true, parties: [] } as unknown as tpb.Case });
    expect(at(fast, common.Agency.AGENCY_PROSECUTION)[1]![2]).toBe("2026-11-30T08:00:00.000Z");
    // The sender runs nothing while the prosecution reviews; the review stops once concluded (indicted) or returned.
    expect(at(transfer({}), common.Agency.AGENCY_POLICE)).toEqual([]);
    expect(at(transfer({ state: tpb.TransferState.TRANSFER_STATE_ACCEPTED, concludedBy: "indicted" }), common.Agency.AGENCY_PROSECUTION)).toEqual([]);
    const returned = transfer({ state: tpb.TransferState.TRANSFER_STATE_RETURNED, returnReason: tpb.ReturnReason.RETURN_REASON_SUPPLEMENTARY_INVESTIGATION });
    expect(at(returned, common.Agency.AGENCY_PROSECUTION)).toEqual([]);
    expect(at(returned, common.Agency.AGENCY_POLICE)[1]).toEqual(["DEADLINE_KIND_SUPPLEMENTARY_INVESTIGATION", "ALERT_LEVEL_EXPIRED", "2026-12-20T08:00:00.000Z", "police-legal,unit-leader"]);
    const trial = transfer({ sender: common.Agency.AGENCY_PROSECUTION, recipient: common.Agency.AGENCY_COURT, purpose: tpb.TransferPurpose.TRANSFER_PURPOSE_INDICTMENT });
    expect(at(trial, common.Agency.AGENCY_COURT)[1]).toEqual(["DEADLINE_KIND_TRIAL", "ALERT_LEVEL_EXPIRED", "2027-01-19T08:00:00.000Z", "judge,court-clerk"]);
    expect(at({ ...trial, concludedBy: "judgment" }, common.Agency.AGENCY_COURT)).toEqual([]);
    // A moved receipt (a resubmission received again) moves the timers; the ids stay.
    const again = transfer({ receivedAt: new Date("2026-11-25T08:00:00Z") });
    const { set, cancel } = timerChanges(transferTimers(transfer({}), common.Agency.AGENCY_PROSECUTION, STATUTORY_RULES), transferTimers(again, common.Agency.AGENCY_PROSECUTION, STATUTORY_RULES));
    expect([set.length, cancel.length]).toEqual([2, 0]);
  });

  it("sends an alert to the officer in charge and to the unit leaders of the case's unit, and to its legal unit once escalated", () => {
    const alert = dpb.Alert.fromPartial({ recipients: ["officer.wang"], roles: ["unit-leader"], unitId: "320582-PSB-YANGSHE" });
    const yangshe = ["320582-PSB-YANGSHE"];
    const legal = ["320582-PSB-LEGAL", "320582-PSB-YANGSHE", "320582-PSB-JINGANG"];
    expect(isAudience(alert, "officer.wang", ["police-officer"], yangshe)).toBe(true);
    expect(isAudience(alert, "leader.qian", ["unit-leader"], yangshe)).toBe(true);
    expect(isAudience(alert, "legal.li", ["police-legal"], legal)).toBe(false);
    expect(isAudience({ ...alert, roles: ["unit-leader", "police-legal"] }, "legal.li", ["police-legal"], legal)).toBe(true);
    // The leader of another station, and another county's legal unit, do not get it; the officer in charge always does.
    expect(isAudience(alert, "leader.x", ["unit-leader"], ["320582-PSB-JINGANG"])).toBe(false);
    expect(isAudience({ ...alert, roles: ["unit-leader", "police-legal"] }, "legal.xu", ["police-legal"], ["320581-PSB-LEGAL", "320581-PSB-YUSHAN"])).toBe(false);
    expect(isAudience({ ...alert, unitId: "" }, "officer.wang", ["police-officer"], [])).toBe(true);
  });
});
