import { createHash } from "node:crypto";
import { common, seal as sealPb } from "@casebridge/proto";
import { InvalidArgumentError } from "../errors";
import type { Sealer } from "./cms";
import type { SealVerifier } from "./verifier";

const { VerificationStatus: Status, VerificationFailure: Failure } = sealPb;

/** One document going into a bundle. */
export interface BundleDocumentInput {
  readonly documentId: string;
  readonly title: string;
  readonly documentType: string;
  readonly mediaType: string;
  readonly content: Uint8Array;
}

/** What a bundle is about. */
export interface BundleHeader {
  readonly bundleId: string;
  readonly caseId: string;
  readonly sender: common.Agency;
  readonly recipient: common.Agency;
  readonly createdAt: Date;
  /** What the manifest binds besides its documents (a transfer's bundle sets them all). */
  readonly transferId?: string;
  readonly purpose?: string;
  readonly caseNumber?: string;
  readonly caseSha256?: string;
  readonly submission?: number;
}

/** A manifest and the sender's seal over its bytes, as they travel. */
export interface SealedManifest {
  /** The encoded BundleManifest: the exact bytes that were sealed. */
  readonly manifest: Buffer;
  readonly manifestSeal: Buffer;
}

/** A document as the receiver got it. */
export interface ReceivedDocument {
  readonly documentId: string;
  readonly content: Uint8Array;
  /** The document's own e-seal (made by the agency that issued it). */
  readonly seal?: Uint8Array;
}

/** Lists every document with its size and SHA-256; throws InvalidArgumentError on duplicate or empty ids. */
export function buildManifest(header: BundleHeader, documents: readonly BundleDocumentInput[]): sealPb.BundleManifest {
  const seen = new Set<string>();
  const violations = [];
  for (const [index, document] of documents.entries()) {
    if (!document.documentId) violations.push({ field: `documents[${index}].documentId`, description: "must not be empty" });
    else if (seen.has(document.documentId)) violations.push({ field: `documents[${index}].documentId`, description: `duplicate id ${document.documentId}` });
    seen.add(document.documentId);
  }
  if (documents.length === 0) violations.push({ field: "documents", description: "a bundle needs at least one document" });
  if (violations.length > 0) throw new InvalidArgumentError("invalid bundle", violations);
  return sealPb.BundleManifest.fromPartial({
    ...header,
    documents: documents.map((document) => ({
      documentId: document.documentId,
      title: document.title,
      documentType: document.documentType,
      mediaType: document.mediaType,
      sizeBytes: document.content.length,
      sha256: createHash("sha256").update(document.content).digest("hex"),
    })),
  });
}

/** Encodes the manifest and seals it with the sender's sealer, which must belong to the sender agency. */
export async function sealManifest(sealer: Sealer, manifest: sealPb.BundleManifest): Promise<SealedManifest> {
  if (sealer.madeSeal.seal.agency !== manifest.sender) {
    throw new InvalidArgumentError(`the manifest's sender is ${common.agencyToJSON(manifest.sender)} but the seal belongs to ${common.agencyToJSON(sealer.madeSeal.seal.agency)}`);
  }
  const bytes = Buffer.from(sealPb.BundleManifest.encode(manifest).finish());
  return { manifest: bytes, manifestSeal: await sealer.seal(bytes) };
}

/**
 * Verifies a bundle: the manifest seal (by the sender agency), then every listed document against
 * its manifest entry and its own seal. Every failure is reported, not only the first.
 */
export function verifyBundle(
  verifier: SealVerifier,
  sealed: SealedManifest,
  documents: readonly ReceivedDocument[],
): sealPb.BundleVerification {
  let manifest: sealPb.BundleManifest | undefined;
  try {
    manifest = sealPb.BundleManifest.decode(sealed.manifest);
  } catch {
    manifest = undefined;
  }
  let manifestSeal = verifier.verify(sealed.manifest, sealed.manifestSeal, manifest ? { agency: manifest.sender } : {});
  if (!manifest && manifestSeal.status === Status.VERIFICATION_STATUS_VALID) {
    manifestSeal = { ...manifestSeal, status: Status.VERIFICATION_STATUS_INVALID, failure: Failure.VERIFICATION_FAILURE_MALFORMED, message: "the sealed manifest cannot be decoded" };
  }
  const results = manifest ? checkDocuments(verifier, manifest, documents) : [];
  const statuses = [manifestSeal.status, ...results.map((result) => result.status)];
  const status = statuses.every((s) => s === Status.VERIFICATION_STATUS_VALID)
    ? Status.VERIFICATION_STATUS_VALID
    : statuses.includes(Status.VERIFICATION_STATUS_INVALID)
      ? Status.VERIFICATION_STATUS_INVALID
      : Status.VERIFICATION_STATUS_INDETERMINATE;
  return { status, manifestSeal, manifest, documents: results };
}

function checkDocuments(
  verifier: SealVerifier,
  manifest: sealPb.BundleManifest,
  documents: readonly ReceivedDocument[],
): sealPb.DocumentVerification[] {
  const received = new Map<string, ReceivedDocument>();
  const results: sealPb.DocumentVerification[] = [];
  const invalid = (documentId: string, failure: sealPb.VerificationFailure, message: string): sealPb.DocumentVerification => ({
    documentId,
    status: Status.VERIFICATION_STATUS_INVALID,
    failure,
    message,
  });
  for (const document of documents) {
    if (received.has(document.documentId)) {
      results.push(invalid(document.documentId, Failure.VERIFICATION_FAILURE_UNLISTED_DOCUMENT, "the document was received twice"));
    }
    received.set(document.documentId, document);
  }
  const listed = new Set(manifest.documents.map((entry) => entry.documentId));
  for (const entry of manifest.documents) {
    const document = received.get(entry.documentId);
    if (!document) {
      results.push(invalid(entry.documentId, Failure.VERIFICATION_FAILURE_MISSING_DOCUMENT, "listed in the manifest but not received"));
      continue;
    }
    const sha256 = createHash("sha256").update(document.content).digest("hex");
    if (document.content.length !== entry.sizeBytes || sha256 !== entry.sha256) {
      results.push(
        invalid(entry.documentId, Failure.VERIFICATION_FAILURE_MANIFEST_MISMATCH, `size ${document.content.length} / SHA-256 ${sha256} differ from the manifest's ${entry.sizeBytes} / ${entry.sha256}`),
      );
      continue;
    }
    if (!document.seal || document.seal.length === 0) {
      results.push(invalid(entry.documentId, Failure.VERIFICATION_FAILURE_SEAL_MISSING, "the document carries no seal of its issuing agency"));
      continue;
    }
    const seal = verifier.verify(document.content, document.seal);
    results.push({ documentId: entry.documentId, status: seal.status, failure: seal.failure, message: seal.message, seal });
  }
  for (const document of documents) {
    if (!listed.has(document.documentId)) {
      results.push(invalid(document.documentId, Failure.VERIFICATION_FAILURE_UNLISTED_DOCUMENT, "received but not listed in the manifest"));
    }
  }
  return results;
}
