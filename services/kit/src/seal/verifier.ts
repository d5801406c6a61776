import { hash, timingSafeEqual, verify as verifySignature } from "node:crypto";
import { common, seal as sealPb } from "@casebridge/proto";
import { suiteOf } from "./algorithms";
import { ExtendedKeyUsageOid, isIssuedBy, parseCertificate, type CertificateInfo } from "./certificate";
import { parseSeal, SealAlgorithmError, SealFormatError, type ParsedSeal } from "./cms";
import { decodeMadeSeal, isMadeBy, MadeSealError, type MadeSealInfo } from "./made-seal";
import { agencyEnumOf, parseSealAgency } from "./pki";
import type { RevocationRegistry } from "./revocation";
import { TimeStampError, verifyTimeStampToken } from "./timestamp";

const { VerificationStatus: Status, VerificationFailure: Failure } = sealPb;

/** What a verifier trusts and how it tells time. */
export interface SealVerifierOptions {
  /** Trust anchors: the platform root CA(s). */
  readonly roots: readonly CertificateInfo[];
  /** Known CA certificates below the roots; a seal's own chain is used as well. */
  readonly intermediates?: readonly CertificateInfo[];
  readonly revocations: RevocationRegistry;
  /** Certificates of trusted time-stamp authorities (they must chain to a root); a token may also carry its own. */
  readonly timeStampAuthorities?: readonly CertificateInfo[];
  readonly clock?: () => Date;
  /** How far a signing time may lie ahead of this clock, and from a time-stamp's time without a warning; default 5 minutes. */
  readonly maxClockSkewMs?: number;
}

/** What the receiver expects of a seal besides validity. */
export interface SealExpectation {
  /** The agency that must own the seal. */
  readonly agency?: common.Agency;
}

interface ChainResult {
  /** The certificates field and signer identifier this result is for (cache entries are compared in full). */
  readonly key: Buffer;
  readonly signer?: CertificateInfo;
  /** Signer first, trust anchor last; present when the chain is trusted. */
  readonly chain?: readonly CertificateInfo[];
  readonly failure?: sealPb.VerificationFailure;
  readonly message?: string;
}

interface MadeSealEntry {
  readonly bytes: Buffer;
  readonly made?: MadeSealInfo;
  readonly error?: string;
  /** Outcome of the time-independent seal checks, per signer chain (by signer certificate id). */
  readonly checks: Map<string, SealCheck>;
}

interface SealCheck {
  readonly failure?: sealPb.VerificationFailure;
  readonly message?: string;
}

const CACHE_LIMIT = 1024;
const MAX_CHAIN_LENGTH = 5;

/**
 * Verifies e-seals: digest, signature, signing certificate, chain to a trusted root, validity at
 * signing time, revocation, and the seal (maker, agency, allowed certificates, validity). A
 * time-stamped seal (CAdES-B-T) also has its token verified, and the signer's chain is then judged
 * for revocation at the token's genTime: a certificate revoked after it still verifies.
 * Chains and made seals are checked once and cached by their bytes, so the steady-state cost of a
 * verification is one digest and one signature check.
 */
export class SealVerifier {
  private readonly chains = new Map<string, ChainResult>();
  private readonly madeSeals = new Map<string, MadeSealEntry>();
  private readonly clock: () => Date;
  private readonly maxClockSkewMs: number;

  constructor(private readonly options: SealVerifierOptions) {
    this.clock = options.clock ?? (() => new Date());
    this.maxClockSkewMs = options.maxClockSkewMs ?? 5 * 60_000;
  }

