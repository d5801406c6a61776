import { common, seal as sealPb, transfer as pb } from "@casebridge/proto";
import { FailedPreconditionError, InvalidArgumentError } from "../errors";
import { MAX_DOCUMENT_BYTES } from "../limits";

const { TransferState: State, ReturnReason: Reason } = pb;

/** At most two returns for supplementary investigation (刑事诉讼法 art. 175). */
export const MAX_SUPPLEMENTARY_RETURNS = 2;

/** A state's name without its enum prefix, for messages: "RECEIVED". */
export function stateName(state: pb.TransferState): string {
  return pb.transferStateToJSON(state).replace("TRANSFER_STATE_", "");
}

/** The sender may resubmit only what came back (returned or rejected). */
export function assertResubmittable(transfer: pb.Transfer): void {
  if (!isResubmittable(transfer)) {
    throw new FailedPreconditionError(`transfer ${transfer.transferId} is ${stateName(transfer.state)}; only a returned or rejected transfer can be resubmitted`);
  }
}

/** Whether a new submission of `transfer` may come: only after a return or a rejection (both sides apply this rule). */
export function isResubmittable(transfer: pb.Transfer): boolean {
  return transfer.state === State.TRANSFER_STATE_RETURNED || transfer.state === State.TRANSFER_STATE_REJECTED;
}

/** The sender may withdraw until the receiver has decided. */
export function assertWithdrawable(transfer: pb.Transfer): void {
  const open = [State.TRANSFER_STATE_SUBMITTED, State.TRANSFER_STATE_DELIVERED, State.TRANSFER_STATE_RECEIVED, State.TRANSFER_STATE_REJECTED, State.TRANSFER_STATE_RETURNED];
  if (!open.includes(transfer.state)) {
    throw new FailedPreconditionError(`transfer ${transfer.transferId} is ${stateName(transfer.state)} and can no longer be withdrawn`);
  }
}

/** The receiver decides (accept or return) only on a received bundle whose seals all verified. */
export function assertDecidable(transfer: pb.Transfer): void {
  if (transfer.state !== State.TRANSFER_STATE_RECEIVED) {
    throw new FailedPreconditionError(`transfer ${transfer.transferId} is ${stateName(transfer.state)}; only a received transfer can be accepted or returned`);
  }
}

/** Checks a return and gives the transfer's count of supplementary-investigation returns after it. */
export function returnCountAfter(transfer: pb.Transfer, reason: pb.ReturnReason, note: string): number {
  assertDecidable(transfer);
  if (reason === Reason.RETURN_REASON_UNSPECIFIED || !(reason in Reason)) {
    throw new InvalidArgumentError("a return needs a reason", [{ field: "reason", description: "must be one of the ReturnReason values" }]);
  }
  if (!note.trim()) throw new InvalidArgumentError("a return needs a note saying what is missing", [{ field: "note", description: "must not be empty" }]);
  if (reason !== Reason.RETURN_REASON_SUPPLEMENTARY_INVESTIGATION) return transfer.supplementaryReturns;
  if (transfer.supplementaryReturns >= MAX_SUPPLEMENTARY_RETURNS) {
    throw new FailedPreconditionError(`the case was already returned for supplementary investigation ${MAX_SUPPLEMENTARY_RETURNS} times; the law allows no more`);
  }
  return transfer.supplementaryReturns + 1;
}

/** The receiver's state for a submission, from the verification of its bundle. */
export function stateAfterVerification(verification: sealPb.BundleVerification): pb.TransferState {
  return verification.status === sealPb.VerificationStatus.VERIFICATION_STATUS_VALID ? State.TRANSFER_STATE_RECEIVED : State.TRANSFER_STATE_REJECTED;
}

/** Whether a status report from the receiver is newer than what the sender holds and concerns its current submission. */
export function isCurrentStatus(transfer: pb.Transfer, status: pb.StatusChange): boolean {
  if (transfer.state === State.TRANSFER_STATE_WITHDRAWN) return false;
  return status.submission === transfer.submission && status.bundleId === (transfer.bundle?.bundleId ?? "") && status.sequence > transfer.statusSequence;
}

/** The sender's transfer after a current status report of the receiver. */
export function applyStatusChange(transfer: pb.Transfer, status: pb.StatusChange, now: Date): pb.Transfer {
  const supplementary = status.state === State.TRANSFER_STATE_RETURNED && status.returnReason === Reason.RETURN_REASON_SUPPLEMENTARY_INVESTIGATION;
  return {
    ...transfer,
    state: status.state,
    verification: status.verification ?? transfer.verification,
    returnReason: status.returnReason,
    returnNote: status.returnNote,
    supplementaryReturns: transfer.supplementaryReturns + (supplementary ? 1 : 0),
    statusSequence: status.sequence,
    updatedAt: now,
  };
}

/**
 * The unit that holds a transfer at `agency`: the sender's unit where it was sent from, the
 * recipient's unit where it arrived. Only that unit and those above it see it there.
 */
export function transferUnit(transfer: pb.Transfer, agency: common.Agency): string {
  if (transfer.sender === agency) return transfer.senderUnit?.unitId ?? "";
  if (transfer.recipient === agency) return transfer.recipientUnit?.unitId ?? "";
  return "";
}

const TOKEN = "[!#$%&'*+.^_`|~0-9A-Za-z-]+";
const MEDIA_TYPE = new RegExp(`^(${TOKEN})/(${TOKEN})((?:[ \\t]*;[ \\t]*${TOKEN}=(?:${TOKEN}|"(?:[^"\\\\\\r\\n]|\\\\.)*"))*)[ \\t]*$`);
const PARAMETER = new RegExp(`;[ \\t]*(${TOKEN})=(${TOKEN}|"(?:[^"\\\\\\r\\n]|\\\\.)*")`, "g");

