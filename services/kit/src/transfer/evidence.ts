import { Kvm } from "@nats-io/kv";
import type { NatsConnection } from "@nats-io/transport-node";
import { transfer as pb, trust as tpb } from "@casebridge/proto";
import { FailedPreconditionError, NotFoundError } from "../errors";
import { aggregateKey, decodeRecord } from "../runtime/aggregate-store";
import { aggregateBucket } from "../runtime/durable-runtime";
import { buildEvidencePackage, type EvidencePackageInput } from "../seal/evidence-package";
import { loadTrustMaterial } from "../seal/pki-files";
import { sealAgencyOf, type SealAgency } from "../seal/pki";
import { RevocationError, RevocationRegistry } from "../seal/revocation";
import { openCrlBucket } from "../seal/revocation-nats";
import { DocumentStore } from "./document-store";

/** The trust files an evidence package carries: every CA certificate (DER) and the CRLs in force (DER). */
export interface EvidenceTrust {
  readonly caCertificates: readonly Buffer[];
  readonly crls: readonly Buffer[];
}

/** The largest package served in one answer (gRPC carries 32 MiB); bigger ones are exported with `npm run seal -- export`. */
export const MAX_SERVED_PACKAGE_BYTES = 24 * 1024 * 1024;

/**
 * Collects what a transfer's offline evidence package holds, from the document store: the sealed
 * manifest, every document with its seal, the signed receipts kept on the transfer, and the trust
 * files; builds the ZIP (deterministic for the same `exportedAt`).
 */
export async function transferEvidencePackage(transfer: pb.Transfer, documents: DocumentStore, trust: EvidenceTrust, exportedAt: Date): Promise<{ zip: Buffer; fileName: string }> {
  const bundle = transfer.bundle;
  if (!bundle) throw new FailedPreconditionError(`transfer ${transfer.transferId} carries no bundle`);
  const keys = [bundle.manifestKey, bundle.manifestSealKey, ...bundle.documents.flatMap((d) => [d.contentKey, d.sealKey]), ...transfer.receiptKeys];
  const objects = await documents.getMany(keys, sealAgencyOf(transfer.sender));
  const need = (key: string, what: string): Buffer => {
    const found = objects.get(key);
    if (!found) throw new FailedPreconditionError(`${what} of transfer ${transfer.transferId} is missing from the document store`);
    return found;
  };
  const input: EvidencePackageInput = {
    transferId: transfer.transferId,
    caseNumber: transfer.case?.caseNumber ?? "",
    sender: sealAgencyOf(transfer.sender) ?? "",
    recipient: sealAgencyOf(transfer.recipient) ?? "",
    purpose: pb.transferPurposeToJSON(transfer.purpose),
    exportedAt,
    manifest: { bytes: need(bundle.manifestKey, "the manifest"), seal: need(bundle.manifestSealKey, "the manifest seal") },
    documents: bundle.documents.map((document) => ({
      documentId: document.ref?.documentId ?? "",
      title: document.ref?.title ?? "",
      mediaType: document.ref?.mediaType ?? "application/octet-stream",
      content: need(document.contentKey, `document ${document.ref?.documentId ?? ""}`),
      seal: need(document.sealKey, `the seal of document ${document.ref?.documentId ?? ""}`),
    })),
    caCertificates: trust.caCertificates,
    crls: trust.crls,
    receipts: transfer.receiptKeys.map((key, index) => {
      const envelope = need(key, "a signed receipt");
      return { label: `${String(index + 1).padStart(2, "0")}-${receiptLabel(envelope)}`, envelope };
    }),
  };
  const zip = await buildEvidencePackage(input);
  return { zip, fileName: `evidence-${transfer.case?.caseNumber || transfer.case?.caseId || "case"}-${transfer.transferId.slice(0, 8)}.zip`.replace(/[^\w.-]+/g, "_") };
}

/** A short label for a receipt: what the signed event says ("submission", "received", "accepted", ...). */
function receiptLabel(envelope: Buffer): string {
  try {
    const event = pb.TransferEvent.decode(tpb.EnvelopeContent.decode(tpb.SignedEnvelope.decode(envelope).content).payload);
    if (event.submitted) return `submission-${event.submitted.submission}`;
    if (event.status) return pb.transferStateToJSON(event.status.state).replace("TRANSFER_STATE_", "").toLowerCase();
    if (event.withdrawnReason !== undefined) return "withdrawal";
    return "event";
  } catch {
    return "envelope";
  }
}

/**
 * `npm run seal -- export`: reads a transfer straight from an agency's bucket and the document store
 * (an operator's tool on a service host, no size limit) and builds its evidence package; the CRLs are
 * the newest of the PKI files and of the CRL bucket.
 */
export async function exportTransferEvidence(nc: NatsConnection, agency: SealAgency, transferId: string, pkiDir: string, now: Date): Promise<{ zip: Buffer; fileName: string }> {
  const kv = await new Kvm(nc).open(aggregateBucket(agency));
  const entry = await kv.get(aggregateKey("transfer", transferId));
  if (!entry || entry.operation !== "PUT") throw new NotFoundError(`the ${agency} service holds no transfer ${transferId}`);
  const transfer = pb.Transfer.decode(decodeRecord(entry.value).value);
  const trust = await loadTrustMaterial(pkiDir);
  const registry = new RevocationRegistry([...trust.roots, ...trust.intermediates]);
  for (const crl of trust.crls) offerCrl(registry, crl);
  const crlBucket = await openCrlBucket(nc);
  for await (const key of await crlBucket.keys()) {
    const found = await crlBucket.get(key);
    if (found?.operation === "PUT") offerCrl(registry, Buffer.from(found.value));
  }
  const caCertificates = [...trust.roots, ...trust.intermediates, ...trust.timeStampAuthorities].map((certificate) => certificate.der);
  return transferEvidencePackage(transfer, await DocumentStore.open(nc, agency), { caCertificates, crls: registry.currentCrls() }, now);
}

function offerCrl(registry: RevocationRegistry, der: Buffer): void {
  try {
    registry.apply(der);
  } catch (error) {
    if (!(error instanceof RevocationError)) throw error;
  }
}
