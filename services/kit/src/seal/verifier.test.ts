import { hash } from "node:crypto";
import { common, seal as sealPb } from "@casebridge/proto";
import { assertCredentialAllowed, parseSeal, Sealer, SealerError } from "./cms";
import { decodeMadeSeal, makeSeal } from "./made-seal";
import { createPki, credentialOf, issueCaCrl, issueSealCertificate, keySigner, makeAgencySeal, type Pki } from "./pki";
import { RevocationError, RevocationRegistry } from "./revocation";
import { parseTimeStampToken, requestTimeStamp, TimeStampAuthority, timeStamperOf } from "./timestamp";
import { SealVerifier } from "./verifier";

const { VerificationStatus: Status, VerificationFailure: Failure } = sealPb;
const YEAR = 365 * 86_400_000;

let pki: Pki;
let other: Pki;
const document = Buffer.from("起诉意见书 / recommendation for prosecution, case 320582-2026-00042");

function registryOf(of: Pki): RevocationRegistry {
  const registry = new RevocationRegistry([of.root.certificate, ...Object.values(of.agencies).map((part) => part.ca.certificate)]);
  for (const crl of of.crls) registry.apply(crl);
  return registry;
}

function verifierOf(of: Pki, options: { registry?: RevocationRegistry; clock?: () => Date } = {}): SealVerifier {
  return new SealVerifier({ roots: [of.root.certificate], revocations: options.registry ?? registryOf(of), clock: options.clock });
}

function flip(bytes: Buffer, at: number): Buffer {
  const copy = Buffer.from(bytes);
  copy[at] = copy[at]! ^ 0x01;
  return copy;
}

beforeAll(async () => {
  // Made a day ago, so that seals time-stamped in the past hours fall inside every validity.
  const dayAgo = new Date(Date.now() - 86_400_000);
  [pki, other] = await Promise.all([createPki("p-256", dayAgo), createPki("p-256", dayAgo)]);
});

