import type { common, trust as tpb } from "@casebridge/proto";
import { trust as tpbValues } from "@casebridge/proto";
import type { SealVerifier } from "../seal/verifier";
import { incidentIdOf, isRefusal, openEnvelope, refusal, type OpenedEnvelope } from "./envelope";
import type { IncidentRegister } from "./incidents";

const { IncidentReason: Reason } = tpbValues;

/** Why a workflow refuses a verified envelope (it becomes a security incident); `kind` is what it claimed to be. */
export interface Refused {
  readonly reason: tpb.IncidentReason;
  readonly detail: string;
  readonly kind?: string;
}

/** How a workflow takes the envelopes of one payload type. */
export interface EnvelopeRoute {
  /** Applies a verified envelope (once: the envelope id is the idempotency key), or says why it is refused. */
  readonly apply: (opened: OpenedEnvelope) => Promise<Refused | undefined>;
  /** What a payload claims to be, for the incident of a refused one ("status accepted", ...); never trusted. */
  readonly kindOf?: (payload: Uint8Array) => string;
}

/**
 * An agency's inbound envelopes, for every workflow: each message is opened (signature, chain,
 * revocation, signer agency, recipient) before the workflow registered for its payload type sees it;
 * whatever is refused, here or by the workflow, is recorded once as a security incident and the
 * agency named as sender is told.
 */
export class EnvelopeInbox {
  private readonly routes = new Map<string, EnvelopeRoute>();

  constructor(
    private readonly verifier: SealVerifier,
    private readonly agency: common.Agency,
    private readonly incidents: IncidentRegister,
  ) {}

  /** Routes the envelopes of `payloadType` to a workflow; a type is registered once. */
  register(payloadType: string, route: EnvelopeRoute): void {
    if (this.routes.has(payloadType)) throw new Error(`payload type ${payloadType} is registered twice`);
    this.routes.set(payloadType, route);
  }

  /** Opens, checks and applies one inbound message; throws only to have it redelivered (e.g. the store is unreachable). */
  async apply(data: Uint8Array): Promise<void> {
    const opened = openEnvelope(this.verifier, data, this.agency);
    if (isRefusal(opened)) {
      await this.incidents.record(opened, incidentIdOf(data), this.claimedKindOf(data));
      return;
    }
    const { content } = opened;
    const route = this.routes.get(content.payloadType);
    const refused: Refused | undefined = route ? await route.apply(opened) : { reason: Reason.INCIDENT_REASON_MALFORMED, detail: `unknown payload type ${content.payloadType}` };
    if (!refused) return;
    const claimed = { claimedFrom: content.from, subjectId: content.subjectId, payloadType: content.payloadType, signer: opened.signer };
    await this.incidents.record(refusal(refused.reason, refused.detail, claimed), incidentIdOf(data), refused.kind ?? this.kindOf(content.payloadType, content.payload));
  }

  private kindOf(payloadType: string, payload: Uint8Array): string {
    try {
      return this.routes.get(payloadType)?.kindOf?.(payload) ?? payloadType;
    } catch {
      return payloadType;
    }
  }

  /** What a refused message claimed to be, as far as it can be read without trusting it. */
  private claimedKindOf(data: Uint8Array): string {
    try {
      const content = tpbValues.EnvelopeContent.decode(tpbValues.SignedEnvelope.decode(data).content);
      return this.kindOf(content.payloadType, content.payload) || "unknown";
    } catch {
      return "unreadable";
    }
  }
}
