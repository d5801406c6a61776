import { createHash } from "node:crypto";
import { common, seal as sealPb } from "@casebridge/proto";
import { InvalidArgumentError } from "../errors";
import { buildManifest, sealManifest, verifyBundle, type BundleDocumentInput, type ReceivedDocument } from "./bundle";
import { Sealer } from "./cms";
import { createPki, credentialOf, type Pki, type SealAgency } from "./pki";
import { RevocationRegistry } from "./revocation";
import { SealVerifier } from "./verifier";

const { VerificationStatus: Status, VerificationFailure: Failure } = sealPb;
const { Agency } = common;

let pki: Pki;
let verifier: SealVerifier;
const header = { bundleId: "b-1", caseId: "320582-2026-00042", sender: Agency.AGENCY_POLICE, recipient: Agency.AGENCY_PROSECUTION, createdAt: new Date("2026-11-23T08:00:00Z") };
const inputs: Array<BundleDocumentInput & { issuer: SealAgency }> = [
  { documentId: "d-1", title: "起诉意见书", documentType: "recommendation-for-prosecution", mediaType: "application/pdf", content: Buffer.from("%PDF recommendation"), issuer: "police" },
  { documentId: "d-2", title: "证据清单", documentType: "evidence-list", mediaType: "application/pdf", content: Buffer.from("%PDF evidence list"), issuer: "police" },
  { documentId: "d-3", title: "公证书", documentType: "notarial-certificate", mediaType: "application/pdf", content: Buffer.from("%PDF notarial"), issuer: "notary" },
];

async function received(): Promise<ReceivedDocument[]> {
  return Promise.all(
    inputs.map(async (input) => ({ documentId: input.documentId, content: input.content, seal: await new Sealer(credentialOf(pki, input.issuer)).seal(input.content) })),
  );
}

beforeAll(async () => {
  pki = await createPki("p-256");
  const revocations = new RevocationRegistry([pki.root.certificate, ...Object.values(pki.agencies).map((part) => part.ca.certificate)]);
  for (const crl of pki.crls) revocations.apply(crl);
  verifier = new SealVerifier({ roots: [pki.root.certificate], revocations });
});

describe("bundles", () => {
  it("lists every document with size and SHA-256 and verifies as a whole", async () => {
    const manifest = buildManifest(header, inputs);
    expect(manifest.documents[1]).toEqual({
      documentId: "d-2",
      title: "证据清单",
      documentType: "evidence-list",
      mediaType: "application/pdf",
      sizeBytes: 18,
      sha256: createHash("sha256").update("%PDF evidence list").digest("hex"),
    });
    const sealed = await sealManifest(new Sealer(credentialOf(pki, "police")), manifest);
    const result = verifyBundle(verifier, sealed, await received());
    expect(result.status).toBe(Status.VERIFICATION_STATUS_VALID);
    expect(result.manifest).toEqual(manifest);
    expect(result.documents.map((d) => [d.documentId, d.status, d.seal?.seal?.agency])).toEqual([
      ["d-1", Status.VERIFICATION_STATUS_VALID, Agency.AGENCY_POLICE],
      ["d-2", Status.VERIFICATION_STATUS_VALID, Agency.AGENCY_POLICE],
      ["d-3", Status.VERIFICATION_STATUS_VALID, Agency.AGENCY_NOTARY],
    ]);
  });

  it("catches a flipped byte in the manifest", async () => {
    const sealed = await sealManifest(new Sealer(credentialOf(pki, "police")), buildManifest(header, inputs));
    const manifest = Buffer.from(sealed.manifest);
    const at = manifest.indexOf("320582");
    manifest[at] = manifest[at]! ^ 0x01;
    const result = verifyBundle(verifier, { ...sealed, manifest }, await received());
    expect(result.status).toBe(Status.VERIFICATION_STATUS_INVALID);
    expect(result.manifestSeal).toMatchObject({ status: Status.VERIFICATION_STATUS_INVALID, failure: Failure.VERIFICATION_FAILURE_DIGEST_MISMATCH });
  });

  it("reports each failing document: changed, missing, unlisted, unsealed, badly sealed", async () => {
    const sealed = await sealManifest(new Sealer(credentialOf(pki, "police")), buildManifest(header, inputs));
    const [first, second, third] = await received();
    const documents: ReceivedDocument[] = [
      { ...first!, content: Buffer.from("%PDF recommendatioN") },
      { ...third!, seal: second!.seal },
      { documentId: "d-9", content: Buffer.from("smuggled"), seal: second!.seal },
    ];
    const result = verifyBundle(verifier, sealed, documents);
    expect(result.status).toBe(Status.VERIFICATION_STATUS_INVALID);
    expect(result.manifestSeal?.status).toBe(Status.VERIFICATION_STATUS_VALID);
    expect(result.documents.map((d) => [d.documentId, d.failure])).toEqual([
      ["d-1", Failure.VERIFICATION_FAILURE_MANIFEST_MISMATCH],
      ["d-2", Failure.VERIFICATION_FAILURE_MISSING_DOCUMENT],
      ["d-3", Failure.VERIFICATION_FAILURE_DIGEST_MISMATCH],
      ["d-9", Failure.VERIFICATION_FAILURE_UNLISTED_DOCUMENT],
    ]);
    const unsealed = verifyBundle(verifier, sealed, [first!, second!, { ...third!, seal: undefined }]);
    expect(unsealed.documents[2]).toMatchObject({ documentId: "d-3", failure: Failure.VERIFICATION_FAILURE_SEAL_MISSING });
  });

  it("refuses a manifest sealed by another agency than its sender, and bad document lists", async () => {
    const manifest = buildManifest(header, inputs);
    await expect(sealManifest(new Sealer(credentialOf(pki, "court")), manifest)).rejects.toThrow(InvalidArgumentError);
    const bytes = Buffer.from(sealPb.BundleManifest.encode(manifest).finish());
    const forged = { manifest: bytes, manifestSeal: await new Sealer(credentialOf(pki, "court")).seal(bytes) };
    const result = verifyBundle(verifier, forged, await received());
    expect(result.status).toBe(Status.VERIFICATION_STATUS_INVALID);
    expect(result.manifestSeal?.failure).toBe(Failure.VERIFICATION_FAILURE_WRONG_AGENCY);
    expect(() => buildManifest(header, [])).toThrow(InvalidArgumentError);
    expect(() => buildManifest(header, [inputs[0]!, inputs[0]!])).toThrow(/invalid bundle/);
  });
});
