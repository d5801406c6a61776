/**
 * RFC 3161 time-stamping (with RFC 5816's ESSCertIDv2): the platform time-stamp authority that
 * answers a DER TimeStampReq with a DER TimeStampResp, the client side that asks for a token, and
 * the verification of a token (TSA signature, chain to the root, id-kp-timeStamping, revocation,
 * message imprint, nonce). Seals carry the token as the unsigned attribute
 * id-aa-signatureTimeStampToken (CAdES-B-T); see cms.ts and verifier.ts.
 */
import { hash, randomBytes, timingSafeEqual, verify as verifySignature } from "node:crypto";
import { AlgorithmOid, suiteOf, type AlgorithmSuite } from "./algorithms";
import { ExtendedKeyUsageOid, isIssuedBy, parseCertificate, type CertificateInfo, type SigningKey } from "./certificate";
import { attribute, CASEBRIDGE_OID_ARC, CmsOid, is, smallInteger, SUITE_ENCODINGS, type TimeStamper } from "./cms";
import { childrenOf, DerError, encodeOid, expectTlv, oidOf, rawOf, readTlv, readTop, smallIntOf, Tag, tlv, valueOf, type Tlv } from "./der";
import { algorithmIdentifier, toDer } from "./forge-asn1";
import type { RevocationRegistry } from "./revocation";

/** OIDs of RFC 3161 / RFC 5816 and the platform's time-stamp policy. */
export const TimeStampOid = {
  /** id-ct-TSTInfo, the eContentType of a time-stamp token. */
  tstInfo: "1.2.840.113549.1.9.16.1.4",
  /** The one policy the CaseBridge TSA issues under (UUID arc, see CASEBRIDGE_OID_ARC). */
  policy: `${CASEBRIDGE_OID_ARC}.2.1`,
  sha384: "2.16.840.1.101.3.4.2.2",
  sha512: "2.16.840.1.101.3.4.2.3",
} as const;

/** PKIStatus values (RFC 3161 §2.4.2). */
export const PkiStatus = { granted: 0, grantedWithMods: 1, rejection: 2, waiting: 3, revocationWarning: 4, revocationNotification: 5 } as const;

/** PKIFailureInfo bit numbers (RFC 3161 §2.4.2). */
export const PkiFailure = {
  badAlg: 0,
  badRequest: 2,
  badDataFormat: 5,
  timeNotAvailable: 14,
  unacceptedPolicy: 15,
  unacceptedExtension: 16,
  systemFailure: 25,
} as const;

/** One of the PkiFailure names. */
export type PkiFailureName = keyof typeof PkiFailure;

/** Message-imprint hash algorithms the TSA accepts, with their digest lengths. SHA-1 is refused on purpose. */
const IMPRINT_ALGORITHMS: ReadonlyArray<{ readonly oid: string; readonly node: string; readonly length: number }> = [
  { oid: AlgorithmOid.sha256, node: "sha256", length: 32 },
  { oid: TimeStampOid.sha384, node: "sha384", length: 48 },
  { oid: TimeStampOid.sha512, node: "sha512", length: 64 },
  { oid: AlgorithmOid.sm3, node: "sm3", length: 32 },
];

const ENCODED = {
  signedData: encodeOid(CmsOid.signedData),
  contentType: encodeOid(CmsOid.contentType),
  messageDigest: encodeOid(CmsOid.messageDigest),
  signingCertificateV2: encodeOid(CmsOid.signingCertificateV2),
  tstInfo: encodeOid(TimeStampOid.tstInfo),
  policy: encodeOid(TimeStampOid.policy),
  sha256: toDer(algorithmIdentifier(AlgorithmOid.sha256, false)),
};

/** A TimeStampReq as read by the TSA. */
export interface TimeStampRequest {
  readonly hashAlgorithm: string;
  readonly hashedMessage: Buffer;
  readonly policy: string | undefined;
  /** The nonce INTEGER, encoded (echoed byte for byte). */
  readonly nonceDer: Buffer | undefined;
  readonly certReq: boolean;
}

/** TimeStampRejection is a request the TSA refuses, with the PKIFailureInfo bit to send back. */
export class TimeStampRejection extends Error {
  override name = "TimeStampRejection";
  constructor(
    readonly failure: PkiFailureName,
    message: string,
  ) {
    super(message);
  }
}

