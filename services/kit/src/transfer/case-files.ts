import { randomUUID } from "node:crypto";
import { type common, transfer as pb } from "@casebridge/proto";
import type { Actor } from "../actor";
import { AlreadyExistsError, FailedPreconditionError, InvalidArgumentError, NotFoundError, PermissionDeniedError } from "../errors";
import type { AggregateCodec, AggregateStore, OutboxItem } from "../runtime/aggregate-store";
import type { DurableRuntime } from "../runtime/durable-runtime";
import { auditOutboxItem, timelineOutboxItem } from "../runtime/outbox-items";
import { newestFirst } from "../runtime/paging";
import type { ViewCollection } from "../runtime/view-collection";
import { measureEndViolation, STATUTORY_RULES, type DeadlineRules } from "../deadlines/domain";
import { caseViolations, documentViolations, reviewViolations } from "./domain";
import { approvalHolds, caseFileDigest } from "../trust/binding";
import { agencyUnitOf, mayAccess, unitOf, visibleUnits, type UnitMember } from "../units/units";

/** How case files are stored. */
export const CASE_FILE_CODEC: AggregateCodec<pb.CaseFile> = { encode: (c) => pb.CaseFile.encode(c).finish(), decode: (b) => pb.CaseFile.decode(b) };

/** How a case number's reservation is stored: the id of the case that holds it. */
const CASE_ID_CODEC: AggregateCodec<string> = { encode: (id) => Buffer.from(id), decode: (bytes) => Buffer.from(bytes).toString("utf8") };

/** The form in which two case numbers are the same: Unicode NFKC (full-width brackets and digits as half-width), no surrounding or doubled spaces, Latin letters in capitals. */
export function caseNumberKey(caseNumber: string): string {
  return caseNumber.normalize("NFKC").trim().replace(/\s+/g, " ").toUpperCase();
}

/** Registers the list of case files (the approval queue) with a runtime's projector. */
export function registerCaseView(runtime: DurableRuntime, changed?: (file: pb.CaseFile) => void): ViewCollection {
  return runtime.view({
    kind: "case",
    codec: CASE_FILE_CODEC,
    indexes: [{ updatedAt: -1 }, { unit: 1, updatedAt: -1 }],
    fields: (c) => ({ approved: c.approved, returned: c.returnedToOfficer, unit: c.case?.issuer?.unitId ?? "", updatedAt: c.case?.openedAt ?? new Date(0) }),
    changed,
  });
}

/**
 * An agency's case files: opened with their documents sealed, approved by the legal unit, given
 * more documents, their coercive measures extended or lifted; each change with its timeline entry
 * and audit record (other modules add what they commit with it through `cases.onChange`).
 */
export class CaseFiles {
  readonly cases: AggregateStore<pb.CaseFile>;
  readonly caseView: ViewCollection;
  /** Which case holds each case number (unique in the agency). */
  private readonly caseNumbers: AggregateStore<string>;

  constructor(
    runtime: DurableRuntime,
    private readonly agency: common.Agency,
    /** Seals documents with the agency's seal and stores them (the transfer engine's). */
    private readonly seal: (inputs: readonly pb.DocumentInput[]) => Promise<pb.BundleDocument[]>,
    private readonly clock: () => Date,
    changed?: (file: pb.CaseFile) => void,
    /** The deadline rules in force (the statutory maxima of extensions). */
    private readonly rules: DeadlineRules = STATUTORY_RULES,
  ) {
    this.cases = runtime.store("case", CASE_FILE_CODEC);
    this.caseNumbers = runtime.store("case-number", CASE_ID_CODEC);
    this.caseView = registerCaseView(runtime, changed);
  }

