import { randomUUID } from "node:crypto";
import type { JetStreamClient } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import type { Logger } from "pino";
import { type common, seal as sealPb, transfer as pb, trust as tpb } from "@casebridge/proto";
import type { Actor } from "../actor";
import { FailedPreconditionError, InvalidArgumentError, NotFoundError } from "../errors";
import { consumeEvents, ensureConsumer, ensureStream, type RunningConsumer } from "../jetstream";
import { sealAgencyOf, verifyBundle, type ReceivedDocument, type ServiceSeals } from "../seal";
import { bindingMismatches, caseSha256 } from "../trust/binding";
import { envelopeOutboxItem, type OpenedEnvelope } from "../trust/envelope";
import { EnvelopeInbox, type Refused } from "../trust/inbox";
import { IncidentRegister, INCIDENT_NOTICE_TYPE } from "../trust/incidents";
import { assertLegalRoute, legalRoute, reachableDownstream, routeRefusal } from "../trust/routes";
import type { AggregateCodec, AggregateStore, Change, OutboxItem, Stored } from "../runtime/aggregate-store";
import type { AuditLog } from "../runtime/audit-log";
import type { DurableRuntime } from "../runtime/durable-runtime";
import type { TimelineRepository } from "../runtime/timeline.repository";
import { auditOutboxItem, timelineOutboxItem } from "../runtime/outbox-items";
import { SEQUENCE_CODEC, Sequences } from "../runtime/sequences";
import { pageByUpdate } from "../runtime/paging";
import { transferListFields, transferListFilter, transferListOrder } from "./transfer-list";
import type { ViewCollection } from "../runtime/view-collection";
import type { DeadlineRules } from "../deadlines/domain";
import { agencyUnitOf, mayAccess, recipientUnitFor, unitOf, visibleUnits, type UnitMember } from "../units/units";
import { CaseFiles } from "./case-files";
import { DocumentIntegrityError, DocumentStore } from "./document-store";
import { MAX_SERVED_PACKAGE_BYTES, transferEvidencePackage } from "./evidence";
import {
  assertDecidable,
  assertResubmittable,
  assertWithdrawable,
  documentViolations,
  normalMediaType,
  isResubmittable,
  isCurrentStatus,
  returnCountAfter,
  applyStatusChange,
  stateAfterVerification,
  transferUnit,
} from "./domain";

const { TransferState: State } = pb;
const { IncidentReason: Reason } = tpb;

/** The protobuf type name of a transfer event inside a signed envelope. */
export const TRANSFER_EVENT_TYPE = "casebridge.transfer.v1.TransferEvent";

/** Core NATS subject of an agency's ChangeNotices. */
export function changeSubject(agency: common.Agency): string {
  return `cb.changes.${sealAgencyOf(agency)!}`;
}

/** Lists count their matches up to this many. */
const MAX_COUNTED = 10_000;

/** The JetStream stream of cross-agency events; subject `cb.transfer.<recipient>.<sender>` (NATS lets each agency publish only as sender). */
export const TRANSFER_STREAM = "CB_TRANSFERS";

/** How long JetStream waits for an ack before it redelivers an event (to another instance after a crash). */
const ACK_WAIT_MS = 10_000;

/** The subject `from` publishes its events for `to` on. */
export function transferSubject(to: common.Agency, from: common.Agency): string {
  const [recipient, sender] = [sealAgencyOf(to), sealAgencyOf(from)];
  if (!recipient || !sender) throw new InvalidArgumentError(`no such agency ${!recipient ? to : from}`);
  return `cb.transfer.${recipient}.${sender}`;
}

/** The subjects of every event addressed to `agency`, from any sender (its inbox consumer's filter). */
export function transferInboxFilter(agency: common.Agency): string {
  const name = sealAgencyOf(agency);
  if (!name) throw new InvalidArgumentError(`no such agency ${agency}`);
  return `cb.transfer.${name}.*`;
}

const TRANSFER_CODEC: AggregateCodec<pb.Transfer> = { encode: (t) => pb.Transfer.encode(t).finish(), decode: (b) => pb.Transfer.decode(b) };

/**
 * Registers the inbox/outbox list of transfers with a runtime's projector; `changed` hears of each
 * new projected value (live views).
 */
export function registerTransferView(runtime: DurableRuntime, agency: common.Agency, changed?: (transfer: pb.Transfer) => void): ViewCollection {
  return runtime.view({
    kind: "transfer",
    codec: TRANSFER_CODEC,
    indexes: [{ box: 1, updatedAt: -1 }, { box: 1, unit: 1, updatedAt: -1 }, { caseId: 1 }],
    fields: (t) => ({ box: t.sender === agency ? "outbox" : "inbox", unit: transferUnit(t, agency), state: t.state, caseId: t.case?.caseId ?? "", updatedAt: t.updatedAt ?? new Date(0), ...transferListFields(t) }),
    changed,
  });
}

/** What the engine of one agency service needs. */
export interface TransferEngineDeps {
  readonly agency: common.Agency;
  /** The agency service's durable runtime: stores, relay, projector. */
  readonly runtime: DurableRuntime;
  readonly nc: NatsConnection;
  readonly js: JetStreamClient;
  readonly seals: ServiceSeals;
  readonly logger: Logger;
  readonly clock?: () => Date;
  /** Inbound events processed at the same time; default 32. */
  readonly concurrency?: number;
  /** The statutory deadline rules in force (the maxima of measure extensions). */
  readonly deadlineRules?: DeadlineRules;
}

/** A new outgoing transfer: the case, its documents, where it goes and why. */
export interface OutgoingTransfer {
  readonly actor: Actor;
  readonly kase: pb.Case;
  readonly documents: readonly pb.BundleDocument[];
  /** The unit that holds the case here (the case's issuer; the office that received it), from this agency's records. */
  readonly senderUnit: common.AgencyUnit;
  readonly recipient: common.Agency;
  /** The recipient's unit the sender chose; empty: the one with jurisdiction (units/units.ts). */
  readonly recipientUnitId?: string;
  readonly purpose: pb.TransferPurpose;
  readonly parentTransferId?: string;
  readonly path?: readonly common.Agency[];
  /** The transfer id each agency of `path` knows the case by. */
  readonly pathTransferIds?: readonly string[];
}

