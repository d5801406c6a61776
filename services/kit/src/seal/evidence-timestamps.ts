import { hash, verify as verifySignature } from "node:crypto";
import { AlgorithmOid } from "./algorithms";
import { parseCertificate, type CertificateInfo } from "./certificate";
import { childrenOf, DerError, expectTlv, oidOf, rawOf, readTlv, readTop, Tag, valueOf, type Tlv } from "./der";

/**
 * RFC 3161 time-stamp tokens as they ride in a seal (unsigned attribute id-aa-signatureTimeStampToken,
 * RFC 3161 appendix A / CAdES-T): found by position, read and checked without any ASN.1 library.
 */

/** OID of the unsigned attribute that carries a time-stamp token over the signature value. */
export const SIGNATURE_TIME_STAMP_TOKEN_OID = "1.2.840.113549.1.9.16.2.14";

const Oid = {
  signedData: "1.2.840.113549.1.7.2",
  tstInfo: "1.2.840.113549.1.9.16.1.4",
  contentType: "1.2.840.113549.1.9.3",
  messageDigest: "1.2.840.113549.1.9.4",
  timeStamping: "1.3.6.1.5.5.7.3.8",
} as const;

/** Node digest names of the hash algorithms a TSA may use. */
const DIGESTS: Readonly<Record<string, string>> = {
  [AlgorithmOid.sha256]: "sha256",
  "2.16.840.1.101.3.4.2.2": "sha384",
  "2.16.840.1.101.3.4.2.3": "sha512",
  [AlgorithmOid.sm3]: "sm3",
};

/** Where a part lies inside the `.p7s`, so that `openssl asn1parse -offset -length` can cut it out. */
export interface ByteRange {
  readonly offset: number;
  readonly length: number;
}

/** The signature value of a seal's signer and the time-stamp tokens over it (none when the seal has none). */
export interface SealTimeStamps {
  /** The content of SignerInfo.signature: what a signature time-stamp's message imprint covers. */
  readonly signatureValue: Buffer;
  readonly signatureRange: ByteRange;
  /** Each token: a DER ContentInfo (TimeStampToken), in the order the seal holds them. */
  readonly tokens: ReadonlyArray<{ readonly der: Buffer; readonly range: ByteRange }>;
}

/** TimeStampFormatError says why bytes are not a CMS seal or a time-stamp token this code can read. */
export class TimeStampFormatError extends Error {
  override name = "TimeStampFormatError";
}

/** Reads the single signer's signature value and its signature time-stamp tokens from a DER `.p7s`. */
export function extractTimeStampTokens(p7s: Uint8Array): SealTimeStamps {
  const buf = Buffer.from(p7s.buffer, p7s.byteOffset, p7s.byteLength);
  try {
    const signedData = signedDataOf(buf, readTop(buf, Tag.SEQUENCE));
    const signerInfos = childrenOf(buf, signedData).at(-1);
    if (!signerInfos || signerInfos.tag !== Tag.SET) throw new TimeStampFormatError("SignedData has no signer infos");
    const signers = childrenOf(buf, signerInfos);
    if (signers.length !== 1) throw new TimeStampFormatError(`expected one signer, found ${signers.length}`);
    const fields = childrenOf(buf, signers[0]!);
    // The first OCTET STRING of a SignerInfo is its signature (sid is a SEQUENCE or [0]).
    const signature = fields.find((field) => field.tag === Tag.OCTET_STRING);
    if (!signature) throw new TimeStampFormatError("SignerInfo has no signature");
    const tokens: Array<{ der: Buffer; range: ByteRange }> = [];
    const unsigned = fields.find((field) => field.tag === Tag.CONTEXT_1);
    for (const attribute of unsigned ? childrenOf(buf, unsigned) : []) {
      const [type, values] = childrenOf(buf, attribute);
      if (!type || !values || type.tag !== Tag.OID || values.tag !== Tag.SET) throw new TimeStampFormatError("malformed unsigned attribute");
      if (oidOf(buf, type) !== SIGNATURE_TIME_STAMP_TOKEN_OID) continue;
      for (const token of childrenOf(buf, values)) {
        tokens.push({ der: Buffer.from(rawOf(buf, token)), range: { offset: token.start, length: token.end - token.start } });
      }
    }
    return {
      signatureValue: Buffer.from(valueOf(buf, signature)),
      signatureRange: { offset: signature.content, length: signature.end - signature.content },
      tokens,
    };
  } catch (error) {
    if (error instanceof DerError) throw new TimeStampFormatError(error.message);
    throw error;
  }
}

/** What a time-stamp token says and whether it holds over the given signature value. */
export interface EvidenceTimeStampCheck {
  readonly ok: boolean;
  /** One sentence: "valid" or what failed. */
  readonly reason: string;
  readonly genTime?: Date;
  readonly policy?: string;
  /** Serial number of the token, uppercase hex. */
  readonly serial?: string;
  /** The TSA certificate that signed the token (found in the token or among `candidates`). */
  readonly tsa?: CertificateInfo;
  /** Certificates the token carries, readable ones only. */
  readonly certificates: readonly CertificateInfo[];
}

