import { type common, transfer as pb } from "@casebridge/proto";
import { measureDueAt } from "../deadlines/domain";

const { TransferState: State, TransferPurpose: Purpose } = pb;

/** A statutory time limit running on a case at this agency. */
export interface Deadline {
  readonly caseId: string;
  readonly caseNumber: string;
  /** The transfer the limit runs on; empty for a coercive measure. */
  readonly transferId: string;
  /** What must happen by then: "supplementary-investigation", "prosecution-review", "trial" or "measure-ends". */
  readonly kind: "supplementary-investigation" | "prosecution-review" | "trial" | "measure-ends";
  readonly startedAt: Date;
  readonly dueAt: Date;
  /** The rule, e.g. "退回补充侦查: 1 month". */
  readonly rule: string;
}

const DAY_MS = 86_400_000;

/** `date` plus whole calendar months (UTC), as the procedure law counts them. */
export function addMonths(date: Date, months: number): Date {
  const next = new Date(date.getTime());
  next.setUTCMonth(next.getUTCMonth() + months);
  return next;
}

/**
 * The time limits running at an agency, soonest first, from its transfers (both boxes) and case
 * files: supplementary investigation (1 month from the return), prosecution review (10 days
 * fast-track, else 1 month), trial (10 days fast-track, else 2 months), and the end of each coercive
 * measure. Limits count from the transfer's creation, the measure's end as recorded. A transfer that
 * another one continues (the indictment after the review) or whose case is `concluded` here (judged)
 * has no running limit.
 */
export function runningDeadlines(transfers: readonly pb.Transfer[], caseFiles: readonly pb.CaseFile[], agency: common.Agency, concluded: ReadonlySet<string> = new Set()): Deadline[] {
  const deadlines: Deadline[] = [];
  const continued = new Set(transfers.map((t) => t.parentTransferId).filter(Boolean));
  for (const transfer of transfers) {
    if (continued.has(transfer.transferId) || concluded.has(transfer.case?.caseId ?? "")) continue;
    const kase = transfer.case;
    const startedAt = transfer.createdAt;
    if (!kase || !startedAt) continue;
    const base = { caseId: kase.caseId, caseNumber: kase.caseNumber, transferId: transfer.transferId, startedAt };
    const sentBack = transfer.state === State.TRANSFER_STATE_RETURNED && transfer.returnReason === pb.ReturnReason.RETURN_REASON_SUPPLEMENTARY_INVESTIGATION;
    if (transfer.sender === agency && sentBack) {
      const returnedAt = transfer.updatedAt ?? startedAt;
      deadlines.push({ ...base, startedAt: returnedAt, kind: "supplementary-investigation", dueAt: addMonths(returnedAt, 1), rule: "退回补充侦查: 1 month" });
    }
    const pending = transfer.state === State.TRANSFER_STATE_RECEIVED || transfer.state === State.TRANSFER_STATE_ACCEPTED;
    if (transfer.recipient !== agency || !pending) continue;
    if (transfer.purpose === Purpose.TRANSFER_PURPOSE_PROSECUTION_REVIEW) {
      deadlines.push(
        kase.fastTrack
          ? { ...base, kind: "prosecution-review", dueAt: new Date(startedAt.getTime() + 10 * DAY_MS), rule: "速裁审查起诉: 10 days" }
          : { ...base, kind: "prosecution-review", dueAt: addMonths(startedAt, 1), rule: "审查起诉: 1 month" },
      );
    } else if (transfer.purpose === Purpose.TRANSFER_PURPOSE_INDICTMENT) {
      deadlines.push(
        kase.fastTrack
          ? { ...base, kind: "trial", dueAt: new Date(startedAt.getTime() + 10 * DAY_MS), rule: "速裁审理: 10 days" }
          : { ...base, kind: "trial", dueAt: addMonths(startedAt, 2), rule: "公诉案件审理: 2 months" },
      );
    }
  }
  for (const file of caseFiles) {
    for (const measure of file.case?.measures ?? []) {
      // A measure without a set end runs to its statutory limit; a lifted one has no deadline.
      const dueAt = measureDueAt(measure);
      if (!dueAt || !measure.startsAt) continue;
      deadlines.push({ caseId: file.case!.caseId, caseNumber: file.case!.caseNumber, transferId: "", kind: "measure-ends", startedAt: measure.startsAt, dueAt, rule: pb.measureTypeToJSON(measure.type) });
    }
  }
  return deadlines.sort((a, b) => a.dueAt.getTime() - b.dueAt.getTime());
}