/** Reads a DER TimeStampReq; throws TimeStampRejection (badDataFormat, badRequest, badAlg, ...) when the TSA must refuse it. */
export function parseTimeStampRequest(der: Uint8Array): TimeStampRequest {
  const buf = Buffer.from(der.buffer, der.byteOffset, der.byteLength);
  let parts: Tlv[];
  try {
    parts = childrenOf(buf, readTop(buf, Tag.SEQUENCE));
  } catch (error) {
    throw new TimeStampRejection("badDataFormat", `not a DER TimeStampReq: ${(error as Error).message}`);
  }
  try {
    const [version, imprint, ...rest] = parts;
    if (!version || !imprint || version.tag !== Tag.INTEGER || imprint.tag !== Tag.SEQUENCE) {
      throw new TimeStampRejection("badDataFormat", "a TimeStampReq starts with version and messageImprint");
    }
    if (smallIntOf(buf, version) !== 1) throw new TimeStampRejection("badRequest", "only TimeStampReq version 1 is supported");
    const { algorithm, hashedMessage } = readImprint(buf, imprint);
    const known = IMPRINT_ALGORITHMS.find((candidate) => candidate.oid === algorithm);
    if (!known) throw new TimeStampRejection("badAlg", `hash algorithm ${algorithm} is not accepted`);
    if (hashedMessage.length !== known.length) {
      throw new TimeStampRejection("badDataFormat", `hashedMessage has ${hashedMessage.length} bytes, ${known.node} has ${known.length}`);
    }
    let policy: string | undefined;
    let nonceDer: Buffer | undefined;
    let certReq = false;
    let at = 0;
    if (rest[at]?.tag === Tag.OID) policy = oidOf(buf, rest[at++]!);
    if (rest[at]?.tag === Tag.INTEGER) nonceDer = Buffer.from(rawOf(buf, integerOf(buf, rest[at++]!)));
    if (rest[at]?.tag === Tag.BOOLEAN) {
      const value = rest[at++]!;
      if (value.end - value.content !== 1 || (buf[value.content] !== 0 && buf[value.content] !== 0xff)) throw new DerError("malformed BOOLEAN");
      certReq = buf[value.content] === 0xff;
    }
    if (rest[at]?.tag === Tag.CONTEXT_0) throw new TimeStampRejection("unacceptedExtension", "request extensions are not supported");
    if (at !== rest.length) throw new TimeStampRejection("badDataFormat", "unexpected field in the TimeStampReq");
    if (policy !== undefined && policy !== TimeStampOid.policy) throw new TimeStampRejection("unacceptedPolicy", `policy ${policy} is not this TSA's`);
    return { hashAlgorithm: algorithm, hashedMessage: Buffer.from(hashedMessage), policy, nonceDer, certReq };
  } catch (error) {
    if (error instanceof DerError) throw new TimeStampRejection("badDataFormat", `malformed TimeStampReq: ${error.message}`);
    throw error;
  }
}

/** What the TSA signs with: its key and its certificate (the root it chains to may follow). */
export interface TimeStampAuthorityOptions {
  readonly key: SigningKey;
  readonly chain: readonly CertificateInfo[];
  readonly clock?: () => Date;
  /**
   * Serial numbers: 128 random bits (the top bit cleared, so the INTEGER stays positive) by default.
   * Random serials are unique across any number of TSA replicas without coordination (collision
   * odds ~2^-64 after 2^32 tokens), which a time+counter scheme would need a replica id for.
   */
  readonly serial?: () => Buffer;
}

/**
 * The platform time-stamp authority (RFC 3161): answers a TimeStampReq with a TimeStampResp whose
 * token is a CMS SignedData over TSTInfo, signed with contentType, messageDigest and
 * signingCertificateV2 attributes (RFC 5816), genTime to the millisecond.
 */
export class TimeStampAuthority {
  readonly certificate: CertificateInfo;
  private readonly suite: AlgorithmSuite;
  private readonly clock: () => Date;
  private readonly serial: () => Buffer;
  private readonly digestAlgorithm: Buffer;
  private readonly signatureAlgorithm: Buffer;
  private readonly signerId: Buffer;
  private readonly signingCertificateAttribute: Buffer;
  private readonly tsaName: Buffer;

  constructor(private readonly options: TimeStampAuthorityOptions) {
    const [certificate] = options.chain;
    if (!certificate) throw new TimeStampConfigError("the TSA credential has no certificate");
    if (certificate.keyAlgorithm !== options.key.algorithm) {
      throw new TimeStampConfigError(`the TSA key is ${options.key.algorithm} but its certificate holds a ${certificate.keyAlgorithm ?? "foreign"} key`);
    }
    if (!isTimeStampingCertificate(certificate)) {
      throw new TimeStampConfigError(`${certificate.subject} is not a time-stamping certificate (critical extendedKeyUsage id-kp-timeStamping only)`);
    }
    this.certificate = certificate;
    this.suite = suiteOf(options.key.algorithm);
    this.clock = options.clock ?? (() => new Date());
    this.serial = options.serial ?? randomSerial;
    this.digestAlgorithm = toDer(algorithmIdentifier(this.suite.digestOid, false));
    this.signatureAlgorithm = toDer(algorithmIdentifier(this.suite.signatureOid, this.suite.signatureHasNullParameter));
    this.signerId = tlv(Tag.SEQUENCE, certificate.issuerDer, certificate.serialDer);
    // ESSCertIDv2 { certHash (SHA-256, the default algorithm, so omitted), issuerSerial { GeneralNames { [4] issuer }, serial } }
    const issuerSerial = tlv(Tag.SEQUENCE, tlv(Tag.SEQUENCE, tlv(0xa4, certificate.issuerDer)), certificate.serialDer);
    this.signingCertificateAttribute = attribute(
      ENCODED.signingCertificateV2,
      tlv(Tag.SEQUENCE, tlv(Tag.SEQUENCE, tlv(Tag.SEQUENCE, tlv(Tag.OCTET_STRING, certificate.sha256), issuerSerial))),
    );
    this.tsaName = tlv(Tag.CONTEXT_0, tlv(0xa4, certificate.subjectDer));
  }