/**
 * A media type in its normal form (RFC 9110 8.3.1: type/subtype, then parameters), or undefined when
 * `text` is none: type, subtype and parameter names lowercased, `; ` between parameters, values as
 * given (a charset's value lowercased, as it is case-insensitive). E.g. "Text/Plain;charset=UTF-8" →
 * "text/plain; charset=utf-8".
 */
export function normalMediaType(text: string): string | undefined {
  if (text.length > 200) return undefined;
  const match = MEDIA_TYPE.exec(text.trim());
  if (!match) return undefined;
  const parameters = [...match[3]!.matchAll(PARAMETER)].map(([, name, value]) => {
    const key = name!.toLowerCase();
    return `; ${key}=${key === "charset" ? value!.toLowerCase() : value!}`;
  });
  return `${match[1]!.toLowerCase()}/${match[2]!.toLowerCase()}${parameters.join("")}`;
}

/** Validates a document given to an agency service; returns the violations. */
export function documentViolations(documents: readonly pb.DocumentInput[], field: string): common.FieldViolation[] {
  const violations: common.FieldViolation[] = [];
  const ids = new Set<string>();
  documents.forEach((document, index) => {
    const at = `${field}[${index}]`;
    if (!/^[\w.:-]{1,100}$/.test(document.documentId)) violations.push({ field: `${at}.document_id`, description: "1-100 letters, digits, '.', ':', '_' or '-'" });
    if (ids.has(document.documentId)) violations.push({ field: `${at}.document_id`, description: `duplicate id ${document.documentId}` });
    ids.add(document.documentId);
    if (!document.title.trim()) violations.push({ field: `${at}.title`, description: "must not be empty" });
    if (!document.documentType.trim()) violations.push({ field: `${at}.document_type`, description: "must not be empty" });
    if (normalMediaType(document.mediaType) === undefined) violations.push({ field: `${at}.media_type`, description: "must be a media type such as application/pdf or text/plain; charset=utf-8" });
    if (document.content.length === 0) violations.push({ field: `${at}.content`, description: "must not be empty" });
    if (document.content.length > MAX_DOCUMENT_BYTES) violations.push({ field: `${at}.content`, description: `must be at most ${MAX_DOCUMENT_BYTES} bytes` });
  });
  return violations;
}

/** Validates a review of the legal unit: a known decision, an opinion within 2000 characters, and one when the case goes back to the officer. */
export function reviewViolations(decision: pb.ReviewDecision, opinion: string): common.FieldViolation[] {
  const violations: common.FieldViolation[] = [];
  if (![pb.ReviewDecision.REVIEW_DECISION_UNSPECIFIED, pb.ReviewDecision.REVIEW_DECISION_APPROVE, pb.ReviewDecision.REVIEW_DECISION_RETURN_TO_OFFICER].includes(decision)) {
    violations.push({ field: "decision", description: "must be APPROVE or RETURN_TO_OFFICER" });
  }
  if (decision === pb.ReviewDecision.REVIEW_DECISION_RETURN_TO_OFFICER && !opinion.trim()) violations.push({ field: "opinion", description: "say why the case goes back to the officer" });
  if (opinion.length > 2000) violations.push({ field: "opinion", description: "must be at most 2000 characters" });
  return violations;
}

/** Validates a case opened at an agency; returns the violations. */
export function caseViolations(kase: pb.Case | undefined): common.FieldViolation[] {
  if (!kase) return [{ field: "case", description: "is required" }];
  const violations: common.FieldViolation[] = [];
  if (!/^[\w.:-]{1,100}$/.test(kase.caseId)) violations.push({ field: "case.case_id", description: "1-100 letters, digits, '.', ':', '_' or '-'" });
  if (!kase.caseNumber.trim()) violations.push({ field: "case.case_number", description: "must not be empty" });
  if (kase.kind === pb.CaseKind.CASE_KIND_UNSPECIFIED) violations.push({ field: "case.kind", description: "must be CRIMINAL or ADMINISTRATIVE" });
  if (!kase.offence.trim()) violations.push({ field: "case.offence", description: "must not be empty" });
  if (!kase.parties.some((party) => party.role === common.PartyRole.PARTY_ROLE_SUSPECT)) {
    violations.push({ field: "case.parties", description: "a case needs at least one suspect" });
  }
  return violations;
}

/** Seconds the case spent at each agency, from the timeline: from receipt (or opening) to sending it on. */
export function dwellTimes(entries: readonly pb.TimelineEntry[], now: Date): pb.AgencyDwell[] {
  const sorted = [...entries].sort((a, b) => (a.at?.getTime() ?? 0) - (b.at?.getTime() ?? 0));
  const held = new Map<common.Agency, number>();
  let holder: common.Agency | undefined;
  let since = 0;
  const handOver = (to: common.Agency, at: number): void => {
    if (holder !== undefined) held.set(holder, (held.get(holder) ?? 0) + Math.max(0, at - since));
    holder = to;
    since = at;
  };
  for (const entry of sorted) {
    const at = entry.at?.getTime() ?? 0;
    if (holder === undefined && (entry.action === "opened" || entry.action === "submitted")) {
      holder = entry.agency;
      since = at;
    }
    if (entry.action === "received" && entry.agency !== holder) handOver(entry.agency, at);
    if ((entry.action === "returned" || entry.action === "rejected") && entry.counterpart !== common.Agency.AGENCY_UNSPECIFIED) {
      handOver(entry.counterpart, at);
    }
  }
  if (holder !== undefined) handOver(holder, now.getTime());
  return [...held].map(([agency, ms]) => ({ agency, seconds: Math.round(ms / 1000) }));
}