  /**
   * Opens a case with its documents sealed by this agency. The issuing unit is the caller's unit
   * (token): `case.issuer` is output only, ignored in a request like every output-only field.
   */
  async openCase(actor: Actor, kase: pb.Case | undefined, inputs: readonly pb.DocumentInput[]): Promise<pb.CaseFile> {
    const unit = unitOf(actor.unit, this.agency);
    if (!unit) throw new PermissionDeniedError(`${actor.user} belongs to no unit of this agency (unit claim "${actor.unit}") and cannot open cases`);
    const violations = [...caseViolations(kase), ...documentViolations(inputs, "documents")];
    if (violations.length > 0) throw new InvalidArgumentError("invalid case", violations);
    const opened: pb.Case = { ...kase!, issuer: agencyUnitOf(unit), openedAt: kase!.openedAt ?? this.clock() };
    if (await this.cases.get(opened.caseId)) throw new AlreadyExistsError(`case ${opened.caseId} exists already`);
    await this.reserveCaseNumber(opened);
    const file: pb.CaseFile = { case: opened, documents: await this.seal(inputs), approved: false, approvedBy: "", openedBy: actor.user, approvedDigest: "", reviews: [], returnedToOfficer: false };
    const entry = pb.TimelineEntry.fromPartial({ entryId: randomUUID(), caseId: opened.caseId, at: this.clock(), agency: this.agency, actor: actor.user, action: "opened", detail: opened.caseNumber });
    const inserted = await this.cases.insert(opened.caseId, {
      value: file,
      outbox: [
        timelineOutboxItem(entry),
        this.caseAuditItem(actor.user, "case.opened", file),
      ],
    });
    if (!inserted) throw new AlreadyExistsError(`case ${opened.caseId} exists already`);
    return file;
  }

  /**
   * Reserves a case's number for it (create-if-absent, so two cases opened at once cannot both have
   * it); AlreadyExistsError when another case holds it. A reservation whose case does not exist or
   * has another number (an opening that failed after reserving) is taken over.
   */
  private async reserveCaseNumber(kase: pb.Case): Promise<void> {
    const key = caseNumberKey(kase.caseNumber);
    if (await this.caseNumbers.insert(key, { value: kase.caseId, outbox: [] })) return;
    const holder = await this.caseNumbers.get(key);
    if (!holder || holder.value === kase.caseId) return;
    const held = await this.cases.get(holder.value);
    if (held && caseNumberKey(held.value.case?.caseNumber ?? "") === key) {
      throw new AlreadyExistsError(`case number ${kase.caseNumber} is taken: another case of this agency has it; check the number`);
    }
    await this.caseNumbers.mutate(key, ({ value }) => (value === holder.value ? { value: kase.caseId, outbox: [] } : undefined));
    if ((await this.caseNumbers.get(key))?.value !== kase.caseId) throw new AlreadyExistsError(`case number ${kase.caseNumber} is taken: another case of this agency has it; check the number`);
  }