  /** Answers a DER TimeStampReq with a DER TimeStampResp; a bad request gets a rejection, never an exception. */
  async respond(requestDer: Uint8Array): Promise<Buffer> {
    let request: TimeStampRequest;
    try {
      request = parseTimeStampRequest(requestDer);
    } catch (error) {
      if (error instanceof TimeStampRejection) return rejectionResponse(error.failure, error.message);
      throw error;
    }
    const token = await this.issue(request);
    return tlv(Tag.SEQUENCE, tlv(Tag.SEQUENCE, smallInteger(PkiStatus.granted)), token);
  }

  /** Makes the TimeStampToken (ContentInfo) for an accepted request. */
  async issue(request: TimeStampRequest): Promise<Buffer> {
    const imprintAlgorithm = toDer(algorithmIdentifier(request.hashAlgorithm, false));
    const tstInfo = tlv(
      Tag.SEQUENCE,
      smallInteger(1),
      ENCODED.policy,
      tlv(Tag.SEQUENCE, imprintAlgorithm, tlv(Tag.OCTET_STRING, request.hashedMessage)),
      tlv(Tag.INTEGER, this.serial()),
      encodeGeneralizedTime(this.clock()),
      // accuracy: the platform's clocks are NTP-disciplined to well under a second.
      tlv(Tag.SEQUENCE, smallInteger(1)),
      ...(request.nonceDer ? [request.nonceDer] : []),
      this.tsaName,
    );
    const attributes = [
      attribute(ENCODED.contentType, ENCODED.tstInfo),
      attribute(ENCODED.messageDigest, tlv(Tag.OCTET_STRING, hash(this.suite.digest, tstInfo, "buffer"))),
      this.signingCertificateAttribute,
    ].sort((a, b) => Buffer.compare(a, b));
    const signedAttributes = tlv(Tag.SET, ...attributes);
    const signature = await this.options.key.sign(signedAttributes);
    signedAttributes[0] = Tag.CONTEXT_0;
    const signerInfo = tlv(
      Tag.SEQUENCE,
      smallInteger(1),
      this.signerId,
      this.digestAlgorithm,
      signedAttributes,
      this.signatureAlgorithm,
      tlv(Tag.OCTET_STRING, signature),
    );
    const signedData = tlv(
      Tag.SEQUENCE,
      smallInteger(3),
      tlv(Tag.SET, this.digestAlgorithm),
      tlv(Tag.SEQUENCE, ENCODED.tstInfo, tlv(Tag.CONTEXT_0, tlv(Tag.OCTET_STRING, tstInfo))),
      ...(request.certReq ? [tlv(Tag.CONTEXT_0, this.certificate.der)] : []),
      tlv(Tag.SET, signerInfo),
    );
    return tlv(Tag.SEQUENCE, ENCODED.signedData, tlv(Tag.CONTEXT_0, signedData));
  }
}

/** TimeStampConfigError says why a TSA credential cannot be used. */
export class TimeStampConfigError extends Error {
  override name = "TimeStampConfigError";
}

/** True when `certificate` may sign time-stamps: an end entity whose only extended key usage is id-kp-timeStamping, marked critical (RFC 3161 §2.3). */
export function isTimeStampingCertificate(certificate: CertificateInfo): boolean {
  return (
    !certificate.isCa &&
    certificate.extendedKeyUsageCritical &&
    certificate.extendedKeyUsage.size === 1 &&
    certificate.extendedKeyUsage.has(ExtendedKeyUsageOid.timeStamping) &&
    (certificate.keyUsage.has("digitalSignature") || certificate.keyUsage.has("nonRepudiation"))
  );
}