  /** Verifies the detached seal `p7s` over `document`. Never throws for bad input: the report says why. */
  verify(document: Uint8Array, p7s: Uint8Array, expectation: SealExpectation = {}): sealPb.SealVerification {
    let parsed: ParsedSeal;
    try {
      parsed = parseSeal(p7s);
    } catch (error) {
      if (error instanceof SealAlgorithmError) return invalid(Failure.VERIFICATION_FAILURE_UNSUPPORTED_ALGORITHM, error.message);
      if (error instanceof SealFormatError) return invalid(Failure.VERIFICATION_FAILURE_MALFORMED, `malformed seal: ${error.message}`);
      throw error;
    }
    const made = this.madeSealOf(parsed.madeSealBytes);
    const chain = this.chainOf(parsed);
    const context: Partial<sealPb.SealVerification> = {
      algorithm: parsed.suite.name,
      signingTime: parsed.signingTime,
      seal: made.made ? identityOf(made.made.seal) : undefined,
      signer: chain.signer ? signerOf(chain.signer) : undefined,
    };
    const fail = (failure: sealPb.VerificationFailure, message: string): sealPb.SealVerification =>
      invalid(failure, message, context);
    if (!chain.signer) return fail(chain.failure!, chain.message!);
    const signer = chain.signer;

    const digest = hash(parsed.suite.digest, document, "buffer");
    if (digest.length !== parsed.messageDigest.length || !timingSafeEqual(digest, parsed.messageDigest)) {
      return fail(Failure.VERIFICATION_FAILURE_DIGEST_MISMATCH, "the document does not match the sealed digest");
    }
    if (signer.keyAlgorithm !== parsed.suite.name || !this.signatureHolds(parsed, signer)) {
      return fail(Failure.VERIFICATION_FAILURE_BAD_SIGNATURE, "the signature does not verify with the signer's key");
    }
    if (!parsed.signingCertificateSha256.equals(signer.sha256)) {
      return fail(Failure.VERIFICATION_FAILURE_SIGNER_CERTIFICATE_MISMATCH, "the signed signing-certificate attribute names another certificate");
    }
    if (!chain.chain) return fail(chain.failure!, chain.message!);

    const now = this.clock();
    const signingTime = parsed.signingTime;
    if (signingTime.getTime() > now.getTime() + this.maxClockSkewMs) {
      return fail(Failure.VERIFICATION_FAILURE_SIGNING_TIME_IN_FUTURE, `signing time ${signingTime.toISOString()} is in the future`);
    }
    let genTime: Date | undefined;
    let authority = "";
    if (parsed.timeStampToken) {
      try {
        const stamp = verifyTimeStampToken(parsed.timeStampToken, {
          expectedImprint: hash("sha256", parsed.signature, "buffer"),
          roots: this.options.roots,
          timeStampAuthorities: this.options.timeStampAuthorities,
          revocations: this.options.revocations,
          now,
        });
        genTime = stamp.genTime;
        authority = stamp.authority.subject;
      } catch (error) {
        if (!(error instanceof TimeStampError)) throw error;
        if (error.problem === "revocation-unknown") {
          return report(Status.VERIFICATION_STATUS_INDETERMINATE, Failure.VERIFICATION_FAILURE_REVOCATION_UNKNOWN, `time-stamp authority: ${error.message}`, context);
        }
        const failure = error.problem === "untrusted" ? Failure.VERIFICATION_FAILURE_TIME_STAMP_UNTRUSTED : Failure.VERIFICATION_FAILURE_TIME_STAMP_INVALID;
        return fail(failure, error.message);
      }
      if (genTime.getTime() > now.getTime() + this.maxClockSkewMs) {
        return fail(Failure.VERIFICATION_FAILURE_TIME_STAMP_INVALID, `the time-stamp's time ${genTime.toISOString()} is in the future`);
      }
      context.timeStampTime = genTime;
      context.timeStampAuthority = authority;
      if (Math.abs(signingTime.getTime() - genTime.getTime()) > this.maxClockSkewMs) {
        context.warnings = [
          `the signing time ${signingTime.toISOString()} differs from the time-stamp's ${genTime.toISOString()} by more than ${Math.round(this.maxClockSkewMs / 1000)} s`,
        ];
      }
    }
    return this.chainReport(chain.chain, signingTime, now, context, genTime) ?? this.checkSeal(made, chain.chain, signingTime, expectation, context);
  }