/**
 * Moves cases between agencies, for one agency service: sealed bundles stored beside the events,
 * transfers with their outbox in one document, a relay to JetStream, an idempotent consumer of the
 * agency's inbound events, the case timeline and the hash-chained audit log.
 */
export class TransferEngine {
  readonly transfers: AggregateStore<pb.Transfer>;
  /** This agency's named counters (e.g. the court's case numbers per year). */
  readonly sequences: Sequences;
  /** The agency's case files, which transfers carry. */
  readonly caseFiles: CaseFiles;
  /** Read models (MongoDB, projected): lists only, never decisions. */
  readonly transferView: ViewCollection;
  readonly timeline: TimelineRepository;
  readonly audit: AuditLog;
  /** Inbound envelopes refused (forged, replayed elsewhere, misrouted) and notices of such from other agencies. */
  readonly incidents: IncidentRegister;
  /** The agency's inbound envelopes: opened and checked here, then routed by payload type (later workflows register theirs). */
  readonly inbox: EnvelopeInbox;
  private consumer: RunningConsumer | undefined;
  private readonly clock: () => Date;

  private constructor(
    private readonly deps: TransferEngineDeps,
    readonly documents: DocumentStore,
  ) {
    this.clock = deps.clock ?? (() => new Date());
    const { runtime } = deps;
    this.transfers = runtime.store("transfer", TRANSFER_CODEC, deliveredState);
    this.sequences = new Sequences(runtime.store("sequence", SEQUENCE_CODEC));
    this.transferView = registerTransferView(runtime, deps.agency, (t) => this.notify({ transferId: t.transferId, caseId: t.case?.caseId ?? "", state: t.state, unitId: transferUnit(t, deps.agency) }));
    this.caseFiles = new CaseFiles(runtime, deps.agency, (inputs) => this.sealDocuments(inputs), this.clock, (c) => this.notify({ caseId: c.case?.caseId ?? "", unitId: c.case?.issuer?.unitId ?? "" }), deps.deadlineRules);
    this.timeline = runtime.timeline;
    this.audit = runtime.audit;
    this.incidents = new IncidentRegister({ agency: deps.agency, runtime, inboxOf: (to) => transferSubject(to, deps.agency), logger: deps.logger.child({ component: "incidents" }), clock: this.clock });
    this.inbox = new EnvelopeInbox(deps.seals.verifier, deps.agency, this.incidents);
    this.inbox.register(TRANSFER_EVENT_TYPE, { apply: (opened) => this.applyTransferEvent(opened), kindOf: (payload) => eventKindOf(pb.TransferEvent.decode(payload)) });
    this.inbox.register(INCIDENT_NOTICE_TYPE, { apply: (opened) => this.incidents.applyNotice(opened), kindOf: () => "incident notice" });
  }

  /** Opens the stores, the stream and this agency's durable consumer. */
  static async create(deps: TransferEngineDeps): Promise<TransferEngine> {
    const engine = new TransferEngine(deps, await DocumentStore.open(deps.nc, sealAgencyOf(deps.agency)!, deps.runtime.deps.replicas ?? 1));
    const jsm = deps.runtime.jsm;
    await ensureStream(jsm, { name: TRANSFER_STREAM, subjects: ["cb.transfer.>"], num_replicas: deps.runtime.deps.replicas ?? 1 });
    await ensureConsumer(jsm, TRANSFER_STREAM, {
      durable_name: engine.consumerName,
      filter_subject: transferInboxFilter(deps.agency),
      ack_policy: "explicit",
      ack_wait: ACK_WAIT_MS * 1_000_000, // short, so that a crashed instance's events come back soon; progress keeps long ones alive
      max_ack_pending: 1000,
    });
    return engine;
  }

  /** The agency this engine works for. */
  get agency(): common.Agency {
    return this.deps.agency;
  }

  private get consumerName(): string {
    return `transfer-inbox-${sealAgencyOf(this.deps.agency)!}`;
  }

  /** Starts the consumer of inbound events (the runtime relays and projects). */
  async start(): Promise<void> {
    this.consumer = await consumeEvents(this.deps.js, TRANSFER_STREAM, this.consumerName, (event) => this.inbox.apply(event.data), {
      concurrency: this.deps.concurrency ?? 32,
      backoffMs: [200, 1000, 5000, 15_000],
      maxDeliver: 10,
      logger: this.deps.logger,
      progressEveryMs: ACK_WAIT_MS / 3,
    });
  }

  /** Stops taking events. */
  async stop(): Promise<void> {
    await this.consumer?.stop();
  }

  /** Seals each document with this agency's seal and stores it with its seal; returns the bundle entries. */
  async sealDocuments(inputs: readonly pb.DocumentInput[], field = "documents"): Promise<pb.BundleDocument[]> {
    const violations = documentViolations(inputs, field);
    if (violations.length > 0) throw new InvalidArgumentError("invalid documents", violations);
    return Promise.all(
      inputs.map(async (input) => {
        const seal = await this.deps.seals.sealer.seal(input.content);
        const [contentKey, sealKey] = await Promise.all([this.documents.put(input.content), this.documents.put(seal)]);
        return {
          ref: { documentId: input.documentId, title: input.title, documentType: input.documentType, mediaType: normalMediaType(input.mediaType) ?? input.mediaType, sizeBytes: input.content.length, sha256: contentKey },
          contentKey,
          sealKey,
          sealedBy: this.deps.agency,
        };
      }),
    );
  }

  // --- sender side -------------------------------------------------------------------------

