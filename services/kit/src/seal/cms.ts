import { hash } from "node:crypto";
import { AlgorithmOid, SEAL_ALGORITHMS, suiteOf, type AlgorithmSuite } from "./algorithms";
import type { CertificateInfo, SigningKey } from "./certificate";
import { algorithmIdentifier, toDer } from "./forge-asn1";
import {
  childrenOf,
  DerError,
  encodeOid,
  expectTlv,
  headerLength,
  oidOf,
  rawOf,
  readTop,
  readTlv,
  smallIntOf,
  Tag,
  timeLength,
  timeOf,
  tlv,
  valueOf,
  writeHeader,
  writeTime,
  type Tlv,
} from "./der";
import { decodeMadeSeal, type MadeSealInfo } from "./made-seal";

/** CaseBridge's own OID arc: a UUID OID (ITU-T X.667), which needs no registration. */
export const CASEBRIDGE_OID_ARC = "2.25.263681683630765538682498876297073861068";

/** OIDs of RFC 5652 content types and attributes, RFC 5035 signing-certificate-v2, and the seal attribute. */
export const CmsOid = {
  data: "1.2.840.113549.1.7.1",
  signedData: "1.2.840.113549.1.7.2",
  contentType: "1.2.840.113549.1.9.3",
  messageDigest: "1.2.840.113549.1.9.4",
  signingTime: "1.2.840.113549.1.9.5",
  signingCertificateV2: "1.2.840.113549.1.9.16.2.47",
  /** Unsigned attribute id-aa-signatureTimeStampToken (RFC 3161 appendix A): an RFC 3161 token over the signature value (CAdES-B-T). */
  signatureTimeStampToken: "1.2.840.113549.1.9.16.2.14",
  /** Signed attribute carrying the MadeSeal (GB/T 38540 seal) the signer used. */
  madeSeal: `${CASEBRIDGE_OID_ARC}.1.1`,
} as const;

const ENCODED = Object.fromEntries(Object.entries(CmsOid).map(([name, oid]) => [name, encodeOid(oid)])) as Record<
  keyof typeof CmsOid,
  Buffer
>;

/** What a signer needs: its key, its chain (signer first, then intermediates) and its MadeSeal. */
export interface SealCredential {
  readonly key: SigningKey;
  readonly chain: readonly CertificateInfo[];
  readonly madeSeal: Buffer;
}

/** Gets an RFC 3161 time-stamp token (DER) over the SHA-256 of a signature value; see timestamp.ts `timeStamperOf`. */
export type TimeStamper = (signatureValue: Buffer) => Promise<Buffer>;

/** SealerError says why a credential cannot seal. */
export class SealerError extends Error {
  override name = "SealerError";
}

/** Throws SealerError unless the credential's certificate is among those its seal allows (a start-up check). */
export function assertCredentialAllowed(credential: SealCredential): void {
  const [signer] = credential.chain;
  const made = decodeMadeSeal(credential.madeSeal);
  if (!signer || !made.seal.allowedCertificateSha256.some((allowed) => signer.sha256.equals(allowed))) {
    throw new SealerError(`certificate ${signer?.subject ?? "(none)"} is not allowed to use seal ${made.seal.sealId}`);
  }
}

/**
 * Seals documents with one credential: a detached CMS SignedData (RFC 5652, CAdES-BES attributes)
 * per document. Everything but the signing time, the digest and the signature is encoded once.
 * With a time-stamper, `seal()` adds the TSA's token over the signature as the unsigned attribute
 * id-aa-signatureTimeStampToken (CAdES-B-T); when the TSA cannot be had, it throws and seals nothing.
 */
export class Sealer {
  readonly madeSeal: MadeSealInfo;
  readonly suite: AlgorithmSuite;
  private readonly templates = new Map<number, AttributeTemplate>();
  private readonly signerInfoHead: Buffer;
  private readonly signatureAlgorithm: Buffer;
  private readonly signedDataHead: Buffer;
  private readonly signer: CertificateInfo;