  private checkSeal(
    entry: MadeSealEntry,
    chain: readonly CertificateInfo[],
    signingTime: Date,
    expectation: SealExpectation,
    context: Partial<sealPb.SealVerification>,
  ): sealPb.SealVerification {
    const signer = chain[0]!;
    let check = entry.checks.get(signer.id);
    if (!check) {
      check = staticSealCheck(entry, chain);
      entry.checks.set(signer.id, check);
    }
    if (check.failure) return invalid(check.failure, check.message!, context);
    const seal = entry.made!.seal;
    if (signingTime < seal.validFrom! || signingTime > seal.validTo!) {
      return invalid(Failure.VERIFICATION_FAILURE_SEAL_EXPIRED, `seal ${seal.sealId} was not valid at signing time`, context);
    }
    if (expectation.agency !== undefined && expectation.agency !== seal.agency) {
      return invalid(
        Failure.VERIFICATION_FAILURE_WRONG_AGENCY,
        `the seal is ${common.agencyToJSON(seal.agency)}, expected ${common.agencyToJSON(expectation.agency)}`,
        context,
      );
    }
    return report(Status.VERIFICATION_STATUS_VALID, Failure.VERIFICATION_FAILURE_UNSPECIFIED, "valid", context);
  }

  /**
   * Verifies a compact detached signature (a signed envelope's): the certificate's chain to a trusted
   * root, its validity at `signingTime`, revocation now, the signature over `data`, and that the
   * certificate belongs to `expectation.agency`. Never throws for bad input: the report says why.
   */
  verifySignature(data: Uint8Array, signature: Uint8Array, certificateDer: Uint8Array, signingTime: Date, expectation: SealExpectation = {}): sealPb.SealVerification {
    const chain = this.chainOfCertificate(Buffer.from(certificateDer));
    const context: Partial<sealPb.SealVerification> = { signingTime, signer: chain.signer ? signerOf(chain.signer) : undefined, algorithm: chain.signer?.keyAlgorithm ?? "" };
    const fail = (failure: sealPb.VerificationFailure, message: string): sealPb.SealVerification => invalid(failure, message, context);
    if (!chain.signer) return fail(chain.failure!, chain.message!);
    const signer = chain.signer;
    let holds = false;
    try {
      holds = signer.keyAlgorithm !== undefined && verifySignature(suiteOf(signer.keyAlgorithm).digest, data, signer.publicKey, signature);
    } catch {
      holds = false;
    }
    if (!holds) return fail(Failure.VERIFICATION_FAILURE_BAD_SIGNATURE, "the signature does not verify with the signer's key");
    if (!chain.chain) return fail(chain.failure!, chain.message!);
    const now = this.clock();
    if (signingTime.getTime() > now.getTime() + this.maxClockSkewMs) {
      return fail(Failure.VERIFICATION_FAILURE_SIGNING_TIME_IN_FUTURE, `signing time ${signingTime.toISOString()} is in the future`);
    }
    const chainProblem = this.chainReport(chain.chain, signingTime, now, context);
    if (chainProblem) return chainProblem;
    const agency = parseSealAgency(signer.organizationalUnit ?? "");
    if (!agency) return fail(Failure.VERIFICATION_FAILURE_SEAL_NOT_ALLOWED, `${signer.subject} is not an agency's certificate`);
    if (expectation.agency !== undefined && agencyEnumOf(agency) !== expectation.agency) {
      return fail(Failure.VERIFICATION_FAILURE_WRONG_AGENCY, `the signer is ${agency}, expected ${common.agencyToJSON(expectation.agency)}`);
    }
    return report(Status.VERIFICATION_STATUS_VALID, Failure.VERIFICATION_FAILURE_UNSPECIFIED, "valid", context);
  }