/**
 * Checks a TimeStampToken over `signatureValue`: TSTInfo content, message imprint, the CMS signature
 * of the TSA (messageDigest and signed attributes) and the TSA certificate's time-stamping EKU.
 * The TSA certificate's chain, validity and revocation are the caller's to check. Never throws.
 */
export function checkTimeStampToken(token: Uint8Array, signatureValue: Uint8Array, candidates: readonly CertificateInfo[]): EvidenceTimeStampCheck {
  const buf = Buffer.from(token);
  const certificates: CertificateInfo[] = [];
  const fail = (reason: string, extra: Partial<EvidenceTimeStampCheck> = {}): EvidenceTimeStampCheck => ({ ok: false, reason, certificates, ...extra });
  try {
    const signedData = signedDataOf(buf, readTop(buf, Tag.SEQUENCE));
    const parts = childrenOf(buf, signedData);
    const encapsulated = parts[2];
    const signerInfos = parts.at(-1);
    if (!encapsulated || encapsulated.tag !== Tag.SEQUENCE || !signerInfos || signerInfos.tag !== Tag.SET) {
      return fail("the token is not a complete SignedData");
    }
    for (const field of parts.slice(3, -1)) {
      if (field.tag !== Tag.CONTEXT_0) continue;
      for (const certificate of childrenOf(buf, field)) {
        try {
          certificates.push(parseCertificate(rawOf(buf, certificate)));
        } catch {
          // A certificate this platform cannot read is simply not a candidate.
        }
      }
    }
    const [contentType, wrapped] = childrenOf(buf, encapsulated);
    if (!contentType || oidOf(buf, contentType) !== Oid.tstInfo || !wrapped || wrapped.tag !== Tag.CONTEXT_0) {
      return fail("the token does not hold a TSTInfo");
    }
    const eContent = valueOf(buf, expectTlv(buf, wrapped.content, Tag.OCTET_STRING, wrapped.end));
    const info = readTstInfo(eContent);
    const context = { genTime: info.genTime, policy: info.policy, serial: info.serial };
    const imprintDigest = DIGESTS[info.imprintAlgorithm];
    if (!imprintDigest) return fail(`unsupported message imprint algorithm ${info.imprintAlgorithm}`, context);
    if (!hash(imprintDigest, signatureValue, "buffer").equals(info.imprint)) {
      return fail("the token's message imprint does not match the seal's signature value", context);
    }
    const signers = childrenOf(buf, signerInfos);
    if (signers.length !== 1) return fail(`expected one TSA signer, found ${signers.length}`, context);
    const signer = readSignerInfo(buf, signers[0]!);
    const digest = DIGESTS[signer.digestAlgorithm];
    if (!digest) return fail(`unsupported TSA digest algorithm ${signer.digestAlgorithm}`, context);
    if (signer.contentType !== Oid.tstInfo) return fail("the TSA's signed content-type is not TSTInfo", context);
    if (!signer.messageDigest || !hash(digest, eContent, "buffer").equals(signer.messageDigest)) {
      return fail("the TSA's signed message digest does not match the TSTInfo", context);
    }
    const tsa = [...certificates, ...candidates].find((certificate) => signer.matches(certificate));
    if (!tsa) return fail("the TSA certificate is neither in the token nor in the package", context);
    let holds = false;
    try {
      holds = verifySignature(digest, signer.signedAttributes, tsa.publicKey, signer.signature);
    } catch {
      holds = false;
    }
    if (!holds) return fail(`the TSA signature does not verify with ${tsa.subject}`, { ...context, tsa });
    if (!(tsa.x509.keyUsage ?? []).includes(Oid.timeStamping)) {
      return fail(`${tsa.subject} is not a time-stamping certificate (no id-kp-timeStamping)`, { ...context, tsa });
    }
    return { ok: true, reason: "valid", certificates, tsa, ...context };
  } catch (error) {
    if (error instanceof DerError || error instanceof TimeStampFormatError) return fail(`malformed time-stamp token: ${error.message}`);
    throw error;
  }
}

/** The SignedData inside a ContentInfo. */
function signedDataOf(buf: Buffer, contentInfo: Tlv): Tlv {
  const [type, wrapper, extra] = childrenOf(buf, contentInfo);
  if (!type || type.tag !== Tag.OID || oidOf(buf, type) !== Oid.signedData || !wrapper || wrapper.tag !== Tag.CONTEXT_0 || extra) {
    throw new TimeStampFormatError("not a CMS SignedData");
  }
  return expectTlv(buf, wrapper.content, Tag.SEQUENCE, wrapper.end);
}

interface TstInfo {
  readonly policy: string;
  readonly imprintAlgorithm: string;
  readonly imprint: Buffer;
  readonly serial: string;
  readonly genTime: Date;
}