  constructor(
    private readonly credential: SealCredential,
    private readonly clock: () => Date = () => new Date(),
    private readonly timeStamper?: TimeStamper,
  ) {
    const [signer] = credential.chain;
    if (!signer) throw new SealerError("the credential has no certificate");
    if (signer.keyAlgorithm !== credential.key.algorithm) {
      throw new SealerError(`key is ${credential.key.algorithm} but the certificate holds a ${signer.keyAlgorithm ?? "foreign"} key`);
    }
    this.signer = signer;
    this.madeSeal = decodeMadeSeal(credential.madeSeal);
    this.suite = suiteOf(credential.key.algorithm);
    const digestAlgorithm = toDer(algorithmIdentifier(this.suite.digestOid, false));
    this.signatureAlgorithm = toDer(algorithmIdentifier(this.suite.signatureOid, this.suite.signatureHasNullParameter));
    this.signerInfoHead = Buffer.concat([
      smallInteger(1),
      tlv(Tag.SEQUENCE, signer.issuerDer, signer.serialDer),
      digestAlgorithm,
    ]);
    this.signedDataHead = Buffer.concat([
      smallInteger(1),
      tlv(Tag.SET, digestAlgorithm),
      tlv(Tag.SEQUENCE, ENCODED.data),
      tlv(Tag.CONTEXT_0, ...credential.chain.map((certificate) => certificate.der)),
    ]);
  }

  /** Seals `document`, returning the DER `.p7s`, time-stamped when the Sealer has a time-stamper; works with any key, local or remote. */
  async seal(document: Uint8Array): Promise<Buffer> {
    const attributes = this.signedAttributes(document);
    const signature = await this.credential.key.sign(attributes);
    if (!this.timeStamper) return this.assemble(attributes, signature);
    const token = await this.timeStamper(signature);
    return this.assemble(attributes, signature, tlv(Tag.CONTEXT_1, attribute(ENCODED.signatureTimeStampToken, token)));
  }

  /** True when `seal()` adds a time-stamp token. */
  get timeStamps(): boolean {
    return this.timeStamper !== undefined;
  }

  /** Seals `document` without yielding and without a time-stamp; only for keys that sign synchronously (files, memory). */
  sealSync(document: Uint8Array): Buffer {
    const attributes = this.signedAttributes(document);
    const signature = this.credential.key.sign(attributes);
    if (signature instanceof Promise) throw new SealerError("this key signs asynchronously; use seal()");
    return this.assemble(attributes, signature);
  }

  /** Signs `data` with the seal key: a compact detached signature (no CMS), with the signer certificate's DER. */
  async signDetached(data: Uint8Array): Promise<{ signature: Buffer; certificate: Buffer }> {
    return { signature: await this.credential.key.sign(Buffer.from(data)), certificate: this.signer.der };
  }

  /** The signed attributes for `document` signed now: the template with the time and digest filled in. */
  private signedAttributes(document: Uint8Array): Buffer {
    const digest = hash(this.suite.digest, document, "buffer");
    const signingTime = this.clock();
    const template = this.templateFor(timeLength(signingTime));
    const attributes = Buffer.allocUnsafe(template.bytes.length);
    template.bytes.copy(attributes);
    writeTime(attributes, template.timeOffset, signingTime);
    digest.copy(attributes, template.digestOffset);
    return attributes;
  }

  /** ContentInfo { signedData, [0] SignedData { head, SET { SignerInfo { head, attributes, algorithm, signature, [1] unsigned? } } } }, in one buffer. */
  private assemble(attributes: Buffer, signature: Buffer, unsigned?: Buffer): Buffer {
    attributes[0] = Tag.CONTEXT_0;
    const signerInfoLength =
      this.signerInfoHead.length + attributes.length + this.signatureAlgorithm.length + headerLength(signature.length) + signature.length + (unsigned?.length ?? 0);
    const signerInfosLength = headerLength(signerInfoLength) + signerInfoLength;
    const signedDataLength = this.signedDataHead.length + headerLength(signerInfosLength) + signerInfosLength;
    const wrapperLength = headerLength(signedDataLength) + signedDataLength;
    const contentInfoLength = ENCODED.signedData.length + headerLength(wrapperLength) + wrapperLength;
    const out = Buffer.allocUnsafe(headerLength(contentInfoLength) + contentInfoLength);
    let at = writeHeader(out, 0, Tag.SEQUENCE, contentInfoLength);
    at += ENCODED.signedData.copy(out, at);
    at = writeHeader(out, at, Tag.CONTEXT_0, wrapperLength);
    at = writeHeader(out, at, Tag.SEQUENCE, signedDataLength);
    at += this.signedDataHead.copy(out, at);
    at = writeHeader(out, at, Tag.SET, signerInfosLength);
    at = writeHeader(out, at, Tag.SEQUENCE, signerInfoLength);
    at += this.signerInfoHead.copy(out, at);
    at += attributes.copy(out, at);
    at += this.signatureAlgorithm.copy(out, at);
    at = writeHeader(out, at, Tag.OCTET_STRING, signature.length);
    at += signature.copy(out, at);
    unsigned?.copy(out, at);
    return out;
  }