  /**
   * The first failing check of a trusted chain: validity at `signingTime`, then revocation as known
   * `now` (with a trusted time `genTime`, a revocation later than it does not count); undefined when all hold.
   */
  private chainReport(chain: readonly CertificateInfo[], signingTime: Date, now: Date, context: Partial<sealPb.SealVerification>, genTime?: Date): sealPb.SealVerification | undefined {
    for (const certificate of chain) {
      if (signingTime < certificate.notBefore) {
        return invalid(Failure.VERIFICATION_FAILURE_CERTIFICATE_NOT_YET_VALID, `${certificate.subject} was not yet valid at signing time`, context);
      }
      if (signingTime > certificate.notAfter) {
        return invalid(Failure.VERIFICATION_FAILURE_CERTIFICATE_EXPIRED, `${certificate.subject} had expired at signing time (${certificate.notAfter.toISOString()})`, context);
      }
    }
    for (let i = 0; i < chain.length - 1; i++) {
      const status = this.options.revocations.statusOf(chain[i]!, chain[i + 1]!, now);
      if (status.state === "revoked" && !(genTime && status.revokedAt.getTime() > genTime.getTime())) {
        return invalid(
          Failure.VERIFICATION_FAILURE_CERTIFICATE_REVOKED,
          `${chain[i]!.subject} was revoked at ${status.revokedAt.toISOString()}${genTime ? `, before the time-stamp's ${genTime.toISOString()}` : ""}`,
          context,
        );
      }
      if (status.state === "unknown") return report(Status.VERIFICATION_STATUS_INDETERMINATE, Failure.VERIFICATION_FAILURE_REVOCATION_UNKNOWN, status.why, context);
    }
    return undefined;
  }

  private chainOfCertificate(der: Buffer): ChainResult {
    const key = cacheKey(der);
    let result = this.chains.get(key);
    if (!result || !result.key.equals(der)) {
      let signer: CertificateInfo;
      try {
        signer = parseCertificate(der);
      } catch (error) {
        return { key: der, failure: Failure.VERIFICATION_FAILURE_MALFORMED, message: `malformed certificate: ${(error as Error).message}` };
      }
      result = { key: Buffer.from(der), ...this.pathToRoot(signer, [signer]) };
      remember(this.chains, key, result);
    }
    return result;
  }

  private signatureHolds(parsed: ParsedSeal, signer: CertificateInfo): boolean {
    try {
      return verifySignature(parsed.suite.digest, parsed.signedAttributes, signer.publicKey, parsed.signature);
    } catch {
      return false;
    }
  }

  private madeSealOf(bytes: Buffer): MadeSealEntry {
    const key = cacheKey(bytes);
    let entry = this.madeSeals.get(key);
    if (!entry || !entry.bytes.equals(bytes)) {
      const copy = Buffer.from(bytes);
      try {
        entry = { bytes: copy, made: decodeMadeSeal(copy), checks: new Map() };
      } catch (error) {
        if (!(error instanceof MadeSealError)) throw error;
        entry = { bytes: copy, error: error.message, checks: new Map() };
      }
      remember(this.madeSeals, key, entry);
    }
    return entry;
  }

  private chainOf(parsed: ParsedSeal): ChainResult {
    const full = Buffer.concat([parsed.signerSerialDer, parsed.signerIssuerDer, parsed.certificatesDer]);
    const key = cacheKey(full);
    let result = this.chains.get(key);
    if (!result || !result.key.equals(full)) {
      result = { key: full, ...this.buildChain(parsed) };
      remember(this.chains, key, result);
    }
    return result;
  }

  /** Finds the signer among the seal's certificates and a path from it to a trusted root. */
  private buildChain(parsed: ParsedSeal): Omit<ChainResult, "key"> {
    let certificates: CertificateInfo[];
    try {
      certificates = parsed.certificates.map((der) => parseCertificate(der));
    } catch (error) {
      return { failure: Failure.VERIFICATION_FAILURE_MALFORMED, message: `malformed certificate in the seal: ${(error as Error).message}` };
    }
    const signer = certificates.find(
      (certificate) => certificate.issuerDer.equals(parsed.signerIssuerDer) && certificate.serialDer.equals(parsed.signerSerialDer),
    );
    if (!signer) {
      return { failure: Failure.VERIFICATION_FAILURE_SIGNER_CERTIFICATE_MISMATCH, message: "no certificate in the seal matches the signer identifier" };
    }
    return this.pathToRoot(signer, certificates);
  }