  /** Seals the manifest of a new transfer, stores it and the transfer with its submission event. */
  async send(outgoing: OutgoingTransfer): Promise<pb.Transfer> {
    if (outgoing.recipient === this.deps.agency || !sealAgencyOf(outgoing.recipient)) {
      throw new InvalidArgumentError("invalid recipient", [{ field: "recipient", description: "must be another agency" }]);
    }
    if (outgoing.purpose === pb.TransferPurpose.TRANSFER_PURPOSE_UNSPECIFIED) {
      throw new InvalidArgumentError("invalid purpose", [{ field: "purpose", description: "is required" }]);
    }
    assertLegalRoute(this.deps.agency, outgoing.recipient, outgoing.purpose);
    // The callers found the case through the actor's units; checked again here, where the transfer is made.
    if (!mayAccess(outgoing.actor, outgoing.senderUnit.unitId)) throw new NotFoundError(`no case ${outgoing.kase.caseId}`);
    // A case goes to an agency once: after a return, the same transfer is resubmitted (with the documents asked for), never a second one beside it.
    const earlier = await this.transferView.find({ caseId: outgoing.kase.caseId, box: "outbox" }, { updatedAt: -1 }, 50);
    const open = earlier.map((row) => pb.Transfer.decode(row.pb)).find((t) => t.recipient === outgoing.recipient && t.state !== State.TRANSFER_STATE_WITHDRAWN);
    if (open) {
      const hint = isResubmittable(open) ? `add the documents asked for and resubmit transfer ${open.transferId}` : `it is ${pb.transferStateToJSON(open.state).replace("TRANSFER_STATE_", "").toLowerCase()}; withdraw it first to send the case anew`;
      throw new FailedPreconditionError(`case ${outgoing.kase.caseId} went to this agency already with transfer ${open.transferId}: ${hint}`);
    }
    const recipientUnit = recipientUnitFor(outgoing.senderUnit.unitId, outgoing.recipient, outgoing.recipientUnitId ?? "");
    if (!recipientUnit) {
      throw new InvalidArgumentError("invalid recipient unit", [
        { field: "recipient_unit_id", description: outgoing.recipientUnitId ? `${outgoing.recipientUnitId} is no unit of the recipient agency` : `no unit of the recipient agency has jurisdiction over ${outgoing.senderUnit.unitId}; name one` },
      ]);
    }
    const now = this.clock();
    const transferId = randomUUID();
    const transfer: pb.Transfer = {
      transferId,
      case: outgoing.kase,
      sender: this.deps.agency,
      recipient: outgoing.recipient,
      purpose: outgoing.purpose,
      state: State.TRANSFER_STATE_SUBMITTED,
      submission: 1,
      supplementaryReturns: 0,
      bundle: undefined,
      verification: undefined,
      returnReason: pb.ReturnReason.RETURN_REASON_UNSPECIFIED,
      returnNote: "",
      parentTransferId: outgoing.parentTransferId ?? "",
      path: [...(outgoing.path ?? [])],
      createdAt: now,
      updatedAt: now,
      statusSequence: 0,
      concludedBy: "",
      receivedAt: undefined,
      pathTransferIds: [...(outgoing.pathTransferIds ?? [])],
      receiptKeys: [],
      usedBundleIds: [],
      senderUnit: outgoing.senderUnit,
      recipientUnit: agencyUnitOf(recipientUnit),
      courtCaseNumber: "",
    };
    transfer.bundle = await this.sealBundle(transfer, outgoing.documents, now);
    await this.transfers.insert(transferId, { value: transfer, outbox: this.submissionItems(transfer, outgoing.actor, "submitted") });
    return transfer;
  }

  /** Resubmits a returned or rejected transfer with the given documents. */
  async resubmit(actor: Actor, transferId: string, documents: readonly pb.BundleDocument[], kase?: pb.Case): Promise<pb.Transfer> {
    const current = await this.outgoing(actor, transferId);
    assertResubmittable(current.value);
    const now = this.clock();
    const submission = current.value.submission + 1;
    const updatedCase = kase ?? current.value.case!;
    const bundle = await this.sealBundle({ ...current.value, case: updatedCase, submission }, documents, now);
    const stored = await this.transfers.mutate(transferId, ({ value }) => {
      assertResubmittable(value);
      if (value.submission + 1 !== submission) throw new FailedPreconditionError(`transfer ${transferId} was resubmitted meanwhile`);
      const next = { ...value, case: updatedCase, bundle, state: State.TRANSFER_STATE_SUBMITTED, submission, verification: undefined, updatedAt: now };
      return { value: next, outbox: this.submissionItems(next, actor, "resubmitted") };
    });
    return stored!.value;
  }

  /** Takes back a transfer the receiver has not decided on. */
  async withdraw(actor: Actor, transferId: string, reason: string): Promise<pb.Transfer> {
    if (!reason.trim()) throw new InvalidArgumentError("a withdrawal needs a reason", [{ field: "reason", description: "must not be empty" }]);
    return this.changeOwn(actor, transferId, "sender", (value) => {
      assertWithdrawable(value);
      const next = { ...value, state: State.TRANSFER_STATE_WITHDRAWN, updatedAt: this.clock() };
      return {
        value: next,
        outbox: [
          this.eventItem(value.recipient, { ...this.eventBase(next, actor.user, value.recipient), withdrawnReason: reason }),
          this.timelineItem(next, actor.user, "withdrawn", { detail: reason, counterpart: value.recipient }),
          this.auditItem(actor.user, "transfer.withdrawn", next),
        ],
      };
    });
  }

  // --- receiver side -----------------------------------------------------------------------

  /** Accepts a received transfer. */
  async accept(actor: Actor, transferId: string): Promise<pb.Transfer> {
    return this.changeOwn(actor, transferId, "recipient", (value) => {
      assertDecidable(value);
      const next = { ...value, state: State.TRANSFER_STATE_ACCEPTED, statusSequence: value.statusSequence + 1, updatedAt: this.clock() };
      return { value: next, outbox: this.decisionItems(next, actor.user, "accepted", {}) };
    });
  }