describe("sealing and verifying", () => {
  it("verifies a valid seal and reports who sealed it, with which seal and when", async () => {
    const before = Math.floor(Date.now() / 1000) * 1000;
    const p7s = await new Sealer(credentialOf(pki, "police")).seal(document);
    const report = verifierOf(pki).verify(document, p7s, { agency: common.Agency.AGENCY_POLICE });
    expect(report).toMatchObject({
      status: Status.VERIFICATION_STATUS_VALID,
      failure: Failure.VERIFICATION_FAILURE_UNSPECIFIED,
      algorithm: "p-256",
      seal: { sealId: "police-case-seal", agency: common.Agency.AGENCY_POLICE, name: "某市公安局案件专用章", purpose: sealPb.SealPurpose.SEAL_PURPOSE_CASE_DOCUMENTS },
      signer: { subject: "CN=City PSB case seal signer,OU=police,O=CaseBridge,C=CN", serialNumber: pki.agencies.police.sealCertificate.certificate.serial },
    });
    expect(report.signingTime!.getTime()).toBeGreaterThanOrEqual(before);
    expect(report.signingTime!.getTime()).toBeLessThanOrEqual(Date.now());
    const synchronous = new Sealer(credentialOf(pki, "police")).sealSync(document);
    expect(verifierOf(pki).verify(document, synchronous).status).toBe(Status.VERIFICATION_STATUS_VALID);
  });

  it("catches one flipped byte in the document, the signature or the signed attributes, with the precise reason", async () => {
    const p7s = await new Sealer(credentialOf(pki, "court")).seal(document);
    const verifier = verifierOf(pki);
    expect(verifier.verify(flip(document, 7), p7s)).toMatchObject({ status: Status.VERIFICATION_STATUS_INVALID, failure: Failure.VERIFICATION_FAILURE_DIGEST_MISMATCH });
    expect(verifier.verify(document, flip(p7s, p7s.length - 3))).toMatchObject({ status: Status.VERIFICATION_STATUS_INVALID, failure: Failure.VERIFICATION_FAILURE_BAD_SIGNATURE });
    const makerSignature = decodeMadeSeal(pki.agencies.court.madeSeal).signature;
    const inAttributes = p7s.indexOf(makerSignature) + 4;
    expect(verifier.verify(document, flip(p7s, inAttributes))).toMatchObject({ failure: Failure.VERIFICATION_FAILURE_BAD_SIGNATURE });
    const sealedDigest = p7s.indexOf(hash("sha256", document, "buffer"));
    expect(verifier.verify(document, flip(p7s, sealedDigest))).toMatchObject({ failure: Failure.VERIFICATION_FAILURE_DIGEST_MISMATCH });
  });

  it("never accepts a seal with any single byte flipped, and never throws on it", async () => {
    const p7s = await new Sealer(credentialOf(pki, "prosecution")).seal(document);
    const verifier = verifierOf(pki);
    const accepted: number[] = [];
    for (let at = 0; at < p7s.length; at++) {
      if (verifier.verify(document, flip(p7s, at)).status === Status.VERIFICATION_STATUS_VALID) accepted.push(at);
    }
    expect(accepted).toEqual([]);
  });

  it("reports malformed input instead of throwing", () => {
    const verifier = verifierOf(pki);
    for (const junk of [Buffer.alloc(0), Buffer.from("not a seal"), Buffer.from([0x30, 0x82, 0xff, 0xff])]) {
      expect(verifier.verify(document, junk)).toMatchObject({ status: Status.VERIFICATION_STATUS_INVALID, failure: Failure.VERIFICATION_FAILURE_MALFORMED });
    }
  });

  it("rejects a seal made under a different CA", async () => {
    const p7s = await new Sealer(credentialOf(other, "police")).seal(document);
    expect(verifierOf(pki).verify(document, p7s)).toMatchObject({ failure: Failure.VERIFICATION_FAILURE_UNTRUSTED_CHAIN });
    expect(verifierOf(other).verify(document, p7s).status).toBe(Status.VERIFICATION_STATUS_VALID);
  });

  it("rejects a certificate that had expired or was not yet valid at signing time", async () => {
    const police = pki.agencies.police;
    const now = Date.now();
    const expired = await issueSealCertificate(police.ca, "police", { validFrom: new Date(now - 2 * YEAR), validTo: new Date(now - YEAR) });
    const future = await issueSealCertificate(police.ca, "police", { validFrom: new Date(now + YEAR), validTo: new Date(now + 2 * YEAR) });
    const seal = await makeAgencySeal(police.ca, "police", [expired.certificate, future.certificate], police.image, new Date(now - 3 * YEAR), new Date(now + 3 * YEAR));
    const verifier = verifierOf(pki);
    for (const [holder, failure] of [
      [expired, Failure.VERIFICATION_FAILURE_CERTIFICATE_EXPIRED],
      [future, Failure.VERIFICATION_FAILURE_CERTIFICATE_NOT_YET_VALID],
    ] as const) {
      const sealer = new Sealer({ key: keySigner("p-256", holder.key), chain: [holder.certificate, police.ca.certificate], madeSeal: seal });
      expect(verifier.verify(document, await sealer.seal(document))).toMatchObject({ status: Status.VERIFICATION_STATUS_INVALID, failure });
    }
  });

  it("rejects a revoked certificate once its CA's new CRL is applied", async () => {
    const p7s = await new Sealer(credentialOf(pki, "notary")).seal(document);
    const registry = registryOf(pki);
    const verifier = verifierOf(pki, { registry });
    expect(verifier.verify(document, p7s).status).toBe(Status.VERIFICATION_STATUS_VALID);
    const notary = pki.agencies.notary;
    const crl = await issueCaCrl(notary.ca, 2n, [{ serial: notary.sealCertificate.certificate.serial, revokedAt: new Date() }]);
    expect(registry.apply(crl)).toBe("applied");
    expect(verifier.verify(document, p7s)).toMatchObject({ status: Status.VERIFICATION_STATUS_INVALID, failure: Failure.VERIFICATION_FAILURE_CERTIFICATE_REVOKED });
  });

  it("is indeterminate when no current CRL is known", async () => {
    const p7s = await new Sealer(credentialOf(pki, "judicial")).seal(document);
    const empty = new RevocationRegistry([pki.root.certificate]);
    expect(verifierOf(pki, { registry: empty }).verify(document, p7s)).toMatchObject({
      status: Status.VERIFICATION_STATUS_INDETERMINATE,
      failure: Failure.VERIFICATION_FAILURE_REVOCATION_UNKNOWN,
    });
    const later = verifierOf(pki, { clock: () => new Date(Date.now() + 40 * 86_400_000) });
    expect(later.verify(document, p7s)).toMatchObject({ status: Status.VERIFICATION_STATUS_INDETERMINATE, message: expect.stringContaining("expired") as string });
  });

  it("rejects a seal used by a certificate it does not allow, even of the same agency", async () => {
    const police = pki.agencies.police;
    const intruder = await issueSealCertificate(police.ca, "police", { validFrom: new Date(Date.now() - 60_000), validTo: new Date(Date.now() + YEAR) });
    const credential = { key: keySigner("p-256", intruder.key), chain: [intruder.certificate, police.ca.certificate], madeSeal: police.madeSeal };
    expect(() => assertCredentialAllowed(credential)).toThrow(SealerError);
    const report = verifierOf(pki).verify(document, await new Sealer(credential).seal(document));
    expect(report).toMatchObject({ status: Status.VERIFICATION_STATUS_INVALID, failure: Failure.VERIFICATION_FAILURE_SEAL_NOT_ALLOWED });
  });

  it("rejects another agency's seal, a seal naming another agency, an expired seal and an unexpected agency", async () => {
    const police = pki.agencies.police;
    const chain = [police.sealCertificate.certificate, police.ca.certificate];
    const key = keySigner("p-256", police.sealCertificate.key);
    const verifier = verifierOf(pki);
    const sealWith = (madeSeal: Buffer): Promise<Buffer> => new Sealer({ key, chain, madeSeal }).seal(document);

    expect(verifier.verify(document, await sealWith(pki.agencies.court.madeSeal))).toMatchObject({ failure: Failure.VERIFICATION_FAILURE_SEAL_INVALID });
    const courtNamed = await makeSeal(
      { ...decodeMadeSeal(police.madeSeal).seal, agency: common.Agency.AGENCY_COURT },
      police.ca.certificate,
      keySigner("p-256", police.ca.key),
    );
    expect(verifier.verify(document, await sealWith(courtNamed))).toMatchObject({ failure: Failure.VERIFICATION_FAILURE_SEAL_NOT_ALLOWED });
    const lapsed = await makeAgencySeal(police.ca, "police", [chain[0]!], police.image, new Date(Date.now() - 2 * YEAR), new Date(Date.now() - YEAR));
    expect(verifier.verify(document, await sealWith(lapsed))).toMatchObject({ failure: Failure.VERIFICATION_FAILURE_SEAL_EXPIRED });
    const good = await sealWith(police.madeSeal);
    expect(verifier.verify(document, good, { agency: common.Agency.AGENCY_COURT })).toMatchObject({ failure: Failure.VERIFICATION_FAILURE_WRONG_AGENCY });
  });

  it("rejects a signing time ahead of the verifier's clock", async () => {
    const sealer = new Sealer(credentialOf(pki, "police"), () => new Date(Date.now() + 3_600_000));
    expect(verifierOf(pki).verify(document, await sealer.seal(document))).toMatchObject({ failure: Failure.VERIFICATION_FAILURE_SIGNING_TIME_IN_FUTURE });
  });

  it("puts the CAdES signing-certificate-v2 and the seal in the signed attributes", async () => {
    const parsed = parseSeal(await new Sealer(credentialOf(pki, "police")).seal(document));
    expect(parsed.signingCertificateSha256).toEqual(pki.agencies.police.sealCertificate.certificate.sha256);
    expect(parsed.madeSealBytes).toEqual(pki.agencies.police.madeSeal);
    expect(parsed.certificates).toHaveLength(2);
  });
});