  /** The signed attributes (DER SET, sorted) with placeholders for a Time TLV of the given length. */
  private templateFor(timeTlvLength: number): AttributeTemplate {
    let template = this.templates.get(timeTlvLength);
    if (!template) {
      const digestLength = 32;
      const attributes = [
        attribute(ENCODED.contentType, ENCODED.data),
        attribute(ENCODED.signingTime, Buffer.alloc(timeTlvLength)),
        attribute(ENCODED.messageDigest, tlv(Tag.OCTET_STRING, Buffer.alloc(digestLength))),
        attribute(
          ENCODED.signingCertificateV2,
          tlv(Tag.SEQUENCE, tlv(Tag.SEQUENCE, tlv(Tag.SEQUENCE, tlv(Tag.OCTET_STRING, this.signer.sha256)))),
        ),
        attribute(ENCODED.madeSeal, tlv(Tag.OCTET_STRING, this.credential.madeSeal)),
      ];
      const sorted = [...attributes].sort((a, b) => Buffer.compare(a, b));
      const bytes = tlv(Tag.SET, ...sorted);
      const endOf = (part: Buffer): number => bytes.length - sorted.slice(sorted.indexOf(part) + 1).reduce((n, p) => n + p.length, 0);
      template = {
        bytes,
        timeOffset: endOf(attributes[1]!) - timeTlvLength,
        digestOffset: endOf(attributes[2]!) - digestLength,
      };
      this.templates.set(timeTlvLength, template);
    }
    return template;
  }
}

interface AttributeTemplate {
  readonly bytes: Buffer;
  readonly timeOffset: number;
  readonly digestOffset: number;
}

/** A CMS Attribute: SEQUENCE { type, SET { value } }. */
export function attribute(type: Buffer, value: Buffer): Buffer {
  return tlv(Tag.SEQUENCE, type, tlv(Tag.SET, value));
}

/** A DER INTEGER of one byte. */
export function smallInteger(value: number): Buffer {
  return tlv(Tag.INTEGER, Buffer.of(value));
}

/** A detached CMS SignedData read without checking any signature. */
export interface ParsedSeal {
  readonly suite: AlgorithmSuite;
  /** The `[0]` certificates field, encoded: the chain cache key. */
  readonly certificatesDer: Buffer;
  readonly certificates: readonly Buffer[];
  /** The signer's issuer Name and serialNumber INTEGER, encoded. */
  readonly signerIssuerDer: Buffer;
  readonly signerSerialDer: Buffer;
  /** The signed attributes re-tagged as the SET the signature covers. */
  readonly signedAttributes: Buffer;
  readonly signature: Buffer;
  readonly signingTime: Date;
  readonly messageDigest: Buffer;
  readonly signingCertificateSha256: Buffer;
  readonly madeSealBytes: Buffer;
  /** The RFC 3161 token of the unsigned attribute id-aa-signatureTimeStampToken, when the seal is time-stamped. */
  readonly timeStampToken: Buffer | undefined;
}

/** SealFormatError says why bytes are not a CaseBridge e-seal. */
export class SealFormatError extends Error {
  override name = "SealFormatError";
}

/** SealAlgorithmError says the e-seal uses an algorithm outside the supported suites. */
export class SealAlgorithmError extends Error {
  override name = "SealAlgorithmError";
}

/** Reads a `.p7s`: one signer, detached id-data content, the certificates and the CaseBridge signed attributes. */
export function parseSeal(p7s: Uint8Array): ParsedSeal {
  try {
    return parseSealStrict(Buffer.from(p7s.buffer, p7s.byteOffset, p7s.byteLength));
  } catch (error) {
    if (error instanceof DerError) throw new SealFormatError(error.message);
    throw error;
  }
}