function rejectionResponse(failure: PkiFailureName, text: string): Buffer {
  const bit = PkiFailure[failure];
  const bytes = Buffer.alloc((bit >> 3) + 1);
  bytes[bit >> 3] = 0x80 >> (bit & 7);
  const unused = bit & 7 ? 7 - (bit & 7) : 7;
  return tlv(
    Tag.SEQUENCE,
    tlv(
      Tag.SEQUENCE,
      smallInteger(PkiStatus.rejection),
      tlv(Tag.SEQUENCE, tlv(Tag.UTF8_STRING, Buffer.from(text, "utf8"))),
      tlv(Tag.BIT_STRING, Buffer.of(unused), bytes),
    ),
  );
}

/** A TimeStampReq to send, with the nonce it carries. */
export interface BuiltTimeStampRequest {
  readonly der: Buffer;
  /** The nonce INTEGER, encoded; the token must echo it. */
  readonly nonceDer: Buffer;
}

/** Builds a TimeStampReq for a SHA-256 `digest` with a fresh 64-bit nonce and certReq set (the token then carries the TSA certificate). */
export function buildTimeStampRequest(digest: Buffer, options: { nonce?: Buffer; certReq?: boolean } = {}): BuiltTimeStampRequest {
  if (digest.length !== 32) throw new RangeError("a SHA-256 digest has 32 bytes");
  const nonceDer = tlv(Tag.INTEGER, positiveIntegerBytes(options.nonce ?? randomBytes(8)));
  const der = tlv(
    Tag.SEQUENCE,
    smallInteger(1),
    tlv(Tag.SEQUENCE, ENCODED.sha256, tlv(Tag.OCTET_STRING, digest)),
    ENCODED.policy,
    nonceDer,
    ...(options.certReq === false ? [] : [tlv(Tag.BOOLEAN, Buffer.of(0xff))]),
  );
  return { der, nonceDer };
}

/** A TimeStampResp as read by the client. */
export interface TimeStampResponse {
  readonly status: number;
  readonly statusText: string;
  /** Names of the PKIFailureInfo bits set. */
  readonly failures: readonly string[];
  readonly token: Buffer | undefined;
}

/** Reads a DER TimeStampResp; throws TimeStampError when it is not one. */
export function parseTimeStampResponse(der: Uint8Array): TimeStampResponse {
  const buf = Buffer.from(der.buffer, der.byteOffset, der.byteLength);
  try {
    const [statusInfo, token, extra] = childrenOf(buf, readTop(buf, Tag.SEQUENCE));
    if (!statusInfo || statusInfo.tag !== Tag.SEQUENCE || extra || (token && token.tag !== Tag.SEQUENCE)) throw new DerError("not a TimeStampResp");
    const [status, ...rest] = childrenOf(buf, statusInfo);
    if (!status) throw new DerError("PKIStatusInfo without a status");
    let statusText = "";
    const failures: string[] = [];
    for (const part of rest) {
      if (part.tag === Tag.SEQUENCE) statusText = childrenOf(buf, part).map((text) => valueOf(buf, text).toString("utf8")).join("; ");
      if (part.tag === Tag.BIT_STRING) {
        const bits = valueOf(buf, part).subarray(1);
        for (const [name, bit] of Object.entries(PkiFailure)) if ((bits[bit >> 3] ?? 0) & (0x80 >> (bit & 7))) failures.push(name);
      }
    }
    return { status: smallIntOf(buf, status), statusText, failures, token: token ? Buffer.from(rawOf(buf, token)) : undefined };
  } catch (error) {
    if (error instanceof DerError) throw new TimeStampError("invalid", `malformed TimeStampResp: ${error.message}`);
    throw error;
  }
}

/** Sends a DER TimeStampReq and returns the DER TimeStampResp (e.g. over NATS, see timestamp-nats.ts, or in-process). */
export type TimeStampTransport = (request: Buffer) => Promise<Buffer>;

/**
 * Asks the TSA behind `transport` for a token over the SHA-256 `digest` (nonce and certReq set);
 * checks that it was granted, that the token is for this digest and echoes the nonce; returns the token DER.
 */
export async function requestTimeStamp(transport: TimeStampTransport, digest: Buffer): Promise<Buffer> {
  const request = buildTimeStampRequest(digest);
  const response = parseTimeStampResponse(await transport(request.der));
  if (response.status !== PkiStatus.granted && response.status !== PkiStatus.grantedWithMods) {
    throw new TimeStampError("invalid", `the TSA refused the request (status ${response.status}${response.failures.length ? `, ${response.failures.join(", ")}` : ""}): ${response.statusText}`);
  }
  if (!response.token) throw new TimeStampError("invalid", "the TSA granted the request but sent no token");
  const token = parseTimeStampToken(response.token);
  if (!token.hashedMessage.equals(digest) || token.hashAlgorithm !== AlgorithmOid.sha256) throw new TimeStampError("invalid", "the token is for another message imprint");
  if (!token.nonceDer?.equals(request.nonceDer)) throw new TimeStampError("invalid", "the token does not echo the request's nonce");
  return response.token;
}