  /** Returns a received transfer to its sender with a reason; at most twice for supplementary investigation. */
  async giveBack(actor: Actor, transferId: string, reason: pb.ReturnReason, note: string): Promise<pb.Transfer> {
    return this.changeOwn(actor, transferId, "recipient", (value) => {
      const count = returnCountAfter(value, reason, note);
      const next = {
        ...value,
        state: State.TRANSFER_STATE_RETURNED,
        supplementaryReturns: count,
        returnReason: reason,
        returnNote: note,
        statusSequence: value.statusSequence + 1,
        updatedAt: this.clock(),
      };
      return { value: next, outbox: this.decisionItems(next, actor.user, "returned", { returnReason: reason, detail: note }) };
    });
  }

  /** Changes a transfer this agency is `side` of and `member`'s units hold, in one read and one write; NotFoundError for anyone else's. */
  private async changeOwn(member: UnitMember, transferId: string, side: "sender" | "recipient", decide: (value: pb.Transfer) => Change<pb.Transfer>): Promise<pb.Transfer> {
    const missing = () => new NotFoundError(`no ${side === "sender" ? "outbound" : "inbound"} transfer ${transferId}`);
    const stored = await this.transfers.mutate(transferId, ({ value }) => {
      if (value[side] !== this.deps.agency || !mayAccess(member, transferUnit(value, this.deps.agency))) throw missing();
      return decide(value);
    });
    if (!stored) throw missing();
    return stored.value;
  }

  /** Tells the sender and every earlier agency of a received transfer about a step (e.g. a judgment); `concludes`: the step ends this agency's time limit on it. */
  async announce(actor: Actor, transferId: string, action: string, detail: string, document?: pb.BundleDocument, concludes = false): Promise<void> {
    await this.transfers.mutate(transferId, ({ value }) => this.step(actor, { ...value, updatedAt: this.clock(), concludedBy: concludes ? action : value.concludedBy }, action, detail, document));
  }

  /**
   * Registers a transfer this agency received under a number given once (the court's case number):
   * the first call records `allocate()`'s number on the transfer and announces `registered` with it;
   * every later call answers the number recorded and changes nothing. Two calls at the same moment
   * may both allocate; one number is recorded, the other stays unused.
   */
  async registerOnce(actor: Actor, transferId: string, allocate: (transfer: pb.Transfer) => Promise<string>): Promise<string> {
    const current = (await this.incoming(actor, transferId)).value;
    if (current.courtCaseNumber) return current.courtCaseNumber;
    const number = await allocate(current);
    let recorded = number;
    await this.transfers.mutate(transferId, ({ value }) => {
      recorded = value.courtCaseNumber || number;
      if (value.courtCaseNumber) return undefined;
      return this.step(actor, { ...value, courtCaseNumber: number, updatedAt: this.clock() }, "registered", `court case ${number}`);
    });
    return recorded;
  }

  /** A step this agency took on a received transfer: the new value, its timeline entry, the progress sent up the case's path, and the audit record. */
  private step(actor: Actor, value: pb.Transfer, action: string, detail: string, document?: pb.BundleDocument): { value: pb.Transfer; outbox: OutboxItem[] } {
    const entry = this.entry(value, actor.user, action, { detail, document, counterpart: value.sender });
    return {
      value,
      outbox: [timelineOutboxItem(entry), ...this.progressItems(value, actor.user, entry, true), this.auditItem(actor.user, `case.${action}`, value, document ? [document.contentKey] : [])],
    };
  }

  /** A transfer this agency received, addressed to a unit `member` sees; NotFoundError otherwise. */
  async incoming(member: UnitMember, transferId: string): Promise<Stored<pb.Transfer>> {
    const stored = await this.transfers.get(transferId);
    if (!stored || stored.value.recipient !== this.deps.agency || !mayAccess(member, transferUnit(stored.value, this.deps.agency))) throw new NotFoundError(`no inbound transfer ${transferId}`);
    return stored;
  }

  /** A transfer this agency sent from a unit `member` sees; NotFoundError otherwise. */
  async outgoing(member: UnitMember, transferId: string): Promise<Stored<pb.Transfer>> {
    const stored = await this.transfers.get(transferId);
    if (!stored || stored.value.sender !== this.deps.agency || !mayAccess(member, transferUnit(stored.value, this.deps.agency))) throw new NotFoundError(`no outbound transfer ${transferId}`);
    return stored;
  }

  /**
   * A transfer this agency sent or received, held here by a unit `member` sees; NotFoundError
   * otherwise (the same answer as for no such transfer: other units' transfers are not disclosed).
   */
  async visibleTransfer(member: UnitMember, transferId: string): Promise<pb.Transfer> {
    const stored = await this.transfers.get(transferId);
    const value = stored?.value;
    if (!value || (value.sender !== this.deps.agency && value.recipient !== this.deps.agency) || !mayAccess(member, transferUnit(value, this.deps.agency))) {
      throw new NotFoundError(`no transfer ${transferId}`);
    }
    return value;
  }

  /** Checks that `member` sees case `caseId` here: a case file of their units, or a transfer of it their units hold; NotFoundError otherwise. */
  async assertCaseVisible(member: UnitMember, caseId: string): Promise<void> {
    const file = await this.caseFiles.cases.get(caseId);
    if (file && mayAccess(member, file.value.case?.issuer?.unitId)) return;
    const held = await this.transferView.find({ caseId, unit: { $in: visibleUnits(member) } }, { updatedAt: -1 }, 1);
    if (held.length === 0) throw new NotFoundError(`no case ${caseId}`);
  }

  /** Lists the inbox or outbox of the units `member` sees, filtered (transfer-list.ts), newest first unless asked otherwise, with an opaque page token and the count of matches. */
  async list(member: UnitMember, request: pb.ListTransfersRequest): Promise<pb.ListTransfersResponse> {
    const filter = transferListFilter(member, request);
    const [{ values, nextPageToken }, total] = await Promise.all([
      pageByUpdate(this.transferView, filter, request.pageSize, request.pageToken, transferListOrder(request)),
      this.transferView.count(filter, MAX_COUNTED),
    ]);
    return { transfers: values.map((bytes) => pb.Transfer.decode(bytes)), nextPageToken, total };
  }