describe("revocation registry", () => {
  it("takes only CRLs signed by a trusted CA, and never an older one", async () => {
    const registry = registryOf(pki);
    const police = pki.agencies.police;
    expect(() => registry.apply(other.crls[1]!)).toThrow(RevocationError);
    expect(() => registry.apply(Buffer.from("junk"))).toThrow(/malformed CRL/);
    expect(registry.apply(pki.crls[1]!)).toBe("unchanged");
    expect(registry.apply(await issueCaCrl(police.ca, 5n, []))).toBe("applied");
    expect(() => registry.apply(pki.crls[1]!)).toThrow(/older/);
    expect(registry.numberOf(police.ca.certificate)).toBe(5n);
  });
});

describe("time-stamped seals (CAdES-B-T)", () => {
  const HOUR = 3_600_000;
  const tsaAt = (at: () => Date): TimeStampAuthority =>
    new TimeStampAuthority({ key: keySigner("p-256", pki.tsa.key), chain: [pki.tsa.certificate, pki.root.certificate], clock: at });
  const stamper = (at: () => Date) => timeStamperOf((der) => tsaAt(at).respond(der));
  const sealerAt = (signingTime: Date, stampTime = signingTime): Sealer =>
    new Sealer(credentialOf(pki, "police"), () => signingTime, stamper(() => stampTime));

  it("carries the TSA's token over its signature; the report gives the time-stamp's time and authority", async () => {
    const at = new Date(Date.now() - HOUR);
    const p7s = await sealerAt(at).seal(document);
    const parsed = parseSeal(p7s);
    expect(parsed.timeStampToken).toBeDefined();
    expect(parseTimeStampToken(parsed.timeStampToken!).hashedMessage).toEqual(hash("sha256", parsed.signature, "buffer"));
    expect(verifierOf(pki).verify(document, p7s)).toMatchObject({
      status: Status.VERIFICATION_STATUS_VALID,
      timeStampTime: at,
      timeStampAuthority: "CN=CaseBridge Time-Stamp Authority,OU=platform,O=CaseBridge,C=CN",
      warnings: [],
    });
    expect(verifierOf(pki).verify(document, new Sealer(credentialOf(pki, "police")).sealSync(document))).toMatchObject({ timeStampTime: undefined, timeStampAuthority: "" });
  });

  it("judges revocation at the time-stamp: revoked after it stays VALID, revoked before it is INVALID, no token keeps today's rule", async () => {
    const now = Date.now();
    const revokedAt = new Date(Math.floor((now - HOUR) / 1000) * 1000);
    const before = await sealerAt(new Date(now - 2 * HOUR)).seal(document);
    const after = await sealerAt(new Date(now - HOUR / 2)).seal(document);
    const atTheSecond = await sealerAt(revokedAt).seal(document);
    const untimed = await new Sealer(credentialOf(pki, "police"), () => new Date(now - 2 * HOUR)).seal(document);
    const registry = registryOf(pki);
    const police = pki.agencies.police;
    registry.apply(await issueCaCrl(police.ca, 2n, [{ serial: police.sealCertificate.certificate.serial, revokedAt }]));
    const verifier = verifierOf(pki, { registry });
    expect(verifier.verify(document, before)).toMatchObject({ status: Status.VERIFICATION_STATUS_VALID, timeStampTime: new Date(now - 2 * HOUR) });
    expect(verifier.verify(document, after)).toMatchObject({ status: Status.VERIFICATION_STATUS_INVALID, failure: Failure.VERIFICATION_FAILURE_CERTIFICATE_REVOKED });
    expect(verifier.verify(document, atTheSecond)).toMatchObject({ failure: Failure.VERIFICATION_FAILURE_CERTIFICATE_REVOKED });
    expect(verifier.verify(document, untimed)).toMatchObject({ failure: Failure.VERIFICATION_FAILURE_CERTIFICATE_REVOKED });
  });

  it("warns, but accepts, when the signing time is more than 5 minutes from the time-stamp", async () => {
    const signed = new Date(Date.now() - HOUR);
    const near = await sealerAt(signed, new Date(signed.getTime() + 4 * 60_000)).seal(document);
    const far = await sealerAt(signed, new Date(signed.getTime() + 6 * 60_000)).seal(document);
    expect(verifierOf(pki).verify(document, near)).toMatchObject({ status: Status.VERIFICATION_STATUS_VALID, warnings: [] });
    const report = verifierOf(pki).verify(document, far);
    expect(report.status).toBe(Status.VERIFICATION_STATUS_VALID);
    expect(report.warnings).toEqual([expect.stringContaining("differs from the time-stamp's") as string]);
  });

  it("refuses a token over another signature, from a foreign TSA, or with any byte flipped", async () => {
    const at = new Date(Date.now() - HOUR);
    const elsewhere = await requestTimeStamp((der) => tsaAt(() => at).respond(der), hash("sha256", Buffer.from("another signature"), "buffer"));
    const swapped = await new Sealer(credentialOf(pki, "police"), () => at, () => Promise.resolve(elsewhere)).seal(document);
    expect(verifierOf(pki).verify(document, swapped)).toMatchObject({ status: Status.VERIFICATION_STATUS_INVALID, failure: Failure.VERIFICATION_FAILURE_TIME_STAMP_INVALID });
    const foreignTsa = new TimeStampAuthority({ key: keySigner("p-256", other.tsa.key), chain: [other.tsa.certificate] });
    const foreign = await new Sealer(credentialOf(pki, "police"), () => at, timeStamperOf((der) => foreignTsa.respond(der))).seal(document);
    expect(verifierOf(pki).verify(document, foreign)).toMatchObject({ failure: Failure.VERIFICATION_FAILURE_TIME_STAMP_UNTRUSTED });
    const p7s = await sealerAt(at).seal(document);
    const verifier = verifierOf(pki);
    const accepted: number[] = [];
    for (let i = 0; i < p7s.length; i++) {
      if (verifier.verify(document, flip(p7s, i)).status === Status.VERIFICATION_STATUS_VALID) accepted.push(i);
    }
    expect(accepted).toEqual([]);
  });

  it("fails to seal, storing nothing, when the TSA does not answer", async () => {
    const sealer = new Sealer(credentialOf(pki, "police"), undefined, () => Promise.reject(new Error("no TSA")));
    await expect(sealer.seal(document)).rejects.toThrow("no TSA");
    expect(sealer.timeStamps).toBe(true);
  });
});