/** The time-stamper a Sealer takes: a token over the SHA-256 of the signature value, from the TSA behind `transport`. */
export function timeStamperOf(transport: TimeStampTransport): TimeStamper {
  return (signatureValue) => requestTimeStamp(transport, hash("sha256", signatureValue, "buffer"));
}

/** A TimeStampToken read without checking its signature. */
export interface ParsedTimeStampToken {
  readonly suite: AlgorithmSuite;
  readonly tstInfo: Buffer;
  readonly policy: string;
  readonly hashAlgorithm: string;
  readonly hashedMessage: Buffer;
  /** serialNumber, uppercase hex. */
  readonly serial: string;
  readonly genTime: Date;
  readonly nonceDer: Buffer | undefined;
  readonly certificates: readonly Buffer[];
  readonly signerIssuerDer: Buffer;
  readonly signerSerialDer: Buffer;
  /** The signed attributes re-tagged as the SET the signature covers. */
  readonly signedAttributes: Buffer;
  readonly signature: Buffer;
  readonly messageDigest: Buffer;
  readonly signingCertificateSha256: Buffer;
}

/** Why a token was not accepted: "invalid" (malformed, bad signature, wrong imprint), "untrusted" (its signer), "revocation-unknown". */
export type TimeStampProblem = "invalid" | "untrusted" | "revocation-unknown";

/** TimeStampError says why a time-stamp could not be had or was not accepted. */
export class TimeStampError extends Error {
  override name = "TimeStampError";
  constructor(
    readonly problem: TimeStampProblem,
    message: string,
  ) {
    super(message);
  }
}

/** Reads a TimeStampToken (CMS SignedData over TSTInfo, one signer with signed attributes); throws TimeStampError("invalid"). */
export function parseTimeStampToken(der: Uint8Array): ParsedTimeStampToken {
  const buf = Buffer.from(der.buffer, der.byteOffset, der.byteLength);
  try {
    return parseTokenStrict(buf);
  } catch (error) {
    if (error instanceof DerError) throw new TimeStampError("invalid", `malformed time-stamp token: ${error.message}`);
    throw error;
  }
}

