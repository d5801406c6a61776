import { common, transfer as pb } from "@casebridge/proto";
import { addMonths, runningDeadlines } from "./deadlines";

const POLICE = common.Agency.AGENCY_POLICE;
const PROSECUTION = common.Agency.AGENCY_PROSECUTION;
const created = new Date("2026-01-31T08:00:00Z");

function transfer(overrides: Partial<pb.Transfer>, fastTrack = false): pb.Transfer {
  return pb.Transfer.fromPartial({
    transferId: "t1",
    case: { caseId: "c1", caseNumber: "N-1", fastTrack },
    sender: POLICE,
    recipient: PROSECUTION,
    purpose: pb.TransferPurpose.TRANSFER_PURPOSE_PROSECUTION_REVIEW,
    createdAt: created,
    ...overrides,
  });
}

describe("runningDeadlines", () => {
  it("gives the prosecution one month to review, ten days on the fast track", () => {
    const [normal] = runningDeadlines([transfer({ state: pb.TransferState.TRANSFER_STATE_RECEIVED })], [], PROSECUTION);
    expect(normal).toMatchObject({ kind: "prosecution-review", dueAt: new Date("2026-03-03T08:00:00Z") });
    const [fast] = runningDeadlines([transfer({ state: pb.TransferState.TRANSFER_STATE_ACCEPTED }, true)], [], PROSECUTION);
    expect(fast).toMatchObject({ kind: "prosecution-review", dueAt: new Date("2026-02-10T08:00:00Z") });
  });

  it("gives the police one month after a return for supplementary investigation, and nothing for other returns", () => {
    const returnedAt = new Date("2026-02-05T00:00:00Z");
    const supplementary = transfer({ state: pb.TransferState.TRANSFER_STATE_RETURNED, returnReason: pb.ReturnReason.RETURN_REASON_SUPPLEMENTARY_INVESTIGATION, updatedAt: returnedAt });
    expect(runningDeadlines([supplementary], [], POLICE)).toEqual([expect.objectContaining({ kind: "supplementary-investigation", startedAt: returnedAt, dueAt: new Date("2026-03-05T00:00:00Z") })]);
    const incomplete = { ...supplementary, returnReason: pb.ReturnReason.RETURN_REASON_INCOMPLETE_BUNDLE };
    expect(runningDeadlines([incomplete], [], POLICE)).toEqual([]);
    expect(runningDeadlines([supplementary], [], PROSECUTION)).toEqual([]);
  });

  it("stops counting once a transfer is withdrawn or rejected", () => {
    expect(runningDeadlines([transfer({ state: pb.TransferState.TRANSFER_STATE_WITHDRAWN })], [], PROSECUTION)).toEqual([]);
    expect(runningDeadlines([transfer({ state: pb.TransferState.TRANSFER_STATE_REJECTED })], [], PROSECUTION)).toEqual([]);
  });

  it("stops the review clock once the case is indicted, and the trial clock once the case is judged", () => {
    const review = transfer({ state: pb.TransferState.TRANSFER_STATE_ACCEPTED });
    const indictment = transfer({ transferId: "t2", parentTransferId: "t1", sender: PROSECUTION, recipient: common.Agency.AGENCY_COURT, purpose: pb.TransferPurpose.TRANSFER_PURPOSE_INDICTMENT, state: pb.TransferState.TRANSFER_STATE_DELIVERED });
    expect(runningDeadlines([review, indictment], [], PROSECUTION)).toEqual([]);
    const atCourt = { ...indictment, state: pb.TransferState.TRANSFER_STATE_ACCEPTED };
    expect(runningDeadlines([atCourt], [], common.Agency.AGENCY_COURT)).toHaveLength(1);
    expect(runningDeadlines([atCourt], [], common.Agency.AGENCY_COURT, new Set(["c1"]))).toEqual([]);
  });

  it("gives the court two months, ten days on the fast track", () => {
    const indictment = transfer({ sender: PROSECUTION, recipient: common.Agency.AGENCY_COURT, purpose: pb.TransferPurpose.TRANSFER_PURPOSE_INDICTMENT, state: pb.TransferState.TRANSFER_STATE_RECEIVED });
    expect(runningDeadlines([indictment], [], common.Agency.AGENCY_COURT)[0]).toMatchObject({ kind: "trial", dueAt: new Date("2026-03-31T08:00:00Z") });
  });

  it("lists the end of each coercive measure, soonest first", () => {
    const file = pb.CaseFile.fromPartial({
      case: {
        caseId: "c2",
        caseNumber: "N-2",
        measures: [
          { measureId: "m1", type: pb.MeasureType.MEASURE_TYPE_BAIL, startsAt: created, endsAt: addMonths(created, 12) },
          { measureId: "m2", type: pb.MeasureType.MEASURE_TYPE_CRIMINAL_DETENTION, startsAt: created, endsAt: new Date(created.getTime() + 3 * 86_400_000) },
          // No end set: it runs to the statutory limit (continued questioning, 24 h); a lifted one has no deadline.
          { measureId: "m3", type: pb.MeasureType.MEASURE_TYPE_CONTINUED_QUESTIONING, startsAt: created },
          { measureId: "m4", type: pb.MeasureType.MEASURE_TYPE_BAIL, startsAt: created, releasedAt: created },
        ],
      },
    });
    const deadlines = runningDeadlines([transfer({ state: pb.TransferState.TRANSFER_STATE_RECEIVED })], [file], PROSECUTION);
    expect(deadlines.map((d) => [d.kind, d.rule])).toEqual([
      ["measure-ends", "MEASURE_TYPE_CONTINUED_QUESTIONING"],
      ["measure-ends", "MEASURE_TYPE_CRIMINAL_DETENTION"],
      ["prosecution-review", expect.any(String)],
      ["measure-ends", "MEASURE_TYPE_BAIL"],
    ]);
    expect(deadlines[0]!.dueAt).toEqual(new Date(created.getTime() + 24 * 3_600_000));
  });
});