  /**
   * Records the legal unit's review of a case (法制审核): an approval of exactly its current content,
   * or, with a reason, sending it back to the officer in charge (it cannot leave until the officer
   * changed it and the legal unit approved it). Every review is kept with its opinion.
   */
  async approveCase(actor: Actor, caseId: string, decision: pb.ReviewDecision = pb.ReviewDecision.REVIEW_DECISION_APPROVE, opinion = ""): Promise<pb.CaseFile> {
    const violations = reviewViolations(decision, opinion);
    if (violations.length > 0) throw new InvalidArgumentError("invalid review", violations);
    const returning = decision === pb.ReviewDecision.REVIEW_DECISION_RETURN_TO_OFFICER;
    const stored = await this.cases.mutate(caseId, ({ value }) => {
      if (!mayAccess(actor, caseUnit(value))) throw new NotFoundError(`no case ${caseId}`);
      if (approvalHolds(value)) throw new FailedPreconditionError(`case ${caseId} is approved already`);
      if (returning && value.returnedToOfficer) throw new FailedPreconditionError(`case ${caseId} is with the officer already; it comes back when documents are added`);
      const review: pb.CaseReview = { reviewer: actor.user, at: this.clock(), decision: returning ? decision : pb.ReviewDecision.REVIEW_DECISION_APPROVE, opinion: opinion.trim() };
      const reviews = [...value.reviews, review];
      if (returning) {
        const next = { ...value, approved: false, approvedBy: "", approvedDigest: "", returnedToOfficer: true, reviews };
        const entry = pb.TimelineEntry.fromPartial({ entryId: randomUUID(), caseId, at: this.clock(), agency: this.agency, actor: actor.user, action: "returned-to-officer", detail: review.opinion });
        return { value: next, outbox: [timelineOutboxItem(entry), this.caseAuditItem(actor.user, "case.returned-to-officer", next)] };
      }
      const approvedDigest = caseFileDigest(value);
      const next = { ...value, approved: true, approvedBy: actor.user, approvedDigest, returnedToOfficer: false, reviews };
      const detail = review.opinion ? `${review.opinion} (content digest ${approvedDigest})` : `content digest ${approvedDigest}`;
      const entry = pb.TimelineEntry.fromPartial({ entryId: randomUUID(), caseId, at: this.clock(), agency: this.agency, actor: actor.user, action: "approved", detail });
      return { value: next, outbox: [timelineOutboxItem(entry), this.caseAuditItem(actor.user, "case.approved", next)] };
    });
    if (!stored) throw new NotFoundError(`no case ${caseId}`);
    return stored.value;
  }

  /** Adds sealed documents to a case (e.g. after supplementary investigation). */
  async addDocuments(actor: Actor, caseId: string, inputs: readonly pb.DocumentInput[]): Promise<pb.CaseFile> {
    const current = await this.caseFile(actor, caseId);
    const taken = new Set(current.documents.map((document) => document.ref?.documentId));
    const violations = documentViolations(inputs, "documents").concat(
      inputs.filter((input) => taken.has(input.documentId)).map((input) => ({ field: "documents", description: `document ${input.documentId} exists already` })),
    );
    if (violations.length > 0) throw new InvalidArgumentError("invalid documents", violations);
    const added = await this.seal(inputs);
    const stored = await this.cases.mutate(caseId, ({ value }) => {
      // The officer's answer to a return: the case waits for the legal unit again.
      const next = { ...value, documents: [...value.documents, ...added], returnedToOfficer: false };
      return this.withApprovalCheck(actor.user, next, [this.caseAuditItem(actor.user, "case.documents-added", { ...next, documents: added })]);
    });
    return stored!.value;
  }

  /**
   * Extends (new end) or lifts a coercive measure of a case, with a timeline entry and an audit
   * record; the modules hooked in (statutory deadlines) reschedule or cancel in the same write.
   */
  async changeMeasure(actor: Actor, request: pb.ChangeMeasureRequest): Promise<pb.CaseFile> {
    const violations = measureChangeViolations(request);
    if (violations.length > 0) throw new InvalidArgumentError("invalid measure change", violations);
    const stored = await this.cases.mutate(request.caseId, ({ value }) => {
      if (!mayAccess(actor, caseUnit(value))) throw new NotFoundError(`no case ${request.caseId}`);
      const measure = value.case?.measures.find((m) => m.measureId === request.measureId);
      if (!measure) throw new NotFoundError(`case ${request.caseId} has no measure ${request.measureId}`);
      if (measure.releasedAt) throw new FailedPreconditionError(`measure ${request.measureId} was lifted already`);
      const endViolation = request.endsAt ? measureEndViolation(measure, request.endsAt, this.clock(), this.rules) : undefined;
      if (endViolation) throw new InvalidArgumentError("invalid measure change", [{ field: "ends_at", description: endViolation }]);
      const changed: pb.CoerciveMeasure = request.release ? { ...measure, releasedAt: this.clock() } : { ...measure, endsAt: request.endsAt ?? measure.endsAt };
      const next: pb.CaseFile = { ...value, case: { ...value.case!, measures: value.case!.measures.map((m) => (m.measureId === measure.measureId ? changed : m)) } };
      const action = request.release ? "measure-released" : "measure-extended";
      const entry = pb.TimelineEntry.fromPartial({ entryId: randomUUID(), caseId: request.caseId, at: this.clock(), agency: this.agency, actor: actor.user, action, detail: request.reason });
      return this.withApprovalCheck(actor.user, next, [timelineOutboxItem(entry), this.caseAuditItem(actor.user, `case.${action}`, { ...next, documents: [] })]);
    });
    if (!stored) throw new NotFoundError(`no case ${request.caseId}`);
    return stored.value;
  }