function parseTokenStrict(buf: Buffer): ParsedTimeStampToken {
  const [contentType, wrapper, extra] = childrenOf(buf, readTop(buf, Tag.SEQUENCE));
  if (!contentType || !wrapper || extra || !is(buf, contentType, ENCODED.signedData) || wrapper.tag !== Tag.CONTEXT_0) throw new DerError("not a CMS SignedData");
  const signedData = expectTlv(buf, wrapper.content, Tag.SEQUENCE, wrapper.end);
  if (signedData.end !== wrapper.end) throw new DerError("trailing bytes in the SignedData wrapper");
  const parts = childrenOf(buf, signedData);
  const [version, digestAlgorithms, encapsulated] = parts;
  const signerInfos = parts[parts.length - 1];
  if (!version || !digestAlgorithms || !encapsulated || !signerInfos || parts.length < 4 || parts.length > 6) throw new DerError("incomplete SignedData");
  if (smallIntOf(buf, version) !== 3) throw new DerError("a time-stamp token's SignedData has version 3");
  const [eContentType, eContent, encapExtra] = childrenOf(buf, expectTlv(buf, encapsulated.start, Tag.SEQUENCE));
  if (!eContentType || !eContent || encapExtra || !is(buf, eContentType, ENCODED.tstInfo) || eContent.tag !== Tag.CONTEXT_0) {
    throw new DerError("the token's content is not an embedded id-ct-TSTInfo");
  }
  const tstOctets = expectTlv(buf, eContent.content, Tag.OCTET_STRING, eContent.end);
  const tstInfo = valueOf(buf, tstOctets);
  const certificates: Buffer[] = [];
  for (const optional of parts.slice(3, -1)) {
    if (optional.tag === Tag.CONTEXT_0) {
      for (const certificate of childrenOf(buf, optional)) {
        if (certificate.tag !== Tag.SEQUENCE) throw new DerError("only X.509 certificates may be included");
        certificates.push(rawOf(buf, certificate));
      }
    } else if (optional.tag !== Tag.CONTEXT_1) {
      throw new DerError("unexpected field in SignedData");
    }
  }
  const signers = childrenOf(buf, expectTlv(buf, signerInfos.start, Tag.SET));
  if (signers.length !== 1) throw new DerError(`a time-stamp token has one signer, found ${signers.length}`);
  const signerParts = childrenOf(buf, expectTlv(buf, signers[0]!.start, Tag.SEQUENCE));
  const [signerVersion, sid, digestAlgorithm, attributes, signatureAlgorithm, signature, unsigned, tooMany] = signerParts;
  if (!signerVersion || !sid || !digestAlgorithm || !attributes || !signatureAlgorithm || !signature || tooMany || (unsigned && unsigned.tag !== Tag.CONTEXT_1)) {
    throw new DerError("incomplete SignerInfo");
  }
  if (smallIntOf(buf, signerVersion) !== 1 || sid.tag !== Tag.SEQUENCE) throw new DerError("the token's signer must be named by issuer and serial number");
  const [sidIssuer, sidSerial, sidExtra] = childrenOf(buf, sid);
  if (!sidIssuer || !sidSerial || sidExtra || sidSerial.tag !== Tag.INTEGER) throw new DerError("malformed signer identifier");
  const suite = SUITE_ENCODINGS.find(
    (candidate) => candidate.digest.some((e) => is(buf, digestAlgorithm, e)) && candidate.signature.some((e) => is(buf, signatureAlgorithm, e)),
  )?.suite;
  if (!suite) throw new DerError("the token's digest and signature algorithms are not a supported suite");
  const declared = childrenOf(buf, expectTlv(buf, digestAlgorithms.start, Tag.SET));
  if (declared.length !== 1 || !rawOf(buf, declared[0]!).equals(rawOf(buf, digestAlgorithm))) {
    throw new DerError("SignedData digest algorithms must list exactly the signer's");
  }
  if (attributes.tag !== Tag.CONTEXT_0) throw new DerError("the token has no signed attributes");
  let contentTypeOk = false;
  let messageDigest: Buffer | undefined;
  let signingCertificateSha256: Buffer | undefined;
  const seen = new Set<string>();
  for (const attr of childrenOf(buf, attributes)) {
    const [type, set, more] = childrenOf(buf, attr);
    if (!type || !set || more || set.tag !== Tag.SET) throw new DerError("malformed signed attribute");
    const oid = oidOf(buf, type);
    if (seen.has(oid)) throw new DerError(`signed attribute ${oid} appears twice`);
    seen.add(oid);
    const value = readTlv(buf, set.content, set.end);
    if (value.end !== set.end) throw new DerError(`signed attribute ${oid} must have one value`);
    if (oid === CmsOid.contentType) contentTypeOk = is(buf, value, ENCODED.tstInfo);
    else if (oid === CmsOid.messageDigest) messageDigest = valueOf(buf, expectTlv(buf, value.start, Tag.OCTET_STRING, value.end));
    else if (oid === CmsOid.signingCertificateV2) signingCertificateSha256 = essCertHash(buf, value);
  }
  if (!contentTypeOk) throw new DerError("the content-type attribute must be id-ct-TSTInfo");
  if (!messageDigest) throw new DerError("the token has no message-digest attribute");
  if (!signingCertificateSha256) throw new DerError("the token has no signing-certificate-v2 attribute");
  const signedAttributes = Buffer.from(rawOf(buf, attributes));
  signedAttributes[0] = Tag.SET;
  return {
    suite,
    tstInfo: Buffer.from(tstInfo),
    ...readTstInfo(tstInfo),
    certificates,
    signerIssuerDer: rawOf(buf, sidIssuer),
    signerSerialDer: rawOf(buf, sidSerial),
    signedAttributes,
    signature: valueOf(buf, expectTlv(buf, signature.start, Tag.OCTET_STRING)),
    messageDigest,
    signingCertificateSha256,
  };
}

function readTstInfo(buf: Buffer): Pick<ParsedTimeStampToken, "policy" | "hashAlgorithm" | "hashedMessage" | "serial" | "genTime" | "nonceDer"> {
  const [version, policy, imprint, serial, genTime, ...rest] = childrenOf(buf, readTop(buf, Tag.SEQUENCE));
  if (!version || !policy || !imprint || !serial || !genTime) throw new DerError("TSTInfo is incomplete");
  if (smallIntOf(buf, version) !== 1) throw new DerError("TSTInfo version must be 1");
  const { algorithm, hashedMessage } = readImprint(buf, expectTlv(buf, imprint.start, Tag.SEQUENCE));
  let nonceDer: Buffer | undefined;
  for (const part of rest) if (part.tag === Tag.INTEGER) nonceDer = Buffer.from(rawOf(buf, integerOf(buf, part)));
  return {
    policy: oidOf(buf, policy),
    hashAlgorithm: algorithm,
    hashedMessage: Buffer.from(hashedMessage),
    serial: valueOf(buf, integerOf(buf, serial)).toString("hex").toUpperCase(),
    genTime: decodeGeneralizedTime(buf, genTime),
    nonceDer,
  };
}

/** What a token is checked against. */
export interface TimeStampCheck {
  /** The SHA-256 the token must be over (for a seal: of its signature value). */
  readonly expectedImprint: Buffer;
  /** The nonce INTEGER (encoded) the token must echo, when the caller sent one. */
  readonly nonceDer?: Buffer;
  readonly roots: readonly CertificateInfo[];
  /** Known TSA certificates; a token may also carry its own (certReq). Either way it must chain to a root. */
  readonly timeStampAuthorities?: readonly CertificateInfo[];
  readonly revocations: RevocationRegistry;
  readonly now: Date;
}

