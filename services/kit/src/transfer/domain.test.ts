import { common, seal as sealPb, transfer as pb } from "@casebridge/proto";
import { FailedPreconditionError, InvalidArgumentError } from "../errors";
import { MAX_DOCUMENT_BYTES } from "../limits";
import { auditHash } from "../runtime/audit-log";
import {
  normalMediaType,
  reviewViolations,
  applyStatusChange,
  assertResubmittable,
  assertWithdrawable,
  caseViolations,
  documentViolations,
  dwellTimes,
  isCurrentStatus,
  returnCountAfter,
  stateAfterVerification,
  transferUnit,
} from "./domain";

const { TransferState: State, ReturnReason: Reason } = pb;
const { Agency } = common;

function transfer(overrides: Partial<pb.Transfer>): pb.Transfer {
  return pb.Transfer.fromPartial({ transferId: "t1", state: State.TRANSFER_STATE_RECEIVED, submission: 1, ...overrides });
}

describe("transfer rules", () => {
  it("says which unit holds a transfer at each side: the sender's unit where it left, the recipient's where it arrived, none elsewhere", () => {
    const sent = transfer({
      sender: Agency.AGENCY_POLICE,
      recipient: Agency.AGENCY_PROSECUTION,
      senderUnit: { agency: Agency.AGENCY_POLICE, unitId: "320582-PSB-YANGSHE", name: "" },
      recipientUnit: { agency: Agency.AGENCY_PROSECUTION, unitId: "320582-PRO", name: "" },
    });
    expect(transferUnit(sent, Agency.AGENCY_POLICE)).toBe("320582-PSB-YANGSHE");
    expect(transferUnit(sent, Agency.AGENCY_PROSECUTION)).toBe("320582-PRO");
    expect(transferUnit(sent, Agency.AGENCY_COURT)).toBe("");
    expect(transferUnit(transfer({ sender: Agency.AGENCY_POLICE, recipient: Agency.AGENCY_PROSECUTION }), Agency.AGENCY_PROSECUTION)).toBe("");
  });

  it("allows two returns for supplementary investigation, not a third; other reasons do not count", () => {
    expect(returnCountAfter(transfer({ supplementaryReturns: 0 }), Reason.RETURN_REASON_SUPPLEMENTARY_INVESTIGATION, "statement missing")).toBe(1);
    expect(returnCountAfter(transfer({ supplementaryReturns: 1 }), Reason.RETURN_REASON_SUPPLEMENTARY_INVESTIGATION, "again")).toBe(2);
    expect(() => returnCountAfter(transfer({ supplementaryReturns: 2 }), Reason.RETURN_REASON_SUPPLEMENTARY_INVESTIGATION, "third")).toThrow(FailedPreconditionError);
    expect(returnCountAfter(transfer({ supplementaryReturns: 2 }), Reason.RETURN_REASON_NOT_COMPETENT, "wrong court")).toBe(2);
    expect(() => returnCountAfter(transfer({}), Reason.RETURN_REASON_UNSPECIFIED, "x")).toThrow(InvalidArgumentError);
    expect(() => returnCountAfter(transfer({}), Reason.RETURN_REASON_OTHER, "  ")).toThrow(/needs a note/);
    expect(() => returnCountAfter(transfer({ state: State.TRANSFER_STATE_ACCEPTED }), Reason.RETURN_REASON_OTHER, "x")).toThrow(/only a received transfer/);
  });

  it("resubmits only what came back, and withdraws only what is undecided", () => {
    expect(() => assertResubmittable(transfer({ state: State.TRANSFER_STATE_RETURNED }))).not.toThrow();
    expect(() => assertResubmittable(transfer({ state: State.TRANSFER_STATE_REJECTED }))).not.toThrow();
    expect(() => assertResubmittable(transfer({ state: State.TRANSFER_STATE_RECEIVED }))).toThrow(FailedPreconditionError);
    expect(() => assertWithdrawable(transfer({ state: State.TRANSFER_STATE_DELIVERED }))).not.toThrow();
    expect(() => assertWithdrawable(transfer({ state: State.TRANSFER_STATE_ACCEPTED }))).toThrow(/no longer be withdrawn/);
  });

  it("applies a status report only when it is newer and about the current submission", () => {
    const held = transfer({ state: State.TRANSFER_STATE_DELIVERED, submission: 2, statusSequence: 3, bundle: { bundleId: "b2", manifestKey: "", manifestSealKey: "", documents: [] } });
    const returned: pb.StatusChange = { state: State.TRANSFER_STATE_RETURNED, submission: 2, sequence: 5, returnReason: Reason.RETURN_REASON_SUPPLEMENTARY_INVESTIGATION, returnNote: "x", verification: undefined, bundleId: "b2" };
    expect(isCurrentStatus(held, returned)).toBe(true);
    expect(isCurrentStatus(held, { ...returned, sequence: 3 })).toBe(false);
    expect(isCurrentStatus(held, { ...returned, submission: 1 })).toBe(false);
    // A receipt for another bundle (an older one, or one never sent) is not about this submission.
    expect(isCurrentStatus(held, { ...returned, bundleId: "b1" })).toBe(false);
    expect(isCurrentStatus({ ...held, state: State.TRANSFER_STATE_WITHDRAWN }, returned)).toBe(false);
    const after = applyStatusChange(held, returned, new Date());
    expect(after).toMatchObject({ state: State.TRANSFER_STATE_RETURNED, statusSequence: 5, supplementaryReturns: 1 });
    // The late "received" of the same submission (sequence 4) no longer applies.
    expect(isCurrentStatus(after, { ...returned, state: State.TRANSFER_STATE_RECEIVED, sequence: 4 })).toBe(false);
  });

  it("receives a bundle only when every seal verified", () => {
    expect(stateAfterVerification({ status: sealPb.VerificationStatus.VERIFICATION_STATUS_VALID, documents: [] })).toBe(State.TRANSFER_STATE_RECEIVED);
    expect(stateAfterVerification({ status: sealPb.VerificationStatus.VERIFICATION_STATUS_INDETERMINATE, documents: [] })).toBe(State.TRANSFER_STATE_REJECTED);
    expect(stateAfterVerification({ status: sealPb.VerificationStatus.VERIFICATION_STATUS_INVALID, documents: [] })).toBe(State.TRANSFER_STATE_REJECTED);
  });

  it("names every problem of a case and its documents", () => {
    expect(caseViolations(pb.Case.fromPartial({ caseId: "bad id!" })).map((v) => v.field)).toEqual(["case.case_id", "case.case_number", "case.kind", "case.offence", "case.parties"]);
    const big = { documentId: "d", title: "t", documentType: "x", mediaType: "application/pdf", content: Buffer.alloc(MAX_DOCUMENT_BYTES + 1) };
    expect(documentViolations([big, { ...big, content: Buffer.from("a"), mediaType: "pdf" }], "documents")).toEqual([
      { field: "documents[0].content", description: `must be at most ${MAX_DOCUMENT_BYTES} bytes` },
      { field: "documents[1].document_id", description: "duplicate id d" },
      { field: "documents[1].media_type", description: "must be a media type such as application/pdf or text/plain; charset=utf-8" },
    ]);
  });

  it("measures the time a case spent at each agency from the timeline", () => {
    const at = (minutes: number) => new Date(Date.UTC(2026, 10, 23, 8, minutes));
    const entry = (minutes: number, agency: common.Agency, action: string, counterpart = Agency.AGENCY_UNSPECIFIED): pb.TimelineEntry =>
      pb.TimelineEntry.fromPartial({ entryId: `${minutes}`, at: at(minutes), agency, action, counterpart });
    const entries = [
      entry(0, Agency.AGENCY_POLICE, "opened"),
      entry(10, Agency.AGENCY_POLICE, "submitted"),
      entry(20, Agency.AGENCY_PROSECUTION, "received"),
      entry(50, Agency.AGENCY_PROSECUTION, "returned", Agency.AGENCY_POLICE),
      entry(70, Agency.AGENCY_PROSECUTION, "received"),
      entry(100, Agency.AGENCY_COURT, "received"),
    ];
    expect(dwellTimes(entries, at(130))).toEqual([
      { agency: Agency.AGENCY_POLICE, seconds: (20 + 20) * 60 },
      { agency: Agency.AGENCY_PROSECUTION, seconds: (30 + 30) * 60 },
      { agency: Agency.AGENCY_COURT, seconds: 30 * 60 },
    ]);
  });
});