function parseSealStrict(buf: Buffer): ParsedSeal {
  const contentInfo = readTop(buf, Tag.SEQUENCE);
  const [contentType, wrapper, extra] = childrenOf(buf, contentInfo);
  if (!contentType || !wrapper || extra || !is(buf, contentType, ENCODED.signedData) || wrapper.tag !== Tag.CONTEXT_0) {
    throw new SealFormatError("not a CMS SignedData");
  }
  const signedData = expectTlv(buf, wrapper.content, Tag.SEQUENCE, wrapper.end);
  if (signedData.end !== wrapper.end) throw new SealFormatError("trailing bytes in the SignedData wrapper");
  const [version, digestAlgorithms, encapsulated, certificates, signerInfos, more] = childrenOf(buf, signedData);
  if (!version || !digestAlgorithms || !encapsulated || !certificates || !signerInfos || more) {
    throw new SealFormatError("SignedData must have version, digest algorithms, content, certificates and one signer");
  }
  if (smallIntOf(buf, version) !== 1) throw new SealFormatError("SignedData version must be 1");
  expectTlv(buf, digestAlgorithms.start, Tag.SET);
  expectTlv(buf, encapsulated.start, Tag.SEQUENCE);
  const encapsulatedParts = childrenOf(buf, encapsulated);
  if (encapsulatedParts.length !== 1 || !is(buf, encapsulatedParts[0]!, ENCODED.data)) {
    throw new SealFormatError("the seal must be detached over id-data content");
  }
  if (certificates.tag !== Tag.CONTEXT_0) throw new SealFormatError("the seal must carry its certificate chain");
  const certificateList = childrenOf(buf, certificates).map((certificate) => {
    if (certificate.tag !== Tag.SEQUENCE) throw new SealFormatError("only X.509 certificates may be included");
    return rawOf(buf, certificate);
  });
  expectTlv(buf, signerInfos.start, Tag.SET);
  const signers = childrenOf(buf, signerInfos);
  if (signers.length !== 1) throw new SealFormatError(`expected exactly one signer, found ${signers.length}`);
  const signerInfo = expectTlv(buf, signers[0]!.start, Tag.SEQUENCE, signerInfos.end);
  const [signerVersion, sid, digestAlgorithm, attributes, signatureAlgorithm, signature, unsigned, tooMany] = childrenOf(buf, signerInfo);
  if (!signerVersion || !sid || !digestAlgorithm || !attributes || !signatureAlgorithm || !signature || tooMany) {
    throw new SealFormatError("SignerInfo is incomplete");
  }
  if (unsigned && unsigned.tag !== Tag.CONTEXT_1) throw new SealFormatError("unexpected field after the signature");
  const timeStampToken = unsigned ? readTimeStampAttribute(buf, unsigned) : undefined;
  if (smallIntOf(buf, signerVersion) !== 1) throw new SealFormatError("SignerInfo version must be 1 (issuer and serial)");
  expectTlv(buf, sid.start, Tag.SEQUENCE);
  const [sidIssuer, sidSerial, sidExtra] = childrenOf(buf, sid);
  if (!sidIssuer || !sidSerial || sidExtra || sidIssuer.tag !== Tag.SEQUENCE || sidSerial.tag !== Tag.INTEGER) {
    throw new SealFormatError("signer identifier must be issuer and serial number");
  }
  const declared = childrenOf(buf, digestAlgorithms);
  if (declared.length !== 1 || !rawOf(buf, declared[0]!).equals(rawOf(buf, digestAlgorithm))) {
    throw new SealFormatError("SignedData digest algorithms must list exactly the signer's");
  }
  const suite = SUITE_ENCODINGS.find(
    (candidate) => candidate.digest.some((e) => is(buf, digestAlgorithm, e)) && candidate.signature.some((e) => is(buf, signatureAlgorithm, e)),
  )?.suite;
  if (!suite) throw new SealAlgorithmError("digest and signature algorithms are not a supported suite");
  if (attributes.tag !== Tag.CONTEXT_0) throw new SealFormatError("the seal has no signed attributes");
  const values = readSignedAttributes(buf, attributes);
  expectTlv(buf, signature.start, Tag.OCTET_STRING);
  const signedAttributes = Buffer.from(rawOf(buf, attributes));
  signedAttributes[0] = Tag.SET;
  return {
    suite,
    certificatesDer: rawOf(buf, certificates),
    certificates: certificateList,
    signerIssuerDer: rawOf(buf, sidIssuer),
    signerSerialDer: rawOf(buf, sidSerial),
    signedAttributes,
    signature: valueOf(buf, signature),
    ...values,
    timeStampToken,
  };
}

/** The unsigned attributes may hold exactly one thing: one id-aa-signatureTimeStampToken with one token. */
function readTimeStampAttribute(buf: Buffer, unsigned: Tlv): Buffer {
  const attributes = childrenOf(buf, unsigned);
  if (attributes.length !== 1) throw new SealFormatError(`expected one unsigned attribute (the time-stamp token), found ${attributes.length}`);
  const attr = attributes[0]!;
  if (attr.tag !== Tag.SEQUENCE) throw new SealFormatError("malformed unsigned attribute");
  const [type, set, extra] = childrenOf(buf, attr);
  if (!type || !set || extra || type.tag !== Tag.OID || set.tag !== Tag.SET) throw new SealFormatError("malformed unsigned attribute");
  if (!is(buf, type, ENCODED.signatureTimeStampToken)) throw new SealFormatError(`unsigned attribute ${oidOf(buf, type)} is not allowed`);
  const values = childrenOf(buf, set);
  if (values.length !== 1 || values[0]!.tag !== Tag.SEQUENCE) throw new SealFormatError("the time-stamp attribute must hold one token");
  return rawOf(buf, values[0]!);
}

