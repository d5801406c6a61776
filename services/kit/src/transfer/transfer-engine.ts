import { randomUUID } from "node:crypto";
import type { JetStreamClient } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import type { Logger } from "pino";
import { type common, runtime as rpb, seal as sealPb, transfer as pb } from "@casebridge/proto";
import type { Actor } from "../actor";
import { FailedPreconditionError, InvalidArgumentError, NotFoundError, PermissionDeniedError } from "../errors";
import { consumeEvents, ensureConsumer, ensureStream, publishEvent, type RunningConsumer } from "../jetstream";
import { sealAgencyOf, verifyBundle, type ReceivedDocument, type ServiceSeals } from "../seal";
import type { AggregateCodec, AggregateStore, Change, OutboxItem, Stored } from "../runtime/aggregate-store";
import type { AuditLog } from "../runtime/audit-log";
import type { DurableRuntime } from "../runtime/durable-runtime";
import { ledgerMessageId, timelineSubject } from "../runtime/ledger";
import type { TimelineRepository } from "../runtime/timeline.repository";
import { auditOutboxItem, timelineOutboxItem } from "../runtime/outbox-items";
import { newestFirst } from "../runtime/paging";
import type { ViewCollection } from "../runtime/view-collection";
import type { DeadlineRules } from "../deadlines/domain";
import { CaseFiles } from "./case-files";
import { DocumentIntegrityError, DocumentStore } from "./document-store";
import {
  assertDecidable,
  assertResubmittable,
  assertWithdrawable,
  documentViolations,
  isCurrentStatus,
  returnCountAfter,
  applyStatusChange,
  stateAfterVerification,
} from "./domain";

const { TransferState: State } = pb;

/** Core NATS subject of an agency's ChangeNotices. */
export function changeSubject(agency: common.Agency): string {
  return `cb.changes.${sealAgencyOf(agency)!}`;
}

/** The JetStream stream of cross-agency transfer events; subject `cb.transfer.<recipient agency>`. */
export const TRANSFER_STREAM = "CB_TRANSFERS";

/** How long JetStream waits for an ack before it redelivers an event (to another instance after a crash). */
const ACK_WAIT_MS = 10_000;

/** The subject events for `agency` are published on. */
export function transferSubject(agency: common.Agency): string {
  const name = sealAgencyOf(agency);
  if (!name) throw new InvalidArgumentError(`no such agency ${agency}`);
  return `cb.transfer.${name}`;
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
    indexes: [{ box: 1, updatedAt: -1 }, { caseId: 1 }],
    fields: (t) => ({ box: t.sender === agency ? "outbox" : "inbox", state: t.state, caseId: t.case?.caseId ?? "", updatedAt: t.updatedAt ?? new Date(0) }),
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
  readonly recipient: common.Agency;
  readonly purpose: pb.TransferPurpose;
  readonly parentTransferId?: string;
  readonly path?: readonly common.Agency[];
}

/**
 * Moves cases between agencies, for one agency service: sealed bundles stored beside the events,
 * transfers with their outbox in one document, a relay to JetStream, an idempotent consumer of the
 * agency's inbound events, the case timeline and the hash-chained audit log.
 */
export class TransferEngine {
  readonly transfers: AggregateStore<pb.Transfer>;
  /** The agency's case files, which transfers carry. */
  readonly caseFiles: CaseFiles;
  /** Read models (MongoDB, projected): lists only, never decisions. */
  readonly transferView: ViewCollection;
  readonly timeline: TimelineRepository;
  readonly audit: AuditLog;
  private consumer: RunningConsumer | undefined;
  private readonly clock: () => Date;

  private constructor(
    private readonly deps: TransferEngineDeps,
    readonly documents: DocumentStore,
  ) {
    this.clock = deps.clock ?? (() => new Date());
    const { runtime } = deps;
    this.transfers = runtime.store("transfer", TRANSFER_CODEC, deliveredState);
    this.transferView = registerTransferView(runtime, deps.agency, (t) => this.notify({ transferId: t.transferId, caseId: t.case?.caseId ?? "", state: t.state }));
    this.caseFiles = new CaseFiles(runtime, deps.agency, (inputs) => this.sealDocuments(inputs), this.clock, (c) => this.notify({ caseId: c.case?.caseId ?? "" }), deps.deadlineRules);
    this.timeline = runtime.timeline;
    this.audit = runtime.audit;
  }