/** A token that verified: when, and by whom. */
export interface VerifiedTimeStamp {
  readonly genTime: Date;
  readonly authority: CertificateInfo;
  readonly serial: string;
}

/**
 * Verifies a TimeStampToken: structure, message imprint (SHA-256, equal to `expectedImprint`),
 * nonce, the TSA's signature and signing-certificate-v2, and its certificate: critical
 * id-kp-timeStamping only, issued by a trusted root, valid at genTime and not revoked (a revoked
 * TSA certificate voids all its tokens: CRLs here carry no reason, so key compromise cannot be ruled out).
 * Returns genTime; throws TimeStampError saying what is wrong.
 */
export function verifyTimeStampToken(token: Uint8Array, check: TimeStampCheck): VerifiedTimeStamp {
  const parsed = parseTimeStampToken(token);
  if (parsed.policy !== TimeStampOid.policy) throw new TimeStampError("invalid", `the token's policy ${parsed.policy} is not the platform's`);
  if (parsed.hashAlgorithm !== AlgorithmOid.sha256 || parsed.hashedMessage.length !== check.expectedImprint.length || !timingSafeEqual(parsed.hashedMessage, check.expectedImprint)) {
    throw new TimeStampError("invalid", "the time-stamp is for another message imprint");
  }
  if (check.nonceDer && !parsed.nonceDer?.equals(check.nonceDer)) throw new TimeStampError("invalid", "the time-stamp does not echo the nonce");
  const digest = hash(parsed.suite.digest, parsed.tstInfo, "buffer");
  if (!digest.equals(parsed.messageDigest)) throw new TimeStampError("invalid", "the time-stamp's message digest does not match its TSTInfo");
  const candidates = [...(check.timeStampAuthorities ?? [])];
  for (const der of parsed.certificates) {
    try {
      candidates.push(cachedCertificate(der));
    } catch (error) {
      throw new TimeStampError("invalid", `malformed certificate in the time-stamp: ${(error as Error).message}`);
    }
  }
  const authority = candidates.find((c) => c.issuerDer.equals(parsed.signerIssuerDer) && c.serialDer.equals(parsed.signerSerialDer));
  if (!authority) throw new TimeStampError("untrusted", "the time-stamp's signer is not a known time-stamp authority");
  if (!authority.sha256.equals(parsed.signingCertificateSha256)) throw new TimeStampError("invalid", "the time-stamp's signing-certificate-v2 names another certificate");
  let signatureOk = false;
  try {
    signatureOk = authority.keyAlgorithm === parsed.suite.name && verifySignature(parsed.suite.digest, parsed.signedAttributes, authority.publicKey, parsed.signature);
  } catch {
    signatureOk = false;
  }
  if (!signatureOk) throw new TimeStampError("invalid", "the time-stamp's signature does not verify");
  if (!isTimeStampingCertificate(authority)) throw new TimeStampError("untrusted", `${authority.subject} is not a time-stamping certificate`);
  const root = check.roots.find((candidate) => cachedIssuedBy(authority, candidate));
  if (!root) throw new TimeStampError("untrusted", `${authority.subject} is not issued by a trusted root`);
  const genTime = parsed.genTime;
  for (const certificate of [authority, root]) {
    if (genTime < certificate.notBefore || genTime > certificate.notAfter) {
      throw new TimeStampError("untrusted", `${certificate.subject} was not valid at the time-stamp's time ${genTime.toISOString()}`);
    }
  }
  const status = check.revocations.statusOf(authority, root, check.now);
  if (status.state === "revoked") throw new TimeStampError("untrusted", `the time-stamp authority ${authority.subject} was revoked at ${status.revokedAt.toISOString()}`);
  if (status.state === "unknown") throw new TimeStampError("revocation-unknown", status.why);
  return { genTime, authority, serial: parsed.serial };
}

// Tokens of one TSA carry the same certificate: parse it and check its issuer's signature once.
const CACHE_LIMIT = 64;
const certificates = new Map<string, CertificateInfo>();
const issuedPairs = new Map<string, boolean>();

function cachedCertificate(der: Buffer): CertificateInfo {
  const key = der.toString("base64");
  let certificate = certificates.get(key);
  if (!certificate) {
    certificate = parseCertificate(Buffer.from(der));
    if (certificates.size >= CACHE_LIMIT) certificates.clear();
    certificates.set(key, certificate);
  }
  return certificate;
}