const REQUIRED_ATTRIBUTES = ["contentType", "signingTime", "messageDigest", "signingCertificateV2", "madeSeal"] as const;

/** Reads the five signed attributes this platform requires; each exactly once with one value. */
function readSignedAttributes(
  buf: Buffer,
  attributes: Tlv,
): Pick<ParsedSeal, "signingTime" | "messageDigest" | "signingCertificateSha256" | "madeSealBytes"> {
  const found: Array<Tlv | undefined> = REQUIRED_ATTRIBUTES.map(() => undefined);
  for (const attr of childrenOf(buf, attributes)) {
    if (attr.tag !== Tag.SEQUENCE) throw new SealFormatError("malformed signed attribute");
    const [type, set, extra] = childrenOf(buf, attr);
    if (!type || !set || extra || type.tag !== Tag.OID || set.tag !== Tag.SET) throw new SealFormatError("malformed signed attribute");
    const value = readTlv(buf, set.content, set.end);
    if (value.end !== set.end) throw new SealFormatError(`signed attribute ${oidOf(buf, type)} must have one value`);
    const index = REQUIRED_ATTRIBUTES.findIndex((name) => is(buf, type, ENCODED[name]));
    if (index < 0) continue;
    if (found[index]) throw new SealFormatError(`signed attribute ${oidOf(buf, type)} appears twice`);
    found[index] = value;
  }
  const need = (name: (typeof REQUIRED_ATTRIBUTES)[number]): Tlv => {
    const value = found[REQUIRED_ATTRIBUTES.indexOf(name)];
    if (!value) throw new SealFormatError(`signed attribute ${name} is missing`);
    return value;
  };
  if (!is(buf, need("contentType"), ENCODED.data)) throw new SealFormatError("content type must be id-data");
  const digest = need("messageDigest");
  if (digest.tag !== Tag.OCTET_STRING) throw new SealFormatError("message digest must be an OCTET STRING");
  const madeSeal = need("madeSeal");
  if (madeSeal.tag !== Tag.OCTET_STRING) throw new SealFormatError("seal attribute must be an OCTET STRING");
  return {
    signingTime: timeOf(buf, need("signingTime")),
    messageDigest: valueOf(buf, digest),
    signingCertificateSha256: signingCertificateHash(buf, need("signingCertificateV2")),
    madeSealBytes: valueOf(buf, madeSeal),
  };
}

/** The first certHash of SigningCertificateV2, which must use the default SHA-256. */
function signingCertificateHash(buf: Buffer, value: Tlv): Buffer {
  if (value.tag !== Tag.SEQUENCE) throw new SealFormatError("malformed signing-certificate-v2");
  const certs = expectTlv(buf, value.content, Tag.SEQUENCE, value.end);
  const first = childrenOf(buf, certs)[0];
  if (!first || first.tag !== Tag.SEQUENCE) throw new SealFormatError("signing-certificate-v2 lists no certificate");
  const id = childrenOf(buf, first)[0];
  if (!id || id.tag !== Tag.OCTET_STRING) throw new SealFormatError("signing-certificate-v2 must use the default SHA-256");
  return valueOf(buf, id);
}

/** The accepted encodings of each suite's digest and signature AlgorithmIdentifiers (parameters absent or NULL, as RFC 5754 allows). */
export const SUITE_ENCODINGS = SEAL_ALGORITHMS.map((name) => {
  const suite = suiteOf(name);
  const both = (oid: string): Buffer[] => [toDer(algorithmIdentifier(oid, false)), toDer(algorithmIdentifier(oid, true))];
  const signature = both(suite.signatureOid);
  if (name === "rsa-2048") signature.push(...both(AlgorithmOid.rsaEncryption));
  return { suite, digest: both(suite.digestOid), signature };
});

/** True when the TLV at `tlv` is exactly the encoded `expected`. */
export function is(buf: Buffer, at: Tlv, expected: Buffer): boolean {
  return at.end - at.start === expected.length && buf.compare(expected, 0, expected.length, at.start, at.end) === 0;
}
