import { randomUUID } from "node:crypto";
import { common, seal as sealPb, transfer as pb, trust as tpb } from "@casebridge/proto";
import { Sealer } from "../seal/cms";
import { createPki, credentialOf, type Pki } from "../seal/pki";
import { RevocationRegistry } from "../seal/revocation";
import { SealVerifier } from "../seal/verifier";
import { approvalHolds, bindingMismatches, caseFileDigest, caseSha256 } from "./binding";
import { incidentIdOf, isRefusal, openEnvelope, sealerEnvelopeSigner } from "./envelope";
import { assertLegalRoute, legalRoute, reachableDownstream } from "./routes";

const { Agency } = common;
const { TransferPurpose: Purpose } = pb;
const { IncidentReason: Reason } = tpb;

describe("legal routes", () => {
  it("allows a review only police → prosecution and an indictment only prosecution → court", () => {
    expect(legalRoute(Agency.AGENCY_POLICE, Agency.AGENCY_PROSECUTION, Purpose.TRANSFER_PURPOSE_PROSECUTION_REVIEW)?.basis).toMatch(/第162条/);
    expect(legalRoute(Agency.AGENCY_PROSECUTION, Agency.AGENCY_COURT, Purpose.TRANSFER_PURPOSE_INDICTMENT)).toBeDefined();
    expect(legalRoute(Agency.AGENCY_POLICE, Agency.AGENCY_COURT, Purpose.TRANSFER_PURPOSE_INDICTMENT)).toBeUndefined();
    expect(legalRoute(Agency.AGENCY_NOTARY, Agency.AGENCY_COURT, Purpose.TRANSFER_PURPOSE_INDICTMENT)).toBeUndefined();
    expect(legalRoute(Agency.AGENCY_PROSECUTION, Agency.AGENCY_COURT, Purpose.TRANSFER_PURPOSE_PROSECUTION_REVIEW)).toBeUndefined();
    expect(() => assertLegalRoute(Agency.AGENCY_POLICE, Agency.AGENCY_COURT, Purpose.TRANSFER_PURPOSE_INDICTMENT)).toThrow("the law allows prosecution → court");
  });

  it("knows where a case may go on from an agency", () => {
    expect(reachableDownstream(Agency.AGENCY_PROSECUTION, Agency.AGENCY_COURT)).toBe(true);
    expect(reachableDownstream(Agency.AGENCY_POLICE, Agency.AGENCY_COURT)).toBe(true);
    expect(reachableDownstream(Agency.AGENCY_COURT, Agency.AGENCY_POLICE)).toBe(false);
    expect(reachableDownstream(Agency.AGENCY_PROSECUTION, Agency.AGENCY_NOTARY)).toBe(false);
  });
});

describe("binding of bundles and approvals", () => {
  const kase = pb.Case.fromPartial({ caseId: "c1", caseNumber: "N-1", offence: "盗窃", parties: [{ partyId: "p1", name: "李某", role: common.PartyRole.PARTY_ROLE_SUSPECT }] });
  const transfer = pb.Transfer.fromPartial({
    transferId: "t1",
    case: kase,
    sender: Agency.AGENCY_POLICE,
    recipient: Agency.AGENCY_PROSECUTION,
    purpose: Purpose.TRANSFER_PURPOSE_PROSECUTION_REVIEW,
    submission: 1,
    bundle: { bundleId: "t1:b1" },
  });
  const manifest = sealPb.BundleManifest.fromPartial({
    bundleId: "t1:b1",
    caseId: "c1",
    sender: Agency.AGENCY_POLICE,
    recipient: Agency.AGENCY_PROSECUTION,
    transferId: "t1",
    purpose: "TRANSFER_PURPOSE_PROSECUTION_REVIEW",
    caseNumber: "N-1",
    caseSha256: caseSha256(kase),
    submission: 1,
  });

  it("accepts a manifest that binds exactly the transfer", () => {
    expect(bindingMismatches(manifest, { transfer, usedBundleIds: [] })).toEqual([]);
  });

  it("names each disagreement: another transfer id, edited case data, another purpose, a reused bundle", () => {
    const moved = bindingMismatches(manifest, { transfer: { ...transfer, transferId: "t2" }, usedBundleIds: [] });
    expect(moved.map((m) => m.message)).toEqual(["the sealed manifest names transfer t1, but the transfer says t2"]);
    const edited = bindingMismatches(manifest, { transfer: { ...transfer, case: { ...kase, parties: [{ ...kase.parties[0]!, name: "王某" }] } }, usedBundleIds: [] });
    expect(edited).toEqual([{ failure: sealPb.VerificationFailure.VERIFICATION_FAILURE_BINDING_MISMATCH, message: expect.stringContaining("case data") as string }]);
    const repurposed = bindingMismatches(manifest, { transfer: { ...transfer, purpose: Purpose.TRANSFER_PURPOSE_INDICTMENT }, usedBundleIds: [] });
    expect(repurposed[0]?.message).toContain("purpose TRANSFER_PURPOSE_PROSECUTION_REVIEW");
    const reused = bindingMismatches(manifest, { transfer, usedBundleIds: ["t1:b1"] });
    expect(reused).toEqual([{ failure: sealPb.VerificationFailure.VERIFICATION_FAILURE_BUNDLE_REUSED, message: expect.stringContaining("received before") as string }]);
  });

  it("holds an approval only for the exact content approved", () => {
    const document = { ref: { documentId: "d1", title: "t", documentType: "evidence", mediaType: "application/pdf", sizeBytes: 1, sha256: "aa" }, contentKey: "aa", sealKey: "bb", sealedBy: Agency.AGENCY_POLICE };
    const file = pb.CaseFile.fromPartial({ case: kase, documents: [document], approved: true });
    const approved = { ...file, approvedDigest: caseFileDigest(file) };
    expect(approvalHolds(approved)).toBe(true);
    expect(approvalHolds({ ...approved, documents: [document, { ...document, ref: { ...document.ref, documentId: "d2" } }] })).toBe(false);
    expect(approvalHolds({ ...approved, case: { ...kase, offence: "诈骗" } })).toBe(false);
    expect(approvalHolds({ ...approved, approved: false })).toBe(false);
  });
});