  /** Opens the stores, the stream and this agency's durable consumer. */
  static async create(deps: TransferEngineDeps): Promise<TransferEngine> {
    const engine = new TransferEngine(deps, await DocumentStore.open(deps.nc, deps.runtime.deps.replicas ?? 1));
    const jsm = deps.runtime.jsm;
    await ensureStream(jsm, { name: TRANSFER_STREAM, subjects: ["cb.transfer.>"], num_replicas: deps.runtime.deps.replicas ?? 1 });
    await ensureConsumer(jsm, TRANSFER_STREAM, {
      durable_name: engine.consumerName,
      filter_subject: transferSubject(deps.agency),
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
    this.consumer = await consumeEvents(this.deps.js, TRANSFER_STREAM, this.consumerName, (event) => this.applyEvent(event.data, event.eventId), {
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
          ref: { documentId: input.documentId, title: input.title, documentType: input.documentType, mediaType: input.mediaType, sizeBytes: input.content.length, sha256: contentKey },
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
      bundle: await this.sealBundle(transferId, outgoing.kase, outgoing.recipient, outgoing.documents, now),
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
    };
    await this.transfers.insert(transferId, { value: transfer, outbox: this.submissionItems(transfer, outgoing.actor, "submitted") });
    return transfer;
  }

  /** Resubmits a returned or rejected transfer with the given documents. */
  async resubmit(actor: Actor, transferId: string, documents: readonly pb.BundleDocument[]): Promise<pb.Transfer> {
    const current = await this.outgoing(transferId);
    assertResubmittable(current.value);
    const now = this.clock();
    const bundle = await this.sealBundle(transferId, current.value.case!, current.value.recipient, documents, now);
    const stored = await this.transfers.mutate(transferId, ({ value }) => {
      assertResubmittable(value);
      const next = { ...value, bundle, state: State.TRANSFER_STATE_SUBMITTED, submission: value.submission + 1, verification: undefined, updatedAt: now };
      return { value: next, outbox: this.submissionItems(next, actor, "resubmitted") };
    });
    return stored!.value;
  }

  /** Takes back a transfer the receiver has not decided on. */
  async withdraw(actor: Actor, transferId: string, reason: string): Promise<pb.Transfer> {
    if (!reason.trim()) throw new InvalidArgumentError("a withdrawal needs a reason", [{ field: "reason", description: "must not be empty" }]);
    return this.changeOwn(transferId, "sender", (value) => {
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
    return this.changeOwn(transferId, "recipient", (value) => {
      assertDecidable(value);
      const next = { ...value, state: State.TRANSFER_STATE_ACCEPTED, statusSequence: value.statusSequence + 1, updatedAt: this.clock() };
      return { value: next, outbox: this.decisionItems(next, actor.user, "accepted", {}) };
    });
  }

  /** Returns a received transfer to its sender with a reason; at most twice for supplementary investigation. */
  async giveBack(actor: Actor, transferId: string, reason: pb.ReturnReason, note: string): Promise<pb.Transfer> {
    return this.changeOwn(transferId, "recipient", (value) => {
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

  /** Changes a transfer this agency is `side` of, in one read and one write; NotFoundError for anyone else's. */
  private async changeOwn(transferId: string, side: "sender" | "recipient", decide: (value: pb.Transfer) => Change<pb.Transfer>): Promise<pb.Transfer> {
    const missing = () => new NotFoundError(`no ${side === "sender" ? "outbound" : "inbound"} transfer ${transferId}`);
    const stored = await this.transfers.mutate(transferId, ({ value }) => {
      if (value[side] !== this.deps.agency) throw missing();
      return decide(value);
    });
    if (!stored) throw missing();
    return stored.value;
  }

  /** Tells the sender and every earlier agency of a received transfer about a step (e.g. a judgment); `concludes`: the step ends this agency's time limit on it. */
  async announce(actor: Actor, transferId: string, action: string, detail: string, document?: pb.BundleDocument, concludes = false): Promise<void> {
    await this.transfers.mutate(transferId, ({ value }) => {
      const entry = this.entry(value, actor.user, action, { detail, document, counterpart: value.sender });
      return {
        value: { ...value, updatedAt: this.clock(), concludedBy: concludes ? action : value.concludedBy },
        outbox: [
          timelineOutboxItem(entry),
          ...[value.sender, ...value.path].map((to) => this.eventItem(to, { ...this.eventBase(value, actor.user, to), progress: entry })),
          this.auditItem(actor.user, `case.${action}`, value, document ? [document.contentKey] : []),
        ],
      };
    });
  }

  /** A transfer this agency received; NotFoundError otherwise. */
  async incoming(transferId: string): Promise<Stored<pb.Transfer>> {
    const stored = await this.transfers.get(transferId);
    if (!stored || stored.value.recipient !== this.deps.agency) throw new NotFoundError(`no inbound transfer ${transferId}`);
    return stored;
  }

  /** A transfer this agency sent; NotFoundError otherwise. */
  async outgoing(transferId: string): Promise<Stored<pb.Transfer>> {
    const stored = await this.transfers.get(transferId);
    if (!stored || stored.value.sender !== this.deps.agency) throw new NotFoundError(`no outbound transfer ${transferId}`);
    return stored;
  }

  /** Lists the inbox or outbox, newest first, with an opaque page token. */
  async list(request: pb.ListTransfersRequest): Promise<pb.ListTransfersResponse> {
    if (request.box !== pb.Box.BOX_INBOX && request.box !== pb.Box.BOX_OUTBOX) {
      throw new InvalidArgumentError("invalid box", [{ field: "box", description: "must be INBOX or OUTBOX" }]);
    }
    const filter: Record<string, unknown> = { box: request.box === pb.Box.BOX_INBOX ? "inbox" : "outbox" };
    if (request.states.length > 0) filter.state = { $in: request.states };
    if (request.caseId) filter.caseId = request.caseId;
    const { values, nextPageToken } = await newestFirst(this.transferView, filter, request.pageSize, request.pageToken);
    return { transfers: values.map((bytes) => pb.Transfer.decode(bytes)), nextPageToken };
  }

  /** One document of a transfer this agency is party to, its seal verified now, with its bytes if asked. */
  async document(request: pb.GetDocumentRequest): Promise<pb.GetDocumentResponse> {
    const stored = await this.transfers.get(request.transferId);
    if (!stored) throw new NotFoundError(`no transfer ${request.transferId}`);
    this.assertParty(stored.value);
    const document = stored.value.bundle?.documents.find((d) => d.ref?.documentId === request.documentId);
    if (!document) throw new NotFoundError(`transfer ${request.transferId} has no document ${request.documentId}`);
    const [content, seal] = await Promise.all([this.fetch(document.contentKey), this.fetch(document.sealKey)]);
    const verification = !content
      ? failedVerification("the document is missing from the document store or does not match its digest").manifestSeal!
      : !seal
        ? failedVerification("the document carries no seal").manifestSeal!
        : this.deps.seals.verifier.verify(content, seal, { agency: document.sealedBy });
    return { document, verification, content: request.includeContent && content ? content : Buffer.alloc(0) };
  }

  /** Publishes a ChangeNotice for live views (after the projector updated them); best effort (a view that misses one catches up on its next read). */
  notify(change: Partial<Pick<pb.ChangeNotice, "transferId" | "caseId" | "state" | "alertId">>): void {
    const notice = pb.ChangeNotice.encode(pb.ChangeNotice.fromPartial({ ...change, agency: this.deps.agency, at: this.clock() })).finish();
    try {
      this.deps.nc.publish(changeSubject(this.deps.agency), notice);
    } catch (error) {
      this.deps.logger.debug({ err: error }, "change notice not published");
    }
  }

  // --- inbound events ----------------------------------------------------------------------

  /** Applies one inbound event once (a redelivery changes nothing); throws to have it redelivered later. */
  async applyEvent(data: Uint8Array, eventId: string): Promise<void> {
    let event: pb.TransferEvent;
    try {
      event = pb.TransferEvent.decode(data);
    } catch (error) {
      this.deps.logger.error({ err: error, eventId }, "undecodable transfer event dropped");
      return;
    }
    if (event.to !== this.deps.agency) {
      this.deps.logger.error({ eventId, to: event.to }, "transfer event for another agency dropped");
      return;
    }
    if (event.submitted) await this.receive(event, event.submitted, eventId);
    else if (event.withdrawnReason !== undefined) await this.applyWithdrawal(event, eventId);
    else if (event.status) await this.applyStatus(event, event.status, eventId);
    else if (event.progress) await this.applyProgress(event.progress);
  }

  private async receive(event: pb.TransferEvent, submitted: pb.Transfer, eventId: string): Promise<void> {
    const existing = await this.transfers.get(submitted.transferId);
    if (existing?.applied.includes(eventId) || (existing && existing.value.submission >= submitted.submission)) return;
    const verification = await this.verifySubmission(event, submitted);
    const state = stateAfterVerification(verification);
    const action = state === State.TRANSFER_STATE_RECEIVED ? "received" : "rejected";
    const now = this.clock();
    const build = (base: pb.Transfer | undefined): Change<pb.Transfer> => {
      const next: pb.Transfer = {
        ...submitted,
        state,
        verification,
        supplementaryReturns: base?.supplementaryReturns ?? submitted.supplementaryReturns,
        statusSequence: (base?.statusSequence ?? 0) + 1,
        returnReason: pb.ReturnReason.RETURN_REASON_UNSPECIFIED,
        returnNote: "",
        updatedAt: now,
        receivedAt: now,
        concludedBy: "",
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
      if (await this.transfers.insert(submitted.transferId, build(undefined), eventId)) return;
    }
    await this.transfers.mutate(submitted.transferId, ({ value }) => (value.submission >= submitted.submission ? undefined : build(value)), eventId);
  }

  /** Fetches the bundle from the document store and verifies the manifest seal and every document. */
  private async verifySubmission(event: pb.TransferEvent, submitted: pb.Transfer): Promise<sealPb.BundleVerification> {
    const bundle = submitted.bundle;
    if (!bundle) return failedVerification("the submission carries no bundle");
    const objects = await this.documents.getMany([bundle.manifestKey, bundle.manifestSealKey, ...bundle.documents.flatMap((d) => [d.contentKey, d.sealKey])]);
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
    if (verification.status === sealPb.VerificationStatus.VERIFICATION_STATUS_VALID && sealed) {
      const misrouted =
        sealed.recipient !== this.deps.agency || sealed.sender !== event.from || sealed.caseId !== submitted.case?.caseId || sealed.bundleId !== bundle.bundleId;
      if (misrouted) return { ...verification, status: sealPb.VerificationStatus.VERIFICATION_STATUS_INVALID, manifestSeal: { ...verification.manifestSeal!, status: sealPb.VerificationStatus.VERIFICATION_STATUS_INVALID, failure: sealPb.VerificationFailure.VERIFICATION_FAILURE_WRONG_AGENCY, message: "the sealed manifest names another sender, recipient, case or bundle" } };
    }
    return verification;
  }

  /** An object of the document store, or null when it is missing or does not hash to its key. */
  private async fetch(key: string): Promise<Buffer | null> {
    try {
      return await this.documents.get(key);
    } catch (error) {
      if (error instanceof NotFoundError || error instanceof DocumentIntegrityError) return null;
      throw error;
    }
  }

  private async applyWithdrawal(event: pb.TransferEvent, eventId: string): Promise<void> {
    await this.transfers.mutate(
      event.transferId,
      ({ value }) => {
        if (value.state === State.TRANSFER_STATE_ACCEPTED || value.state === State.TRANSFER_STATE_WITHDRAWN) return undefined;
        const next = { ...value, state: State.TRANSFER_STATE_WITHDRAWN, updatedAt: this.clock() };
        return {
          value: next,
          outbox: [
            this.timelineItem(next, event.actor, "withdrawn", { detail: event.withdrawnReason ?? "", agency: event.from, counterpart: this.deps.agency }),
            this.auditItem(event.actor, "transfer.withdrawn-by-sender", next),
          ],
        };
      },
      eventId,
    );
  }

  private async applyStatus(event: pb.TransferEvent, status: pb.StatusChange, eventId: string): Promise<void> {
    await this.transfers.mutate(
      event.transferId,
      ({ value }) => {
        const entry = this.timelineItem(value, event.actor, actionOf(status.state), {
          agency: event.from,
          counterpart: this.deps.agency,
          verification: status.verification?.status,
          returnReason: status.returnReason,
          detail: status.returnNote || (status.verification ? describeFailures(status.verification) : ""),
        });
        if (!isCurrentStatus(value, status)) return { value, outbox: [entry] };
        const next = applyStatusChange(value, status, this.clock());
        return { value: next, outbox: [entry, this.auditItem(event.actor, `transfer.${actionOf(status.state)}-by-recipient`, next)] };
      },
      eventId,
    );
  }

  private async applyProgress(entry: pb.TimelineEntry): Promise<void> {
    let verification = entry.verification;
    if (entry.document) {
      const [content, seal] = await Promise.all([this.fetch(entry.document.contentKey), this.fetch(entry.document.sealKey)]);
      verification = content && seal ? this.deps.seals.verifier.verify(content, seal, { agency: entry.agency }).status : sealPb.VerificationStatus.VERIFICATION_STATUS_INVALID;
    }
    const seen = { ...entry, verification };
    const agency = sealAgencyOf(this.deps.agency)!;
    await publishEvent(this.deps.js, timelineSubject(agency), pb.TimelineEntry.encode(seen).finish(), ledgerMessageId(agency, seen.entryId));
  }

  // --- outbox items ------------------------------------------------------------------------

  private async sealBundle(transferId: string, kase: pb.Case, recipient: common.Agency, documents: readonly pb.BundleDocument[], now: Date): Promise<pb.Bundle> {
    if (documents.length === 0) throw new FailedPreconditionError("the case has no documents to send");
    const bundleId = `${transferId}:${randomUUID().slice(0, 8)}`;
    const manifest: sealPb.BundleManifest = {
      bundleId,
      caseId: kase.caseId,
      sender: this.deps.agency,
      recipient,
      createdAt: now,
      documents: documents.map((document) => document.ref!),
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
    };
    const entry = this.entry(transfer, actor, action, { ...extra, counterpart: transfer.sender });
    return [
      this.eventItem(transfer.sender, { ...this.eventBase(transfer, actor, transfer.sender), status }),
      ...transfer.path.map((to) => this.eventItem(to, { ...this.eventBase(transfer, actor, to), progress: entry })),
      timelineOutboxItem(entry),
      this.auditItem(actor, `transfer.${action}`, transfer),
    ];
  }

  private eventBase(transfer: pb.Transfer, actor: string, to: common.Agency): pb.TransferEvent {
    return { eventId: randomUUID(), transferId: transfer.transferId, from: this.deps.agency, to, at: this.clock(), actor };
  }

  private eventItem(to: common.Agency, event: pb.TransferEvent): OutboxItem {
    return rpb.OutboxItem.fromPartial({ id: event.eventId, kind: rpb.OutboxKind.OUTBOX_KIND_EVENT, subject: transferSubject(to), data: pb.TransferEvent.encode(event).finish() });
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

  /** Checks that `actor` may see `transfer`: this agency sent or received it. */
  assertParty(transfer: pb.Transfer): void {
    if (transfer.sender !== this.deps.agency && transfer.recipient !== this.deps.agency) throw new PermissionDeniedError("this agency is no party to the transfer");
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

