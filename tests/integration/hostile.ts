import { randomUUID } from "node:crypto";
import type { NatsConnection } from "@nats-io/transport-node";
import { jetstream } from "@nats-io/jetstream";
import { publishEvent, TRANSFER_EVENT_TYPE, transferSubject, type Sealer } from "@casebridge/kit";
import { common, transfer as pb, trust as tpb } from "@casebridge/proto";

/** How a hostile (or faulty) publisher wraps an event: signed by `sealer` (or not at all), with the envelope fields it chooses. */
export interface Wrapping {
  /** The key that signs; null publishes an unsigned envelope. */
  readonly sealer: Sealer | null;
  /** Envelope fields that differ from the event's (a forger can claim anything). */
  readonly from?: common.Agency;
  readonly to?: common.Agency;
  readonly subjectId?: string;
  readonly envelopeId?: string;
}

/** A transfer event in a SignedEnvelope, as anyone who can publish on NATS could make it. */
export async function wrap(event: pb.TransferEvent, wrapping: Wrapping): Promise<Uint8Array> {
  const content = tpb.EnvelopeContent.encode({
    envelopeId: wrapping.envelopeId ?? event.eventId,
    from: wrapping.from ?? event.from,
    to: wrapping.to ?? event.to,
    payloadType: TRANSFER_EVENT_TYPE,
    subjectId: wrapping.subjectId ?? event.transferId,
    signedAt: new Date(),
    payload: pb.TransferEvent.encode(event).finish(),
  }).finish();
  if (!wrapping.sealer) return tpb.SignedEnvelope.encode({ content, signature: Buffer.alloc(0), certificate: Buffer.alloc(0) }).finish();
  const { signature, certificate } = await wrapping.sealer.signDetached(content);
  return tpb.SignedEnvelope.encode({ content, signature, certificate }).finish();
}

/**
 * Publishes raw bytes straight on an agency's inbound JetStream subject, as a hostile insider would
 * (the test connection holds the operator's NATS rights, so the subject's sender token is whatever it likes).
 */
export async function publishRaw(nc: NatsConnection, to: common.Agency, data: Uint8Array, msgId: string = randomUUID(), from: common.Agency = common.Agency.AGENCY_NOTARY): Promise<void> {
  await publishEvent(jetstream(nc), transferSubject(to, from), data, msgId);
}