function cachedIssuedBy(child: CertificateInfo, parent: CertificateInfo): boolean {
  const key = `${child.id}:${parent.id}`;
  let issued = issuedPairs.get(key);
  if (issued === undefined) {
    issued = isIssuedBy(child, parent);
    if (issuedPairs.size >= CACHE_LIMIT) issuedPairs.clear();
    issuedPairs.set(key, issued);
  }
  return issued;
}

/** Encodes a GeneralizedTime in DER: UTC, milliseconds as a fraction without trailing zeros (none when whole). */
export function encodeGeneralizedTime(date: Date): Buffer {
  const iso = date.toISOString(); // 2026-11-23T20:37:33.604Z
  const whole = iso.slice(0, 19).replace(/[-:T]/g, "");
  const fraction = iso.slice(20, 23).replace(/0+$/, "");
  return tlv(Tag.GENERALIZED_TIME, Buffer.from(`${whole}${fraction ? `.${fraction}` : ""}Z`, "latin1"));
}

/** Decodes a DER GeneralizedTime with an optional fraction of a second (kept to the millisecond). */
export function decodeGeneralizedTime(buf: Buffer, at: Tlv): Date {
  if (at.tag !== Tag.GENERALIZED_TIME) throw new DerError(`not a GeneralizedTime at ${at.start}`);
  const text = valueOf(buf, at).toString("latin1");
  const match = /^(\d{4})(\d\d)(\d\d)(\d\d)(\d\d)(\d\d)(?:\.(\d*[1-9]))?Z$/.exec(text);
  if (!match) throw new DerError(`not a DER GeneralizedTime: ${text}`);
  const [, y, mo, d, h, mi, s, f] = match;
  const date = new Date(Date.UTC(Number(y), Number(mo) - 1, Number(d), Number(h), Number(mi), Number(s), Number((f ?? "").padEnd(3, "0").slice(0, 3))));
  if (date.getUTCMonth() !== Number(mo) - 1 || date.getUTCDate() !== Number(d) || Number(h) > 23 || Number(mi) > 59 || Number(s) > 59) {
    throw new DerError(`impossible date ${text}`);
  }
  return date;
}

function readImprint(buf: Buffer, imprint: Tlv): { algorithm: string; hashedMessage: Buffer } {
  const [algorithm, hashed, extra] = childrenOf(buf, imprint);
  if (!algorithm || !hashed || extra || algorithm.tag !== Tag.SEQUENCE || hashed.tag !== Tag.OCTET_STRING) throw new DerError("malformed MessageImprint");
  const [oid, parameter, more] = childrenOf(buf, algorithm);
  if (!oid || more || (parameter && (parameter.tag !== Tag.NULL || parameter.end !== parameter.content))) throw new DerError("malformed hash AlgorithmIdentifier");
  return { algorithm: oidOf(buf, oid), hashedMessage: valueOf(buf, hashed) };
}

/** Checks that a TLV is a minimally encoded INTEGER and returns it. */
function integerOf(buf: Buffer, at: Tlv): Tlv {
  const length = at.end - at.content;
  if (at.tag !== Tag.INTEGER || length === 0) throw new DerError(`not an INTEGER at ${at.start}`);
  if (length > 1 && ((buf[at.content] === 0 && !(buf[at.content + 1]! & 0x80)) || (buf[at.content] === 0xff && buf[at.content + 1]! & 0x80))) {
    throw new DerError(`non-minimal INTEGER at ${at.start}`);
  }
  return at;
}

/** The first certHash of SigningCertificateV2 (SHA-256 only). */
function essCertHash(buf: Buffer, value: Tlv): Buffer {
  const certs = expectTlv(buf, expectTlv(buf, value.start, Tag.SEQUENCE, value.end).content, Tag.SEQUENCE, value.end);
  const first = childrenOf(buf, certs)[0];
  if (!first || first.tag !== Tag.SEQUENCE) throw new DerError("signing-certificate-v2 lists no certificate");
  let [id] = childrenOf(buf, first);
  if (id?.tag === Tag.SEQUENCE) {
    if (!is(buf, id, ENCODED.sha256)) throw new DerError("signing-certificate-v2 must hash with SHA-256");
    id = childrenOf(buf, first)[1];
  }
  if (!id || id.tag !== Tag.OCTET_STRING) throw new DerError("malformed ESSCertIDv2");
  return valueOf(buf, id);
}

/** 128 random bits as a positive INTEGER value. */
function randomSerial(): Buffer {
  const serial = randomBytes(16);
  serial[0] = (serial[0]! & 0x7f) | 0x40;
  return serial;
}

function positiveIntegerBytes(value: Buffer): Buffer {
  let start = 0;
  while (start < value.length - 1 && value[start] === 0 && !(value[start + 1]! & 0x80)) start++;
  const trimmed = value.subarray(start);
  return trimmed[0]! & 0x80 ? Buffer.concat([Buffer.of(0), trimmed]) : Buffer.from(trimmed);
}