  /** A path from a signing certificate to a trusted root through `certificates` and the known intermediates. */
  private pathToRoot(signer: CertificateInfo, certificates: readonly CertificateInfo[]): Omit<ChainResult, "key"> {
    const untrusted = (message: string): Omit<ChainResult, "key"> => ({ signer, failure: Failure.VERIFICATION_FAILURE_UNTRUSTED_CHAIN, message });
    if (signer.isCa || signer.extendedKeyUsage.has(ExtendedKeyUsageOid.timeStamping) || !(signer.keyUsage.has("digitalSignature") || signer.keyUsage.has("nonRepudiation"))) {
      return untrusted(`${signer.subject} is not a signing certificate`);
    }
    const pool = [...certificates, ...(this.options.intermediates ?? [])];
    const chain = [signer];
    for (let current = signer; chain.length <= MAX_CHAIN_LENGTH; ) {
      const root = this.options.roots.find((candidate) => isIssuedBy(current, candidate));
      if (root) {
        chain.push(root);
        const pathOk = chain.every((certificate, index) => index < 2 || certificate.pathLength === undefined || certificate.pathLength >= index - 1);
        return pathOk ? { signer, chain } : untrusted("a CA's path length constraint is exceeded");
      }
      const next = pool.find((candidate) => !chain.includes(candidate) && isIssuedBy(current, candidate));
      if (!next) return untrusted(`no path from ${current.subject} to a trusted root`);
      chain.push(next);
      current = next;
    }
    return untrusted("the certificate chain is too long");
  }
}

/** The checks of a seal that do not depend on time: maker, maker signature, agency, allowed certificate. */
function staticSealCheck(entry: MadeSealEntry, chain: readonly CertificateInfo[]): SealCheck {
  const made = entry.made;
  if (!made) return { failure: Failure.VERIFICATION_FAILURE_SEAL_INVALID, message: entry.error ?? "unreadable seal" };
  const maker = chain.slice(1).find((certificate) => certificate.sha256.equals(made.makerCertificateSha256));
  if (!maker) return { failure: Failure.VERIFICATION_FAILURE_SEAL_INVALID, message: "the seal was not made by a CA of the signer's chain" };
  if (!isMadeBy(made, maker)) return { failure: Failure.VERIFICATION_FAILURE_SEAL_INVALID, message: "the seal maker's signature does not verify" };
  const seal = made.seal;
  const signer = chain[0]!;
  const signerAgency = parseSealAgency(signer.organizationalUnit ?? "");
  if (!signerAgency || agencyEnumOf(signerAgency) !== seal.agency) {
    return { failure: Failure.VERIFICATION_FAILURE_SEAL_NOT_ALLOWED, message: `the seal belongs to another agency than ${signer.subject}` };
  }
  if (!seal.allowedCertificateSha256.some((allowed) => signer.sha256.equals(allowed))) {
    return { failure: Failure.VERIFICATION_FAILURE_SEAL_NOT_ALLOWED, message: `${signer.subject} is not allowed to use seal ${seal.sealId}` };
  }
  return {};
}

/** A short cache key: length and the last 32 bytes (a signature, so effectively random); entries are compared in full. */
function cacheKey(bytes: Buffer): string {
  return `${bytes.length}:${bytes.toString("latin1", Math.max(0, bytes.length - 32))}`;
}

function remember<T>(cache: Map<string, T>, key: string, value: T): void {
  if (cache.size >= CACHE_LIMIT) cache.clear();
  cache.set(key, value);
}

function report(
  status: sealPb.VerificationStatus,
  failure: sealPb.VerificationFailure,
  message: string,
  context: Partial<sealPb.SealVerification>,
): sealPb.SealVerification {
  return {
    status,
    failure,
    message,
    seal: context.seal,
    signer: context.signer,
    signingTime: context.signingTime,
    algorithm: context.algorithm ?? "",
    timeStampTime: context.timeStampTime,
    timeStampAuthority: context.timeStampAuthority ?? "",
    warnings: context.warnings ?? [],
  };
}

function invalid(
  failure: sealPb.VerificationFailure,
  message: string,
  context: Partial<sealPb.SealVerification> = {},
): sealPb.SealVerification {
  return report(Status.VERIFICATION_STATUS_INVALID, failure, message, context);
}

function identityOf(seal: sealPb.Seal): sealPb.SealIdentity {
  return { sealId: seal.sealId, agency: seal.agency, name: seal.name, purpose: seal.purpose };
}

function signerOf(certificate: CertificateInfo): sealPb.SignerIdentity {
  return { subject: certificate.subject, serialNumber: certificate.serial, certificateSha256: certificate.sha256 };
}
