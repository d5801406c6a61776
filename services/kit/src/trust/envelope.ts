import { createHash } from "node:crypto";
import { common, runtime as rpb, seal as sealPb, trust as tpb } from "@casebridge/proto";
import type { OutboxItem } from "../runtime/aggregate-store";
import type { Sealer } from "../seal/cms";
import type { SealVerifier } from "../seal/verifier";

const { IncidentReason: Reason } = tpb;

/** What an outgoing cross-agency event is: to whom, about what, and its payload (signed by the relay). */
export interface OutgoingEnvelope {
  /** Unique id: the envelope id, the Nats-Msg-Id, and what the receiver remembers as applied. */
  readonly id: string;
  readonly from: common.Agency;
  readonly to: common.Agency;
  /** The NATS subject it is published on (the recipient's inbound subject). */
  readonly subject: string;
  /** Fully-qualified protobuf type of the payload. */
  readonly payloadType: string;
  /** The record it is about (a transfer id). */
  readonly subjectId: string;
  readonly at: Date;
  readonly payload: Uint8Array;
}

/**
 * An outbox item carrying the unsigned EnvelopeContent of a cross-agency event: the relay signs it
 * with the agency's seal key as it publishes (one place, for every workflow).
 */
export function envelopeOutboxItem(envelope: OutgoingEnvelope): OutboxItem {
  const content = tpb.EnvelopeContent.encode({
    envelopeId: envelope.id,
    from: envelope.from,
    to: envelope.to,
    payloadType: envelope.payloadType,
    subjectId: envelope.subjectId,
    signedAt: envelope.at,
    payload: envelope.payload,
  }).finish();
  return rpb.OutboxItem.fromPartial({ id: envelope.id, kind: rpb.OutboxKind.OUTBOX_KIND_EVENT, subject: envelope.subject, data: content });
}

/** Signs envelope contents with one agency's seal key. */
export interface EnvelopeSigner {
  /** Wraps an encoded EnvelopeContent in a SignedEnvelope; refuses content claiming another sender. */
  sign(content: Uint8Array): Promise<Uint8Array>;
}

/** EnvelopeSignerError: the content cannot be signed by this agency (a programming error, never input). */
export class EnvelopeSignerError extends Error {
  override name = "EnvelopeSignerError";
}

/** The EnvelopeSigner of an agency service: its Sealer's key makes a compact detached signature. */
export function sealerEnvelopeSigner(sealer: Sealer): EnvelopeSigner {
  return {
    async sign(content) {
      const from = tpb.EnvelopeContent.decode(content).from;
      if (from !== sealer.madeSeal.seal.agency) {
        throw new EnvelopeSignerError(`an envelope from ${common.agencyToJSON(from)} cannot be signed with the seal of ${common.agencyToJSON(sealer.madeSeal.seal.agency)}`);
      }
      const { signature, certificate } = await sealer.signDetached(content);
      return tpb.SignedEnvelope.encode({ content, signature, certificate }).finish();
    },
  };
}

/** An envelope whose signature, chain, revocation, signer agency and recipient were verified. */
export interface OpenedEnvelope {
  readonly content: tpb.EnvelopeContent;
  /** The whole signed envelope as received: the evidence to keep (a receipt). */
  readonly raw: Uint8Array;
  /** Subject of the signing certificate. */
  readonly signer: string;
}

/** Why an envelope was refused, with what it claimed (everything an incident records). */
export interface Refusal {
  readonly reason: tpb.IncidentReason;
  readonly detail: string;
  readonly claimedFrom: common.Agency;
  readonly subjectId: string;
  readonly payloadType: string;
  readonly signer: string;
}

/** The incident id of a refused message: the SHA-256 of its bytes, so a replay is the same incident. */
export function incidentIdOf(raw: Uint8Array): string {
  return createHash("sha256").update(raw).digest("hex");
}

/**
 * Opens an inbound SignedEnvelope for agency `self`: decodes it, verifies the signature with the
 * certificate it carries (chain to the platform root, validity at signing time, revocation now),
 * that the certificate is of the agency named as `from`, and that it is addressed to `self`.
 * Never throws for bad input: a Refusal says why.
 */
export function openEnvelope(verifier: SealVerifier, raw: Uint8Array, self: common.Agency): OpenedEnvelope | Refusal {
  let envelope: tpb.SignedEnvelope;
  let content: tpb.EnvelopeContent;
  try {
    envelope = tpb.SignedEnvelope.decode(raw);
    content = tpb.EnvelopeContent.decode(envelope.content);
  } catch (error) {
    return refusal(Reason.INCIDENT_REASON_MALFORMED, `not a signed envelope: ${(error as Error).message}`);
  }
  const claimed = { claimedFrom: content.from, subjectId: content.subjectId, payloadType: content.payloadType };
  if (!content.envelopeId || !content.payloadType || !content.signedAt) {
    return refusal(Reason.INCIDENT_REASON_MALFORMED, "the envelope lacks its id, payload type or signing time", claimed);
  }
  if (envelope.signature.length === 0 || envelope.certificate.length === 0) {
    return refusal(Reason.INCIDENT_REASON_UNSIGNED, "the envelope carries no signature or no certificate", claimed);
  }
  const verification = verifier.verifySignature(envelope.content, envelope.signature, envelope.certificate, content.signedAt, { agency: content.from });
  const signer = verification.signer?.subject ?? "";
  if (verification.status !== sealPb.VerificationStatus.VERIFICATION_STATUS_VALID) {
    const wrongSigner = verification.failure === sealPb.VerificationFailure.VERIFICATION_FAILURE_WRONG_AGENCY;
    return refusal(wrongSigner ? Reason.INCIDENT_REASON_WRONG_SIGNER : Reason.INCIDENT_REASON_BAD_SIGNATURE, verification.message, { ...claimed, signer });
  }
  if (content.to !== self) {
    return refusal(Reason.INCIDENT_REASON_WRONG_RECIPIENT, `addressed to ${common.agencyToJSON(content.to)}, not to ${common.agencyToJSON(self)}`, { ...claimed, signer });
  }
  return { content, raw, signer };
}

/** True when `opened` is a Refusal. */
export function isRefusal(opened: OpenedEnvelope | Refusal): opened is Refusal {
  return "reason" in opened;
}

/** A Refusal with what the envelope claimed. */
export function refusal(reason: tpb.IncidentReason, detail: string, claimed: Partial<Omit<Refusal, "reason" | "detail">> = {}): Refusal {
  return {
    reason,
    detail,
    claimedFrom: claimed.claimedFrom ?? common.Agency.AGENCY_UNSPECIFIED,
    subjectId: claimed.subjectId ?? "",
    payloadType: claimed.payloadType ?? "",
    signer: claimed.signer ?? "",
  };
}