  /** One document of a transfer `member`'s units hold here, its seal verified now, with its bytes if asked. */
  async document(member: UnitMember, request: pb.GetDocumentRequest): Promise<pb.GetDocumentResponse> {
    const transfer = await this.visibleTransfer(member, request.transferId);
    const document = transfer.bundle?.documents.find((d) => d.ref?.documentId === request.documentId);
    if (!document) throw new NotFoundError(`transfer ${request.transferId} has no document ${request.documentId}`);
    const [content, seal] = await Promise.all([this.fetch(document.contentKey, transfer.sender), this.fetch(document.sealKey, transfer.sender)]);
    const verification = !content
      ? failedVerification("the document is missing from the document store or does not match its digest").manifestSeal!
      : !seal
        ? failedVerification("the document carries no seal").manifestSeal!
        : this.deps.seals.verifier.verify(content, seal, { agency: document.sealedBy });
    return { document, verification, content: request.includeContent && content ? content : Buffer.alloc(0) };
  }

  /** Publishes a ChangeNotice for live views (after the projector updated them); best effort (a view that misses one catches up on its next read). */
  notify(change: Partial<Pick<pb.ChangeNotice, "transferId" | "caseId" | "state" | "alertId" | "unitId">>): void {
    const notice = pb.ChangeNotice.encode(pb.ChangeNotice.fromPartial({ ...change, agency: this.deps.agency, at: this.clock() })).finish();
    try {
      this.deps.nc.publish(changeSubject(this.deps.agency), notice);
    } catch (error) {
      this.deps.logger.debug({ err: error }, "change notice not published");
    }
  }

  // --- inbound events ----------------------------------------------------------------------

  /** Applies one verified transfer event once (a redelivery or replay changes nothing), or says why it is refused. */
  private async applyTransferEvent(opened: OpenedEnvelope): Promise<Refused | undefined> {
    const { content } = opened;
    let event: pb.TransferEvent;
    try {
      event = pb.TransferEvent.decode(content.payload);
    } catch (error) {
      return { reason: Reason.INCIDENT_REASON_MALFORMED, detail: `undecodable transfer event: ${(error as Error).message}` };
    }
    if (event.from !== content.from || event.to !== content.to || event.transferId !== content.subjectId || (event.submitted && event.submitted.transferId !== event.transferId)) {
      return { reason: Reason.INCIDENT_REASON_SUBJECT_MISMATCH, detail: "the event names another sender, recipient or transfer than its signed envelope" };
    }
    if (event.submitted) return this.receive(event, event.submitted, opened);
    if (event.withdrawnReason !== undefined) return this.applyWithdrawal(event, opened);
    if (event.status) return this.applyStatus(event, event.status, opened);
    if (event.progress) return this.applyProgress(event, event.progress, opened);
    return { reason: Reason.INCIDENT_REASON_MALFORMED, detail: "the event carries no body" };
  }

  /** A submission: the sender must be the transfer's sender on a legal route; the bundle is verified and bound to the transfer. */
  private async receive(event: pb.TransferEvent, submitted: pb.Transfer, opened: OpenedEnvelope): Promise<Refused | undefined> {
    const envelopeId = opened.content.envelopeId;
    if (submitted.sender !== event.from || submitted.recipient !== this.deps.agency) {
      return { reason: Reason.INCIDENT_REASON_NOT_COUNTERPART, detail: "the submission names another sender or recipient than its envelope" };
    }
    if (!legalRoute(submitted.sender, submitted.recipient, submitted.purpose)) {
      return { reason: Reason.INCIDENT_REASON_ROUTE_NOT_ALLOWED, detail: routeRefusal(submitted.sender, submitted.recipient, submitted.purpose) };
    }
    const existing = await this.transfers.get(submitted.transferId);
    if (existing && existing.value.sender !== event.from) {
      return { reason: Reason.INCIDENT_REASON_NOT_COUNTERPART, detail: `transfer ${submitted.transferId} was sent by another agency` };
    }
    if (existing?.applied.includes(envelopeId) || (existing && existing.value.submission >= submitted.submission)) return undefined;
    if (existing && !isResubmittable(existing.value)) {
      return { reason: Reason.INCIDENT_REASON_OUT_OF_TURN, detail: `transfer ${submitted.transferId} is ${pb.transferStateToJSON(existing.value.state)} here; only a returned or rejected transfer can be resubmitted` };
    }
    const usedBundleIds = existing ? [...existing.value.usedBundleIds, existing.value.bundle?.bundleId ?? ""].filter(Boolean) : [];
    const verification = await this.verifySubmission(submitted, usedBundleIds);
    // The sender's signed submission is the receiver's evidence of what it was sent, and by whom.
    const receiptKey = await this.keepReceipt(opened);
    const state = stateAfterVerification(verification);
    const action = state === State.TRANSFER_STATE_RECEIVED ? "received" : "rejected";
    const now = this.clock();
    const build = (base: pb.Transfer | undefined): Change<pb.Transfer> => {
      const seen = base ? [...new Set([...base.usedBundleIds, base.bundle?.bundleId ?? ""].filter(Boolean))] : [];
      const next: pb.Transfer = {
        ...submitted,
        // A refused resubmission never replaces the case data this agency verified before.
        case: base && state !== State.TRANSFER_STATE_RECEIVED ? base.case : submitted.case,
        state,
        verification,
        supplementaryReturns: base?.supplementaryReturns ?? submitted.supplementaryReturns,
        statusSequence: (base?.statusSequence ?? 0) + 1,
        returnReason: pb.ReturnReason.RETURN_REASON_UNSPECIFIED,
        returnNote: "",
        updatedAt: now,
        receivedAt: now,
        concludedBy: "",
        receiptKeys: [...(base?.receiptKeys ?? []), receiptKey],
        usedBundleIds: seen,
      };
      return {
        value: next,
        outbox: this.decisionItems(next, "system", action, {
          verification: verification.status,
          detail: state === State.TRANSFER_STATE_RECEIVED ? `submission ${next.submission}: every seal verified` : `submission ${next.submission}: ${describeFailures(verification)}`,
        }),
      };
    };
    if (!existing) {
      if (await this.transfers.insert(submitted.transferId, build(undefined), envelopeId)) return undefined;
    }
    await this.transfers.mutate(submitted.transferId, ({ value }) => (value.submission >= submitted.submission || !isResubmittable(value) ? undefined : build(value)), envelopeId);
    return undefined;
  }