/** TSTInfo ::= SEQUENCE { version, policy, messageImprint, serialNumber, genTime, ... } (RFC 3161 §2.4.2). */
function readTstInfo(bytes: Buffer): TstInfo {
  const [version, policy, imprint, serial, genTime] = childrenOf(bytes, readTop(bytes, Tag.SEQUENCE));
  if (!version || !policy || !imprint || !serial || !genTime) throw new TimeStampFormatError("TSTInfo is incomplete");
  const [algorithm, hashed] = childrenOf(bytes, expectTlv(bytes, imprint.start, Tag.SEQUENCE));
  const algorithmOid = algorithm ? childrenOf(bytes, algorithm)[0] : undefined;
  if (!algorithmOid || !hashed || hashed.tag !== Tag.OCTET_STRING) throw new TimeStampFormatError("malformed message imprint");
  expectTlv(bytes, serial.start, Tag.INTEGER);
  return {
    policy: oidOf(bytes, policy),
    imprintAlgorithm: oidOf(bytes, algorithmOid),
    imprint: Buffer.from(valueOf(bytes, hashed)),
    serial: valueOf(bytes, serial).toString("hex").toUpperCase(),
    genTime: generalizedTimeOf(bytes, genTime),
  };
}

/** GeneralizedTime as RFC 3161 allows it: YYYYMMDDhhmmss[.fraction]Z. */
function generalizedTimeOf(bytes: Buffer, tlv: Tlv): Date {
  const text = valueOf(bytes, tlv).toString("latin1");
  const match = /^(\d{4})(\d\d)(\d\d)(\d\d)(\d\d)(\d\d)(?:\.(\d{1,9}))?Z$/.exec(text);
  if (tlv.tag !== Tag.GENERALIZED_TIME || !match) throw new TimeStampFormatError(`genTime ${JSON.stringify(text)} is not a GeneralizedTime`);
  const [year, month, day, hour, minute, second] = match.slice(1, 7).map(Number) as [number, number, number, number, number, number];
  const millis = match[7] ? Math.floor(Number(`0.${match[7]}`) * 1000) : 0;
  return new Date(Date.UTC(year, month - 1, day, hour, minute, second, millis));
}

interface TsaSigner {
  readonly digestAlgorithm: string;
  readonly signedAttributes: Buffer;
  readonly signature: Buffer;
  readonly contentType?: string;
  readonly messageDigest?: Buffer;
  readonly matches: (certificate: CertificateInfo) => boolean;
}

/** SignerInfo of the TSA: sid (issuer and serial, or subject key id), digest, signed attributes, signature. */
function readSignerInfo(buf: Buffer, signerInfo: Tlv): TsaSigner {
  const [, sid, digestAlgorithm, attributes, , signature] = childrenOf(buf, signerInfo);
  if (!sid || !digestAlgorithm || !attributes || attributes.tag !== Tag.CONTEXT_0 || !signature || signature.tag !== Tag.OCTET_STRING) {
    throw new TimeStampFormatError("the TSA SignerInfo must have signed attributes");
  }
  let matches: (certificate: CertificateInfo) => boolean;
  if (sid.tag === Tag.SEQUENCE) {
    const [issuer, serial] = childrenOf(buf, sid);
    if (!issuer || !serial) throw new TimeStampFormatError("malformed signer identifier");
    const issuerDer = rawOf(buf, issuer);
    const serialDer = rawOf(buf, serial);
    matches = (certificate) => certificate.issuerDer.equals(issuerDer) && certificate.serialDer.equals(serialDer);
  } else if (sid.tag === 0x80) {
    const keyId = valueOf(buf, sid);
    matches = (certificate) => certificate.subjectKeyId?.equals(keyId) ?? false;
  } else {
    throw new TimeStampFormatError("malformed signer identifier");
  }
  let contentType: string | undefined;
  let messageDigest: Buffer | undefined;
  for (const attribute of childrenOf(buf, attributes)) {
    const [type, values] = childrenOf(buf, attribute);
    if (!type || !values || type.tag !== Tag.OID || values.tag !== Tag.SET) throw new TimeStampFormatError("malformed signed attribute");
    const value = readTlv(buf, values.content, values.end);
    const oid = oidOf(buf, type);
    if (oid === Oid.contentType) contentType = oidOf(buf, value);
    if (oid === Oid.messageDigest && value.tag === Tag.OCTET_STRING) messageDigest = Buffer.from(valueOf(buf, value));
  }
  const signedAttributes = Buffer.from(rawOf(buf, attributes));
  signedAttributes[0] = Tag.SET;
  const algorithm = childrenOf(buf, digestAlgorithm)[0];
  if (!algorithm) throw new TimeStampFormatError("malformed digest algorithm");
  return {
    digestAlgorithm: oidOf(buf, algorithm),
    signedAttributes,
    signature: Buffer.from(valueOf(buf, signature)),
    contentType,
    messageDigest,
    matches,
  };
}