describe("signed envelopes", () => {
  let pki: Pki;
  let verifier: SealVerifier;
  const content = (from: common.Agency, to: common.Agency) =>
    tpb.EnvelopeContent.encode({ envelopeId: randomUUID(), from, to, payloadType: "test.Payload", subjectId: "t1", signedAt: new Date(), payload: Buffer.from("x") }).finish();

  beforeAll(async () => {
    pki = await createPki("p-256");
    const revocations = new RevocationRegistry([pki.root.certificate, ...Object.values(pki.agencies).map((a) => a.ca.certificate)]);
    for (const crl of pki.crls) revocations.apply(crl);
    verifier = new SealVerifier({ roots: [pki.root.certificate], intermediates: Object.values(pki.agencies).map((a) => a.ca.certificate), revocations });
  });

  it("opens an envelope signed by the agency it names, addressed to this agency", async () => {
    const signer = sealerEnvelopeSigner(new Sealer(credentialOf(pki, "prosecution")));
    const raw = await signer.sign(content(Agency.AGENCY_PROSECUTION, Agency.AGENCY_POLICE));
    const opened = openEnvelope(verifier, raw, Agency.AGENCY_POLICE);
    expect(isRefusal(opened)).toBe(false);
    if (!isRefusal(opened)) expect(opened.signer).toMatch(/prosecution/);
  });

  it("refuses a signer that claims to be another agency, one it was not sent to, a changed byte, no signature, a foreign CA", async () => {
    const prosecution = new Sealer(credentialOf(pki, "prosecution"));
    await expect(sealerEnvelopeSigner(prosecution).sign(content(Agency.AGENCY_COURT, Agency.AGENCY_POLICE))).rejects.toThrow(/cannot be signed/);
    const claimsCourt = content(Agency.AGENCY_COURT, Agency.AGENCY_POLICE);
    const { signature, certificate } = await prosecution.signDetached(claimsCourt);
    const reason = (raw: Uint8Array) => {
      const opened = openEnvelope(verifier, raw, Agency.AGENCY_POLICE);
      return isRefusal(opened) ? opened.reason : Reason.INCIDENT_REASON_UNSPECIFIED;
    };
    expect(reason(tpb.SignedEnvelope.encode({ content: claimsCourt, signature, certificate }).finish())).toBe(Reason.INCIDENT_REASON_WRONG_SIGNER);
    const good = await sealerEnvelopeSigner(prosecution).sign(content(Agency.AGENCY_PROSECUTION, Agency.AGENCY_POLICE));
    expect(reason(good)).toBe(Reason.INCIDENT_REASON_UNSPECIFIED);
    expect(openEnvelope(verifier, good, Agency.AGENCY_COURT)).toMatchObject({ reason: Reason.INCIDENT_REASON_WRONG_RECIPIENT });
    const envelope = tpb.SignedEnvelope.decode(good);
    const flipped = Buffer.from(envelope.content);
    flipped[flipped.length - 1] = flipped[flipped.length - 1]! ^ 1;
    expect(reason(tpb.SignedEnvelope.encode({ ...envelope, content: flipped }).finish())).toBe(Reason.INCIDENT_REASON_BAD_SIGNATURE);
    expect(reason(tpb.SignedEnvelope.encode({ ...envelope, signature: Buffer.alloc(0) }).finish())).toBe(Reason.INCIDENT_REASON_UNSIGNED);
    expect(reason(Buffer.from("not protobuf at all \xff\xff"))).toBe(Reason.INCIDENT_REASON_MALFORMED);
    const foreign = sealerEnvelopeSigner(new Sealer(credentialOf(await createPki("p-256"), "prosecution")));
    expect(reason(await foreign.sign(content(Agency.AGENCY_PROSECUTION, Agency.AGENCY_POLICE)))).toBe(Reason.INCIDENT_REASON_BAD_SIGNATURE);
    expect(incidentIdOf(good)).toMatch(/^[0-9a-f]{64}$/);
  });
});