  /** Fetches the bundle from the document store and verifies the manifest seal, every document, and the manifest's binding to the transfer. */
  private async verifySubmission(submitted: pb.Transfer, usedBundleIds: readonly string[]): Promise<sealPb.BundleVerification> {
    const bundle = submitted.bundle;
    if (!bundle) return failedVerification("the submission carries no bundle");
    // Read from the sender's store (by key only), and copied into this agency's own: it shows, forwards and exports them without the sender.
    const objects = await this.documents.getMany([bundle.manifestKey, bundle.manifestSealKey, ...bundle.documents.flatMap((d) => [d.contentKey, d.sealKey])], sealAgencyOf(submitted.sender));
    await this.documents.keep(objects.values());
    const manifest = objects.get(bundle.manifestKey);
    const manifestSeal = objects.get(bundle.manifestSealKey);
    if (!manifest || !manifestSeal) return failedVerification("the sealed manifest is not in the document store");
    const documents: ReceivedDocument[] = [];
    for (const document of bundle.documents) {
      const content = objects.get(document.contentKey);
      if (content) documents.push({ documentId: document.ref?.documentId ?? "", content, seal: objects.get(document.sealKey) ?? undefined });
    }
    const verification = verifyBundle(this.deps.seals.verifier, { manifest, manifestSeal }, documents);
    const sealed = verification.manifest;
    if (verification.status !== sealPb.VerificationStatus.VERIFICATION_STATUS_VALID || !sealed) return verification;
    const mismatches = bindingMismatches(sealed, { transfer: submitted, usedBundleIds });
    // A submission addressed to no unit of this agency would be seen by nobody here: refused, so that the sender learns of it.
    if (!unitOf(submitted.recipientUnit?.unitId ?? "", this.deps.agency)) {
      mismatches.push({ failure: sealPb.VerificationFailure.VERIFICATION_FAILURE_BINDING_MISMATCH, message: `the transfer is addressed to ${submitted.recipientUnit?.unitId || "no unit"}, which is no unit of this agency` });
    }
    if (mismatches.length === 0) return verification;
    return {
      ...verification,
      status: sealPb.VerificationStatus.VERIFICATION_STATUS_INVALID,
      manifestSeal: { ...verification.manifestSeal!, status: sealPb.VerificationStatus.VERIFICATION_STATUS_INVALID, failure: mismatches[0]!.failure, message: mismatches.map((m) => m.message).join("; ") },
    };
  }

  /** An object of this agency's document store, or else of `holder`'s; null when it is missing or does not hash to its key. */
  private async fetch(key: string, holder?: common.Agency): Promise<Buffer | null> {
    try {
      return await this.documents.get(key, holder === undefined ? undefined : sealAgencyOf(holder));
    } catch (error) {
      if (error instanceof NotFoundError || error instanceof DocumentIntegrityError) return null;
      throw error;
    }
  }

  /** A withdrawal: only the transfer's sender may take it back. */
  private async applyWithdrawal(event: pb.TransferEvent, opened: OpenedEnvelope): Promise<Refused | undefined> {
    const existing = await this.transfers.get(event.transferId);
    if (!existing || existing.value.recipient !== this.deps.agency || existing.value.sender !== event.from) {
      return { reason: Reason.INCIDENT_REASON_NOT_COUNTERPART, detail: existing ? "only the agency that sent the transfer may withdraw it" : `no transfer ${event.transferId} was received from this sender` };
    }
    const receiptKey = await this.keepReceipt(opened);
    await this.transfers.mutate(
      event.transferId,
      ({ value }) => {
        if (value.state === State.TRANSFER_STATE_ACCEPTED || value.state === State.TRANSFER_STATE_WITHDRAWN) return undefined;
        const next = { ...value, state: State.TRANSFER_STATE_WITHDRAWN, updatedAt: this.clock(), receiptKeys: [...value.receiptKeys, receiptKey] };
        return {
          value: next,
          outbox: [
            this.timelineItem(next, event.actor, "withdrawn", { detail: event.withdrawnReason ?? "", agency: event.from, counterpart: this.deps.agency, receiptKey, receiptSigner: opened.signer }),
            this.auditItem(event.actor, "transfer.withdrawn-by-sender", next),
          ],
        };
      },
      opened.content.envelopeId,
    );
    return undefined;
  }

  /**
   * A status report: only the transfer's recipient may send one; applied in order, once (a replay or
   * a stale report changes nothing and adds no timeline entry). The signed envelope is kept as a receipt.
   */
  private async applyStatus(event: pb.TransferEvent, status: pb.StatusChange, opened: OpenedEnvelope): Promise<Refused | undefined> {
    const existing = await this.transfers.get(event.transferId);
    if (!existing || existing.value.sender !== this.deps.agency || existing.value.recipient !== event.from) {
      return { reason: Reason.INCIDENT_REASON_NOT_COUNTERPART, detail: existing ? "only the agency the transfer was sent to may report its status" : `this agency sent no transfer ${event.transferId}` };
    }
    if (!isCurrentStatus(existing.value, status)) return undefined;
    const receiptKey = await this.keepReceipt(opened);
    await this.transfers.mutate(
      event.transferId,
      ({ value }) => {
        if (!isCurrentStatus(value, status)) return undefined;
        const next = { ...applyStatusChange(value, status, this.clock()), receiptKeys: [...value.receiptKeys, receiptKey] };
        const entry = this.timelineItem(value, event.actor, actionOf(status.state), {
          agency: event.from,
          counterpart: this.deps.agency,
          verification: status.verification?.status,
          returnReason: status.returnReason,
          detail: status.returnNote || (status.verification ? describeFailures(status.verification) : ""),
          receiptKey,
          receiptSigner: opened.signer,
        });
        return { value: next, outbox: [entry, this.auditItem(event.actor, `transfer.${actionOf(status.state)}-by-recipient`, next, [receiptKey])] };
      },
      opened.content.envelopeId,
    );
    return undefined;
  }

