import { createHash } from "node:crypto";
import { seal as sealPb, transfer as pb } from "@casebridge/proto";

/** SHA-256 (hex) of the encoded case data (parties, suspects, offence, measures) that travels with a bundle. */
export function caseSha256(kase: pb.Case | undefined): string {
  return createHash("sha256").update(pb.Case.encode(kase ?? pb.Case.fromPartial({})).finish()).digest("hex");
}

/**
 * SHA-256 (hex) of what the legal unit approves: the case data and every document (id, type and
 * content digest), in order. Any change of either gives another digest and voids the approval.
 */
export function caseFileDigest(file: pb.CaseFile): string {
  const digest = createHash("sha256").update(caseSha256(file.case)).update("\n");
  for (const document of file.documents) {
    digest.update(`${document.ref?.documentId ?? ""}\t${document.ref?.documentType ?? ""}\t${document.ref?.sha256 ?? ""}\t${document.sealKey}\n`);
  }
  return digest.digest("hex");
}

/** True when the case file carries an approval of exactly its current content. */
export function approvalHolds(file: pb.CaseFile): boolean {
  return file.approved && file.approvedDigest === caseFileDigest(file);
}

/** What the sealed manifest must say for it to belong to `transfer` as this receiver got it. */
export interface ExpectedBinding {
  readonly transfer: pb.Transfer;
  /** Bundle ids this receiver has seen on the transfer before (a second use is refused). */
  readonly usedBundleIds: readonly string[];
}

/**
 * Every way the sealed manifest disagrees with the transfer it came with: transfer id, bundle id,
 * sender, recipient, purpose, case id, case number, case data digest, submission; or a bundle id
 * used before. Empty when it binds exactly this transfer.
 */
export function bindingMismatches(manifest: sealPb.BundleManifest, expected: ExpectedBinding): Array<{ failure: sealPb.VerificationFailure; message: string }> {
  const { transfer } = expected;
  const mismatches: Array<{ failure: sealPb.VerificationFailure; message: string }> = [];
  const differ = (what: string, sealed: unknown, got: unknown) => {
    if (sealed !== got) mismatches.push({ failure: sealPb.VerificationFailure.VERIFICATION_FAILURE_BINDING_MISMATCH, message: `the sealed manifest names ${what} ${String(sealed) || "(none)"}, but the transfer says ${String(got) || "(none)"}` });
  };
  differ("transfer", manifest.transferId, transfer.transferId);
  differ("bundle", manifest.bundleId, transfer.bundle?.bundleId ?? "");
  differ("sender", manifest.sender, transfer.sender);
  differ("recipient", manifest.recipient, transfer.recipient);
  differ("purpose", manifest.purpose, pb.transferPurposeToJSON(transfer.purpose));
  differ("case", manifest.caseId, transfer.case?.caseId ?? "");
  differ("case number", manifest.caseNumber, transfer.case?.caseNumber ?? "");
  if (manifest.caseSha256 !== caseSha256(transfer.case)) {
    mismatches.push({ failure: sealPb.VerificationFailure.VERIFICATION_FAILURE_BINDING_MISMATCH, message: "the case data (parties, suspects, offence or measures) differs from what the sender sealed" });
  }
  differ("submission", manifest.submission, transfer.submission);
  if (expected.usedBundleIds.includes(manifest.bundleId)) {
    mismatches.push({ failure: sealPb.VerificationFailure.VERIFICATION_FAILURE_BUNDLE_REUSED, message: `bundle ${manifest.bundleId} was received before on this transfer` });
  }
  return mismatches;
}
