import { createHash, randomUUID } from "node:crypto";
import { common, trust as tpb } from "@casebridge/proto";
import type { Logger } from "pino";
import type { AggregateCodec, AggregateStore, OutboxItem } from "../runtime/aggregate-store";
import type { DurableRuntime } from "../runtime/durable-runtime";
import { auditOutboxItem } from "../runtime/outbox-items";
import { newestFirst } from "../runtime/paging";
import type { ViewCollection } from "../runtime/view-collection";
import { envelopeOutboxItem, type OpenedEnvelope, type Refusal } from "./envelope";
import type { Refused } from "./inbox";

const INCIDENT_CODEC: AggregateCodec<tpb.SecurityIncident> = { encode: (i) => tpb.SecurityIncident.encode(i).finish(), decode: (b) => tpb.SecurityIncident.decode(b) };

/** Refusals anyone on the network can provoke without a key: counted per claimed sender, reason and hour. */
const UNAUTHENTICATED = new Set<tpb.IncidentReason>([tpb.IncidentReason.INCIDENT_REASON_MALFORMED, tpb.IncidentReason.INCIDENT_REASON_UNSIGNED, tpb.IncidentReason.INCIDENT_REASON_BAD_SIGNATURE]);

/** At most `max` characters of what a refused message claimed (it may be anything, of any size). */
function clip(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max)}…`;
}

/** The protobuf type name of an incident notice payload. */
export const INCIDENT_NOTICE_TYPE = "casebridge.trust.v1.IncidentNotice";

/** What the incident register of one agency needs. */
export interface IncidentRegisterDeps {
  readonly agency: common.Agency;
  readonly runtime: DurableRuntime;
  /** The inbound subject of an agency, where its notice is sent. */
  readonly inboxOf: (agency: common.Agency) => string;
  readonly logger: Logger;
  readonly clock?: () => Date;
}

/**
 * The security incidents of one agency: every inbound envelope that was refused (never applied) is
 * recorded once, with who claimed to send what and why it failed, and the agency named as sender is
 * told with a signed notice; notices received from other agencies are recorded too.
 */
export class IncidentRegister {
  readonly incidents: AggregateStore<tpb.SecurityIncident>;
  readonly view: ViewCollection;
  private readonly clock: () => Date;

  constructor(private readonly deps: IncidentRegisterDeps) {
    this.clock = deps.clock ?? (() => new Date());
    this.incidents = deps.runtime.store("incident", INCIDENT_CODEC);
    this.view = deps.runtime.view({
      kind: "incident",
      codec: INCIDENT_CODEC,
      indexes: [{ updatedAt: -1 }],
      fields: (incident) => ({ updatedAt: incident.lastAt ?? incident.at ?? new Date(0), reason: incident.reason, claimedFrom: incident.claimedFrom }),
    });
  }

  /**
   * Records a refused envelope and, the first time, notifies the agency it claimed to come from.
   * `messageId` identifies the refused message (the SHA-256 of its bytes): a replay is the same
   * incident. Unauthenticated refusals (malformed, unsigned, bad signature: anyone on the network can
   * make them) are counted in one record per claimed sender, reason and hour instead, so that a flood
   * stays a handful of records and notices; refusals of a genuinely signed envelope are each kept.
   */
  async record(refusal: Refusal, messageId: string, claimedKind: string): Promise<tpb.SecurityIncident> {
    const at = this.clock();
    const incidentId = UNAUTHENTICATED.has(refusal.reason)
      ? createHash("sha256").update(`${refusal.claimedFrom}|${refusal.reason}|${at.toISOString().slice(0, 13)}`).digest("hex")
      : messageId;
    const incident: tpb.SecurityIncident = {
      incidentId,
      at,
      recordedBy: this.deps.agency,
      claimedFrom: common.agencyToJSON(refusal.claimedFrom) === "UNRECOGNIZED" ? common.Agency.AGENCY_UNSPECIFIED : refusal.claimedFrom,
      claimedKind: clip(claimedKind, 100),
      subjectId: clip(refusal.subjectId, 200),
      reason: refusal.reason,
      detail: clip(refusal.detail, 1000),
      signer: clip(refusal.signer, 500),
      reportedByCounterpart: false,
      occurrences: 1,
      lastAt: at,
      namedSenderNotified: false,
    };
    const named = incident.claimedFrom;
    const outbox: OutboxItem[] = [this.auditItem(incident)];
    if (named !== common.Agency.AGENCY_UNSPECIFIED && named !== this.deps.agency) {
      outbox.push(
        envelopeOutboxItem({
          id: randomUUID(),
          from: this.deps.agency,
          to: named,
          subject: this.deps.inboxOf(named),
          payloadType: INCIDENT_NOTICE_TYPE,
          subjectId: incident.subjectId,
          at,
          payload: tpb.IncidentNotice.encode({ incident }).finish(),
        }),
      );
    }
    const created = await this.incidents.insert(incidentId, { value: incident, outbox });
    if (!created && incidentId !== messageId) {
      // One more of a counted kind: the count and the time of the last go up, nothing is sent again.
      await this.incidents.mutate(incidentId, ({ value }) => ({ value: { ...value, occurrences: value.occurrences + 1, lastAt: at }, outbox: [] }), messageId);
    }
    this.deps.logger.warn({ incidentId, reason: tpb.incidentReasonToJSON(refusal.reason), claimedFrom: common.agencyToJSON(named), subjectId: incident.subjectId, detail: incident.detail, repeated: !created }, "inbound envelope refused: security incident");
    return incident;
  }

  /** Records a verified notice from another agency (something was sent in this agency's name and refused there), or says why it is refused. */
  async applyNotice(opened: OpenedEnvelope): Promise<Refused | undefined> {
    let notice: tpb.IncidentNotice;
    try {
      notice = tpb.IncidentNotice.decode(opened.content.payload);
    } catch (error) {
      return { reason: tpb.IncidentReason.INCIDENT_REASON_MALFORMED, detail: `undecodable incident notice: ${(error as Error).message}` };
    }
    const reported = notice.incident;
    if (!reported?.incidentId || reported.recordedBy !== opened.content.from || reported.claimedFrom !== this.deps.agency) {
      return { reason: tpb.IncidentReason.INCIDENT_REASON_SUBJECT_MISMATCH, detail: "the notice is about an incident another agency recorded, or about another sender" };
    }
    const incident: tpb.SecurityIncident = { ...reported, reportedByCounterpart: true };
    await this.incidents.insert(`${reported.incidentId}.reported`, { value: incident, outbox: [this.auditItem(incident)] });
    return undefined;
  }

  /** One page of incidents, newest first. */
  async list(request: tpb.ListIncidentsRequest): Promise<tpb.ListIncidentsResponse> {
    const page = await newestFirst(this.view, {}, request.pageSize, request.pageToken);
    return { incidents: page.values.map((bytes) => tpb.SecurityIncident.decode(bytes)), nextPageToken: page.nextPageToken };
  }

  private auditItem(incident: tpb.SecurityIncident): OutboxItem {
    return auditOutboxItem({
      entryId: randomUUID(),
      at: incident.at ?? this.clock(),
      actor: "system",
      action: incident.reportedByCounterpart ? "security.incident-reported" : "security.incident",
      subject: `incident:${incident.incidentId}`,
      digests: [incident.incidentId],
    });
  }
}