  /**
   * A step further down the case's path (registered, judgment, ...): accepted from the agency this
   * one sent the transfer to, or from an agency the case may lawfully have reached after it.
   */
  private async applyProgress(event: pb.TransferEvent, entry: pb.TimelineEntry, opened: OpenedEnvelope): Promise<Refused | undefined> {
    const existing = await this.transfers.get(event.transferId);
    const mine = existing?.value.sender === this.deps.agency ? existing.value : undefined;
    const fromCounterpart = mine?.recipient === event.from;
    const fromDownstream = mine !== undefined && mine.state === State.TRANSFER_STATE_ACCEPTED && reachableDownstream(mine.recipient, event.from);
    if (!mine || !(fromCounterpart || fromDownstream)) {
      return { reason: Reason.INCIDENT_REASON_NOT_COUNTERPART, detail: mine ? `${sealAgencyOf(event.from) ?? "this sender"} holds no case of transfer ${event.transferId}` : `this agency sent no transfer ${event.transferId}` };
    }
    if (entry.agency !== event.from || entry.caseId !== mine.case?.caseId) {
      return { reason: Reason.INCIDENT_REASON_SUBJECT_MISMATCH, detail: "the step names another agency or case than the transfer" };
    }
    let verification = entry.verification;
    if (entry.document) {
      const [content, seal] = await Promise.all([this.fetch(entry.document.contentKey, entry.agency), this.fetch(entry.document.sealKey, entry.agency)]);
      verification = content && seal ? this.deps.seals.verifier.verify(content, seal, { agency: entry.agency }).status : sealPb.VerificationStatus.VERIFICATION_STATUS_INVALID;
    }
    const receiptKey = await this.keepReceipt(opened);
    const seen = { ...entry, verification, receiptKey, receiptSigner: opened.signer };
    // Through the transfer's outbox, with the envelope id remembered: a replay, even a late one, adds nothing.
    await this.transfers.mutate(mine.transferId, ({ value }) => ({ value, outbox: [timelineOutboxItem(seen)] }), opened.content.envelopeId);
    return undefined;
  }

  /** Stores a verified signed envelope in the document store (content-addressed): the receipt kept as evidence. */
  private async keepReceipt(opened: OpenedEnvelope): Promise<string> {
    return this.documents.put(opened.raw);
  }

  /** The offline evidence package of a transfer `member`'s units hold here (documents, seals, chain, CRLs, signed receipts). */
  async exportEvidence(member: UnitMember, transferId: string): Promise<pb.ExportEvidenceResponse> {
    const transfer = await this.visibleTransfer(member, transferId);
    const { zip, fileName } = await transferEvidencePackage(transfer, this.documents, this.deps.seals.evidenceTrust(), this.clock());
    if (zip.length > MAX_SERVED_PACKAGE_BYTES) {
      throw new FailedPreconditionError(`the evidence package of transfer ${transferId} is ${zip.length} bytes, more than can be served (${MAX_SERVED_PACKAGE_BYTES}); export it with npm run seal -- export`);
    }
    return { package: zip, fileName };
  }

  // --- outbox items ------------------------------------------------------------------------

  /** Seals the manifest of one submission of `transfer`, binding the transfer, purpose, case number, case data and submission. */
  private async sealBundle(transfer: pb.Transfer, documents: readonly pb.BundleDocument[], now: Date): Promise<pb.Bundle> {
    if (documents.length === 0) throw new FailedPreconditionError("the case has no documents to send");
    const bundleId = `${transfer.transferId}:${randomUUID().slice(0, 8)}`;
    const manifest: sealPb.BundleManifest = {
      bundleId,
      caseId: transfer.case?.caseId ?? "",
      sender: this.deps.agency,
      recipient: transfer.recipient,
      createdAt: now,
      documents: documents.map((document) => document.ref!),
      transferId: transfer.transferId,
      purpose: pb.transferPurposeToJSON(transfer.purpose),
      caseNumber: transfer.case?.caseNumber ?? "",
      caseSha256: caseSha256(transfer.case),
      submission: transfer.submission,
    };
    const manifestBytes = Buffer.from(sealPb.BundleManifest.encode(manifest).finish());
    const manifestSeal = await this.deps.seals.sealer.seal(manifestBytes);
    const [manifestKey, manifestSealKey] = await Promise.all([this.documents.put(manifestBytes), this.documents.put(manifestSeal)]);
    return { bundleId, manifestKey, manifestSealKey, documents: [...documents] };
  }

  private submissionItems(transfer: pb.Transfer, actor: Actor, action: "submitted" | "resubmitted"): OutboxItem[] {
    return [
      { ...this.eventItem(transfer.recipient, { ...this.eventBase(transfer, actor.user, transfer.recipient), submitted: transfer }), marksPublished: true },
      this.timelineItem(transfer, actor.user, action, { counterpart: transfer.recipient, detail: `submission ${transfer.submission}, ${transfer.bundle?.documents.length ?? 0} documents` }),
      this.auditItem(actor.user, `transfer.${action}`, transfer),
    ];
  }