  /**
   * A case file of this agency held by a unit `member` sees; NotFoundError otherwise, the same answer
   * as for a case that does not exist, so that other units' case ids are not disclosed.
   */
  async caseFile(member: UnitMember, caseId: string): Promise<pb.CaseFile> {
    const stored = await this.cases.get(caseId);
    if (!stored || !mayAccess(member, caseUnit(stored.value))) throw new NotFoundError(`no case ${caseId}`);
    return stored.value;
  }

  /** Lists the case files of the units `member` sees, newest first, optionally only those waiting for (or having) approval. */
  async listCases(member: UnitMember, request: pb.ListCasesRequest): Promise<pb.ListCasesResponse> {
    const filter: Record<string, unknown> = { unit: { $in: visibleUnits(member) } };
    if (request.approval === pb.Approval.APPROVAL_PENDING) Object.assign(filter, { approved: { $ne: true }, returned: { $ne: true } });
    if (request.approval === pb.Approval.APPROVAL_APPROVED) filter.approved = true;
    if (request.approval === pb.Approval.APPROVAL_RETURNED) filter.returned = true;
    const { values, nextPageToken } = await newestFirst(this.caseView, filter, request.pageSize, request.pageToken);
    return { caseFiles: values.map((bytes) => pb.CaseFile.decode(bytes)), nextPageToken };
  }

  /** A change of an approved case's content voids the approval (recorded): the legal unit approves exactly what leaves. */
  private withApprovalCheck(actor: string, next: pb.CaseFile, outbox: OutboxItem[]): { value: pb.CaseFile; outbox: OutboxItem[] } {
    if (!next.approved || approvalHolds(next)) return { value: next, outbox };
    const voided = { ...next, approved: false, approvedBy: "", approvedDigest: "" };
    const caseId = next.case?.caseId ?? "";
    const entry = pb.TimelineEntry.fromPartial({ entryId: randomUUID(), caseId, at: this.clock(), agency: this.agency, actor, action: "approval-voided", detail: "the case changed after approval; the legal unit must approve it again" });
    return { value: voided, outbox: [...outbox, timelineOutboxItem(entry), this.caseAuditItem(actor, "case.approval-voided", voided)] };
  }

  private caseAuditItem(actor: string, action: string, file: pb.CaseFile): OutboxItem {
    return auditOutboxItem({ entryId: randomUUID(), at: this.clock(), actor, action, subject: `case:${file.case?.caseId ?? ""}`, digests: file.documents.map((document) => document.ref?.sha256 ?? "") });
  }
}

/** The unit that holds a case file: its issuer. */
export function caseUnit(file: pb.CaseFile): string {
  return file.case?.issuer?.unitId ?? "";
}

/** What is wrong with a request to change a measure. */
function measureChangeViolations(request: pb.ChangeMeasureRequest): common.FieldViolation[] {
  const violations: common.FieldViolation[] = [];
  if (!request.caseId.trim()) violations.push({ field: "case_id", description: "must not be empty" });
  if (!request.measureId.trim()) violations.push({ field: "measure_id", description: "must not be empty" });
  if (!request.reason.trim()) violations.push({ field: "reason", description: "must say why (e.g. the approval of the extension)" });
  if (request.release === Boolean(request.endsAt)) violations.push({ field: "ends_at", description: "give either a new end or release, not both or neither" });
  return violations;
}