describe("audit hash", () => {
  it("changes with any field and with the previous hash", () => {
    const record = { entryId: "e1", at: new Date("2026-11-23T08:00:00Z"), actor: "legal.li", action: "transfer.submitted", subject: "transfer:t1", digests: ["ab"] };
    const base = auditHash("0".repeat(64), 1, record);
    expect(base).toMatch(/^[0-9a-f]{64}$/);
    expect(auditHash("0".repeat(64), 1, { ...record, actor: "x" })).not.toBe(base);
    expect(auditHash("0".repeat(64), 1, { ...record, digests: ["ac"] })).not.toBe(base);
    expect(auditHash("1".repeat(64), 1, record)).not.toBe(base);
    expect(auditHash("0".repeat(64), 2, record)).not.toBe(base);
  });
});

describe("media types (RFC 9110)", () => {
  it("takes a type with parameters, as browsers send it, in its normal form", () => {
    expect(normalMediaType("text/plain; charset=utf-8")).toBe("text/plain; charset=utf-8");
    expect(normalMediaType("Text/Plain;Charset=UTF-8")).toBe("text/plain; charset=utf-8");
    expect(normalMediaType("application/pdf")).toBe("application/pdf");
    expect(normalMediaType('multipart/mixed; boundary="a b;c"')).toBe('multipart/mixed; boundary="a b;c"');
    expect(normalMediaType("application/vnd.openxmlformats-officedocument.wordprocessingml.document")).toBe("application/vnd.openxmlformats-officedocument.wordprocessingml.document");
  });

  it("refuses what is no media type", () => {
    for (const bad of ["", "pdf", "text/", "/plain", "text/plain;", "text/plain; charset", "text/plain; charset=\"open", "text/plain\r\nx-evil: 1", "text /plain", "a/b/c", `text/plain; x=${"y".repeat(200)}`]) {
      expect([bad, normalMediaType(bad)]).toEqual([bad, undefined]);
    }
  });
});

describe("the legal unit's review", () => {
  it("needs an opinion to send a case back, and none to approve", () => {
    expect(reviewViolations(pb.ReviewDecision.REVIEW_DECISION_APPROVE, "")).toEqual([]);
    expect(reviewViolations(pb.ReviewDecision.REVIEW_DECISION_UNSPECIFIED, "同意")).toEqual([]);
    expect(reviewViolations(pb.ReviewDecision.REVIEW_DECISION_RETURN_TO_OFFICER, "  ").map((v) => v.field)).toEqual(["opinion"]);
    expect(reviewViolations(pb.ReviewDecision.REVIEW_DECISION_RETURN_TO_OFFICER, "缺少被害人陈述")).toEqual([]);
    expect(reviewViolations(pb.ReviewDecision.REVIEW_DECISION_APPROVE, "x".repeat(2001)).map((v) => v.field)).toEqual(["opinion"]);
    expect(reviewViolations(99 as pb.ReviewDecision, "").map((v) => v.field)).toEqual(["decision"]);
  });
});