  /** What a receiver's decision produces: status to the sender, progress to earlier agencies, timeline, audit. */
  private decisionItems(transfer: pb.Transfer, actor: string, action: string, extra: Partial<pb.TimelineEntry>): OutboxItem[] {
    const status: pb.StatusChange = {
      state: transfer.state,
      submission: transfer.submission,
      verification: transfer.verification,
      returnReason: transfer.returnReason,
      returnNote: transfer.returnNote,
      sequence: transfer.statusSequence,
      bundleId: transfer.bundle?.bundleId ?? "",
    };
    const entry = this.entry(transfer, actor, action, { ...extra, counterpart: transfer.sender });
    return [
      this.eventItem(transfer.sender, { ...this.eventBase(transfer, actor, transfer.sender), status }),
      ...this.progressItems(transfer, actor, entry, false),
      timelineOutboxItem(entry),
      this.auditItem(actor, `transfer.${action}`, transfer),
    ];
  }

  private eventBase(transfer: pb.Transfer, actor: string, to: common.Agency): pb.TransferEvent {
    return { eventId: randomUUID(), transferId: transfer.transferId, from: this.deps.agency, to, at: this.clock(), actor };
  }

  /** A transfer event to `to`, as an outbox item the relay signs (a SignedEnvelope) when it publishes. */
  private eventItem(to: common.Agency, event: pb.TransferEvent): OutboxItem {
    return envelopeOutboxItem({
      id: event.eventId,
      from: this.deps.agency,
      to,
      subject: transferSubject(to, this.deps.agency),
      payloadType: TRANSFER_EVENT_TYPE,
      subjectId: event.transferId,
      at: event.at ?? this.clock(),
      payload: pb.TransferEvent.encode(event).finish(),
    });
  }

  /**
   * A step of the case for the agencies before this one: to the sender (when `toSender`) about this
   * transfer, and to each agency of the path about the transfer it sent (so it can check the step).
   */
  private progressItems(transfer: pb.Transfer, actor: string, entry: pb.TimelineEntry, toSender: boolean): OutboxItem[] {
    const items: OutboxItem[] = [];
    if (toSender) items.push(this.eventItem(transfer.sender, { ...this.eventBase(transfer, actor, transfer.sender), progress: entry }));
    transfer.path.forEach((to, index) => {
      const transferId = transfer.pathTransferIds[index] ?? transfer.transferId;
      items.push(this.eventItem(to, { ...this.eventBase(transfer, actor, to), transferId, progress: entry }));
    });
    return items;
  }

  private entry(transfer: pb.Transfer, actor: string, action: string, extra: Partial<pb.TimelineEntry>): pb.TimelineEntry {
    return pb.TimelineEntry.fromPartial({
      entryId: randomUUID(),
      caseId: transfer.case?.caseId ?? "",
      at: this.clock(),
      agency: this.deps.agency,
      actor,
      action,
      transferId: transfer.transferId,
      ...extra,
    });
  }

  private timelineItem(transfer: pb.Transfer, actor: string, action: string, extra: Partial<pb.TimelineEntry>): OutboxItem {
    const entry = this.entry(transfer, actor, action, extra);
    return timelineOutboxItem(entry);
  }

  /** An audit record of an action on a transfer (or case), with the digests of its documents. */
  auditItem(actor: string, action: string, transfer: pb.Transfer, digests?: string[]): OutboxItem {
    const entryId = randomUUID();
    return auditOutboxItem({
      entryId,
      at: this.clock(),
      actor,
      action,
      subject: `transfer:${transfer.transferId}`,
      digests: digests ?? (transfer.bundle?.documents ?? []).map((document) => document.ref?.sha256 ?? ""),
    });
  }
}

/** The sender's transfer once its submission is in JetStream: SUBMITTED becomes DELIVERED, unless the receiver answered already. */
function deliveredState(transfer: pb.Transfer): pb.Transfer | undefined {
  return transfer.state === State.TRANSFER_STATE_SUBMITTED ? { ...transfer, state: State.TRANSFER_STATE_DELIVERED } : undefined;
}

function actionOf(state: pb.TransferState): string {
  switch (state) {
    case State.TRANSFER_STATE_RECEIVED:
      return "received";
    case State.TRANSFER_STATE_REJECTED:
      return "rejected";
    case State.TRANSFER_STATE_ACCEPTED:
      return "accepted";
    case State.TRANSFER_STATE_RETURNED:
      return "returned";
    default:
      return pb.transferStateToJSON(state).replace("TRANSFER_STATE_", "").toLowerCase();
  }
}

/** One line listing what failed in a bundle verification. */
export function describeFailures(verification: sealPb.BundleVerification): string {
  const failures: string[] = [];
  if (verification.manifestSeal && verification.manifestSeal.status !== sealPb.VerificationStatus.VERIFICATION_STATUS_VALID) {
    failures.push(`manifest: ${verification.manifestSeal.message}`);
  }
  for (const document of verification.documents) {
    if (document.status !== sealPb.VerificationStatus.VERIFICATION_STATUS_VALID) failures.push(`${document.documentId}: ${document.message}`);
  }
  return failures.join("; ") || "verified";
}

function failedVerification(message: string): sealPb.BundleVerification {
  return {
    status: sealPb.VerificationStatus.VERIFICATION_STATUS_INVALID,
    manifestSeal: sealPb.SealVerification.fromPartial({ status: sealPb.VerificationStatus.VERIFICATION_STATUS_INVALID, failure: sealPb.VerificationFailure.VERIFICATION_FAILURE_MISSING_DOCUMENT, message }),
    manifest: undefined,
    documents: [],
  };
}


/** What a transfer event claims to be: "submission", "status", "withdrawal" or "progress". */
function eventKindOf(event: pb.TransferEvent): string {
  if (event.submitted) return "submission";
  if (event.status) return `status ${pb.transferStateToJSON(event.status.state).replace("TRANSFER_STATE_", "").toLowerCase()}`;
  if (event.withdrawnReason !== undefined) return "withdrawal";
  if (event.progress) return `progress ${event.progress.action}`;
  return "event";
}
