import { createHash, randomBytes, X509Certificate, type KeyObject } from "node:crypto";
import { isIPv4, isIPv6 } from "node:net";
import forge from "node-forge";
import { AlgorithmOid, suiteOf, type SealAlgorithm } from "./algorithms";
import {
  childrenOf,
  DerError,
  encodeTime,
  expectTlv,
  oidOf,
  rawOf,
  readTop,
  smallIntOf,
  Tag,
  timeOf,
  valueOf,
  type Tlv,
} from "./der";
import { algorithmIdentifier, binary, bitString, bool, fromDer, integer, octets, seq, toDer } from "./forge-asn1";

const asn1 = forge.asn1;

/** A private key that signs, wherever it lives (a file, an HSM, a KMS). */
export interface SigningKey {
  readonly algorithm: SealAlgorithm;
  /** Signs `data` (hashing it with the algorithm's digest). */
  sign(data: Buffer): Buffer | Promise<Buffer>;
}

/** The subject of a CaseBridge certificate: C=CN, O=CaseBridge, OU=<agency or "platform">, CN=<name>. */
export interface DistinguishedName {
  readonly organizationalUnit: string;
  readonly commonName: string;
}

/** The X.509 fields the verifier needs, read once per certificate. */
export interface CertificateInfo {
  readonly der: Buffer;
  readonly sha256: Buffer;
  readonly x509: X509Certificate;
  readonly publicKey: KeyObject;
  /** The seal algorithm the subject key belongs to, undefined for any other key. */
  readonly keyAlgorithm: SealAlgorithm | undefined;
  /** Lowercase hex of `sha256`, for map keys. */
  readonly id: string;
  /** Serial number, uppercase hex without leading zero bytes. */
  readonly serial: string;
  /** The serialNumber INTEGER, encoded. */
  readonly serialDer: Buffer;
  /** The issuer and subject Names, encoded. */
  readonly issuerDer: Buffer;
  readonly subjectDer: Buffer;
  /** RFC 4514 string, most specific first. */
  readonly subject: string;
  readonly organizationalUnit: string | undefined;
  readonly commonName: string | undefined;
  readonly notBefore: Date;
  readonly notAfter: Date;
  readonly isCa: boolean;
  readonly pathLength: number | undefined;
  readonly keyUsage: ReadonlySet<KeyUsage>;
  readonly subjectKeyId: Buffer | undefined;
  readonly authorityKeyId: Buffer | undefined;
  /** extendedKeyUsage purposes (dotted OIDs); empty when the extension is absent. */
  readonly extendedKeyUsage: ReadonlySet<string>;
  /** True when the extendedKeyUsage extension is marked critical. */
  readonly extendedKeyUsageCritical: boolean;
}

/** RFC 5280 / RFC 3161 extended key usage purposes the platform issues. */
export const ExtendedKeyUsageOid = {
  /** id-kp-timeStamping: the only purpose of a time-stamp authority's certificate (RFC 3161 §2.3). */
  timeStamping: "1.3.6.1.5.5.7.3.8",
  /** id-kp-serverAuth: a TLS server (gRPC services, NATS, MongoDB). */
  serverAuth: "1.3.6.1.5.5.7.3.1",
  /** id-kp-clientAuth: a TLS client presenting its certificate (the gateway to the services). */
  clientAuth: "1.3.6.1.5.5.7.3.2",
} as const;

/** RFC 5280 key usage bits. */
export type KeyUsage = "digitalSignature" | "nonRepudiation" | "keyEncipherment" | "keyCertSign" | "cRLSign";

const KEY_USAGE_BITS: Readonly<Record<KeyUsage, number>> = {
  digitalSignature: 0,
  nonRepudiation: 1,
  keyEncipherment: 2,
  keyCertSign: 5,
  cRLSign: 6,
};

const Oid = {
  country: "2.5.4.6",
  organization: "2.5.4.10",
  organizationalUnit: "2.5.4.11",
  commonName: "2.5.4.3",
  basicConstraints: "2.5.29.19",
  keyUsage: "2.5.29.15",
  subjectKeyId: "2.5.29.14",
  authorityKeyId: "2.5.29.35",
  extKeyUsage: "2.5.29.37",
  subjectAltName: "2.5.29.17",
} as const;

const KEY_TYPES = {
  ecPublicKey: "1.2.840.10045.2.1",
  prime256v1: "1.2.840.10045.3.1.7",
  sm2Curve: "1.2.156.10197.1.301",
} as const;

const NAME_LABELS: Readonly<Record<string, string>> = {
  [Oid.country]: "C",
  [Oid.organization]: "O",
  [Oid.organizationalUnit]: "OU",
  [Oid.commonName]: "CN",
};

/** Reads a DER certificate; throws DerError on anything RFC 5280 does not allow or we do not understand. */
export function parseCertificate(der: Uint8Array): CertificateInfo {
  const bytes = Buffer.from(der);
  const cert = readTop(bytes, Tag.SEQUENCE);
  const [tbs, outerAlgorithm, signature, extra] = childrenOf(bytes, cert);
  if (!tbs || !outerAlgorithm || !signature || extra) throw new DerError("certificate must have 3 parts");
  expectTlv(bytes, signature.start, Tag.BIT_STRING);
  const fields = childrenOf(bytes, tbs);
  let index = 0;
  if (fields[0]?.tag === Tag.CONTEXT_0) index++;
  const [serial, innerAlgorithm, issuer, validity, subject, spki] = fields.slice(index, index + 6);
  if (!serial || !innerAlgorithm || !issuer || !validity || !subject || !spki) {
    throw new DerError("certificate TBS is incomplete");
  }
  expectTlv(bytes, serial.start, Tag.INTEGER);
  if (!rawOf(bytes, innerAlgorithm).equals(rawOf(bytes, outerAlgorithm))) {
    throw new DerError("certificate signature algorithm differs inside and outside TBS");
  }
  const [notBefore, notAfter] = childrenOf(bytes, validity);
  if (!notBefore || !notAfter) throw new DerError("certificate validity is incomplete");
  const critical = new Set<string>();
  const extensions = readExtensions(bytes, fields.slice(index + 6), critical);
  const names = readName(bytes, subject);
  const x509 = new X509Certificate(bytes);
  const serialValue = valueOf(bytes, serial);
  const sha256 = createHash("sha256").update(bytes).digest();
  const basic = extensions.get(Oid.basicConstraints);
  const constraints = basic ? readBasicConstraints(bytes, basic) : { isCa: false, pathLength: undefined };
  const keyUsageTlv = extensions.get(Oid.keyUsage);
  const akid = extensions.get(Oid.authorityKeyId);
  const skid = extensions.get(Oid.subjectKeyId);
  const eku = extensions.get(Oid.extKeyUsage);
  return {
    der: bytes,
    sha256,
    id: sha256.toString("hex"),
    x509,
    publicKey: x509.publicKey,
    keyAlgorithm: keyAlgorithmOf(bytes, spki, x509.publicKey),
    serial: serialHex(serialValue),
    serialDer: rawOf(bytes, serial),
    issuerDer: rawOf(bytes, issuer),
    subjectDer: rawOf(bytes, subject),
    subject: names.map(([oid, value]) => `${NAME_LABELS[oid] ?? oid}=${value}`).reverse().join(","),
    organizationalUnit: names.find(([oid]) => oid === Oid.organizationalUnit)?.[1],
    commonName: names.find(([oid]) => oid === Oid.commonName)?.[1],
    notBefore: timeOf(bytes, notBefore),
    notAfter: timeOf(bytes, notAfter),
    isCa: constraints.isCa,
    pathLength: constraints.pathLength,
    keyUsage: keyUsageTlv ? readKeyUsage(bytes, keyUsageTlv) : new Set(),
    subjectKeyId: skid ? valueOf(bytes, expectTlv(bytes, skid.content, Tag.OCTET_STRING, skid.end)) : undefined,
    authorityKeyId: akid ? readAuthorityKeyId(bytes, akid) : undefined,
    extendedKeyUsage: eku ? readExtendedKeyUsage(bytes, eku) : new Set(),
    extendedKeyUsageCritical: critical.has(Oid.extKeyUsage),
  };
}

/** Which seal algorithm a SubjectPublicKeyInfo is for: RSA of at least 2048 bits, P-256 or SM2. */
function keyAlgorithmOf(bytes: Buffer, spki: Tlv, publicKey: KeyObject): SealAlgorithm | undefined {
  const algorithm = childrenOf(bytes, expectTlv(bytes, spki.content, Tag.SEQUENCE, spki.end));
  const oid = algorithm[0] ? oidOf(bytes, algorithm[0]) : "";
  const curve = algorithm[1]?.tag === Tag.OID ? oidOf(bytes, algorithm[1]) : "";
  if (oid === AlgorithmOid.rsaEncryption) {
    return (publicKey.asymmetricKeyDetails?.modulusLength ?? 0) >= 2048 ? "rsa-2048" : undefined;
  }
  if (oid === KEY_TYPES.ecPublicKey && curve === KEY_TYPES.prime256v1) return "p-256";
  if (oid === KEY_TYPES.ecPublicKey && curve === KEY_TYPES.sm2Curve) return "sm2";
  return undefined;
}

/** Uppercase hex of an INTEGER's value bytes, leading zero bytes removed. */
export function serialHex(value: Uint8Array): string {
  let start = 0;
  while (start < value.length - 1 && value[start] === 0) start++;
  return Buffer.from(value.subarray(start)).toString("hex").toUpperCase();
}

/** Reads a Name into [oid, text] pairs, outermost RDN first. */
function readName(bytes: Buffer, name: Tlv): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  for (const rdn of childrenOf(bytes, name)) {
    for (const attribute of childrenOf(bytes, rdn)) {
      const [type, value] = childrenOf(bytes, attribute);
      if (!type || !value) throw new DerError("malformed name attribute");
      out.push([oidOf(bytes, type), valueOf(bytes, value).toString("utf8")]);
    }
  }
  return out;
}

/** Maps extension OID to its extnValue content (and adds critical ones to `critical`); rejects unknown critical extensions and duplicates. */
function readExtensions(bytes: Buffer, rest: Tlv[], critical: Set<string>): Map<string, Tlv> {
  const out = new Map<string, Tlv>();
  const wrapper = rest.find((field) => field.tag === Tag.CONTEXT_3);
  if (!wrapper) return out;
  const list = expectTlv(bytes, wrapper.content, Tag.SEQUENCE, wrapper.end);
  for (const extension of childrenOf(bytes, list)) {
    const parts = childrenOf(bytes, extension);
    const oid = oidOf(bytes, parts[0]!);
    const isCritical = parts.length === 3 && parts[1]!.tag === Tag.BOOLEAN && bytes[parts[1]!.content] === 0xff;
    const value = expectTlv(bytes, parts[parts.length - 1]!.start, Tag.OCTET_STRING, extension.end);
    if (out.has(oid)) throw new DerError(`duplicate extension ${oid}`);
    const known = Object.values(Oid).includes(oid as (typeof Oid)[keyof typeof Oid]);
    if (isCritical && !known) throw new DerError(`unknown critical extension ${oid}`);
    if (isCritical) critical.add(oid);
    out.set(oid, value);
  }
  return out;
}

function readBasicConstraints(bytes: Buffer, value: Tlv): { isCa: boolean; pathLength: number | undefined } {
  const sequence = expectTlv(bytes, value.content, Tag.SEQUENCE, value.end);
  const parts = childrenOf(bytes, sequence);
  let next = 0;
  let isCa = false;
  if (parts[0]?.tag === Tag.BOOLEAN) {
    isCa = bytes[parts[0].content] === 0xff;
    next = 1;
  }
  const length = parts[next];
  return { isCa, pathLength: length ? smallIntOf(bytes, length) : undefined };
}

function readKeyUsage(bytes: Buffer, value: Tlv): Set<KeyUsage> {
  const bits = valueOf(bytes, expectTlv(bytes, value.content, Tag.BIT_STRING, value.end)).subarray(1);
  const out = new Set<KeyUsage>();
  for (const [usage, bit] of Object.entries(KEY_USAGE_BITS) as Array<[KeyUsage, number]>) {
    if ((bits[bit >> 3] ?? 0) & (0x80 >> (bit & 7))) out.add(usage);
  }
  return out;
}

function readExtendedKeyUsage(bytes: Buffer, value: Tlv): Set<string> {
  const sequence = expectTlv(bytes, value.content, Tag.SEQUENCE, value.end);
  return new Set(childrenOf(bytes, sequence).map((purpose) => oidOf(bytes, purpose)));
}

function readAuthorityKeyId(bytes: Buffer, value: Tlv): Buffer | undefined {
  const sequence = expectTlv(bytes, value.content, Tag.SEQUENCE, value.end);
  const keyId = childrenOf(bytes, sequence).find((part) => part.tag === 0x80);
  return keyId ? valueOf(bytes, keyId) : undefined;
}

/** What a new certificate says about its subject. */
export interface CertificateTemplate {
  readonly subject: DistinguishedName;
  readonly publicKey: KeyObject;
  readonly validFrom: Date;
  readonly validTo: Date;
  /** Set for a CA certificate; absent for a seal (end-entity) certificate. */
  readonly ca?: { readonly pathLength: number };
  /** extendedKeyUsage of an end-entity certificate (e.g. time-stamping, which RFC 3161 wants critical). */
  readonly extendedKeyUsage?: { readonly purposes: readonly string[]; readonly critical: boolean };
  /** keyUsage of an end-entity certificate (default digitalSignature + nonRepudiation, a seal's). */
  readonly keyUsage?: readonly KeyUsage[];
  /** subjectAltName of a TLS certificate: DNS names (wildcards allowed) and IP addresses (v4 or v6). */
  readonly subjectAltNames?: { readonly dns?: readonly string[]; readonly ip?: readonly string[] };
}

/** Issues a certificate signed by `issuer`, or self-signed when `issuer` is absent. */
export async function issueCertificate(
  template: CertificateTemplate,
  signingKey: SigningKey,
  issuer?: CertificateInfo,
): Promise<CertificateInfo> {
  const suite = suiteOf(signingKey.algorithm);
  const spki = template.publicKey.export({ type: "spki", format: "der" });
  const subjectKeyId = keyIdentifier(spki);
  const subjectName = encodeName(template.subject);
  const algorithm = algorithmIdentifier(suite.signatureOid, suite.signatureHasNullParameter);
  const ca = template.ca;
  const extensions = [
    extension(Oid.basicConstraints, true, seq(ca ? [bool(true), integer(ca.pathLength)] : [])),
    extension(Oid.keyUsage, true, keyUsageBits(ca ? ["keyCertSign", "cRLSign"] : [...(template.keyUsage ?? ["digitalSignature", "nonRepudiation"])])),
    ...(template.extendedKeyUsage
      ? [
          extension(
            Oid.extKeyUsage,
            template.extendedKeyUsage.critical,
            seq(template.extendedKeyUsage.purposes.map((oid) => asn1.create(asn1.Class.UNIVERSAL, asn1.Type.OID, false, asn1.oidToDer(oid).getBytes()))),
          ),
        ]
      : []),
    ...(template.subjectAltNames ? [extension(Oid.subjectAltName, false, subjectAltNames(template.subjectAltNames))] : []),
    extension(Oid.subjectKeyId, false, octets(subjectKeyId)),
    extension(
      Oid.authorityKeyId,
      false,
      seq([asn1.create(asn1.Class.CONTEXT_SPECIFIC, 0, false, binary(issuer?.subjectKeyId ?? subjectKeyId))]),
    ),
  ];
  const tbs = seq([
    asn1.create(asn1.Class.CONTEXT_SPECIFIC, 0, true, [integer(2)]),
    asn1.create(asn1.Class.UNIVERSAL, asn1.Type.INTEGER, false, binary(newSerial())),
    algorithm,
    issuer ? fromDer(issuer.subjectDer) : subjectName,
    seq([fromDer(encodeTime(template.validFrom)), fromDer(encodeTime(template.validTo))]),
    subjectName,
    fromDer(spki),
    asn1.create(asn1.Class.CONTEXT_SPECIFIC, 3, true, [seq(extensions)]),
  ]);
  const tbsDer = toDer(tbs);
  const signature = await signingKey.sign(tbsDer);
  return parseCertificate(toDer(seq([tbs, algorithm, bitString(signature)])));
}

/** True when `parent` is a CA (keyCertSign) whose name and key identifier match `child`'s issuer and whose key verifies `child`'s signature. */
export function isIssuedBy(child: CertificateInfo, parent: CertificateInfo): boolean {
  if (!parent.isCa || !parent.keyUsage.has("keyCertSign") || !child.issuerDer.equals(parent.subjectDer)) return false;
  if (child.authorityKeyId && parent.subjectKeyId && !child.authorityKeyId.equals(parent.subjectKeyId)) return false;
  try {
    return child.x509.verify(parent.publicKey);
  } catch {
    return false;
  }
}

/** RFC 5280 method 1 key identifier: SHA-1 of the subjectPublicKey bits. */
export function keyIdentifier(spki: Buffer): Buffer {
  const outer = readTop(spki, Tag.SEQUENCE);
  const bits = childrenOf(spki, outer)[1];
  if (!bits) throw new DerError("SubjectPublicKeyInfo without key");
  return createHash("sha1").update(valueOf(spki, bits).subarray(1)).digest();
}

function encodeName(name: DistinguishedName): forge.asn1.Asn1 {
  const rdn = (oid: string, type: number, value: string): forge.asn1.Asn1 =>
    asn1.create(asn1.Class.UNIVERSAL, asn1.Type.SET, true, [
      seq([
        asn1.create(asn1.Class.UNIVERSAL, asn1.Type.OID, false, asn1.oidToDer(oid).getBytes()),
        asn1.create(asn1.Class.UNIVERSAL, type, false, forge.util.encodeUtf8(value)),
      ]),
    ]);
  return seq([
    rdn(Oid.country, asn1.Type.PRINTABLESTRING, "CN"),
    rdn(Oid.organization, asn1.Type.UTF8, "CaseBridge"),
    rdn(Oid.organizationalUnit, asn1.Type.UTF8, name.organizationalUnit),
    rdn(Oid.commonName, asn1.Type.UTF8, name.commonName),
  ]);
}

function extension(oid: string, critical: boolean, value: forge.asn1.Asn1): forge.asn1.Asn1 {
  const parts = [asn1.create(asn1.Class.UNIVERSAL, asn1.Type.OID, false, asn1.oidToDer(oid).getBytes())];
  if (critical) parts.push(bool(true));
  parts.push(asn1.create(asn1.Class.UNIVERSAL, asn1.Type.OCTETSTRING, false, binary(toDer(value))));
  return seq(parts);
}

/** GeneralNames: dNSName [2] IA5String and iPAddress [7] OCTET STRING (4 or 16 bytes). */
function subjectAltNames(names: { readonly dns?: readonly string[]; readonly ip?: readonly string[] }): forge.asn1.Asn1 {
  return seq([
    ...(names.dns ?? []).map((dns) => asn1.create(asn1.Class.CONTEXT_SPECIFIC, 2, false, dns)),
    ...(names.ip ?? []).map((ip) => asn1.create(asn1.Class.CONTEXT_SPECIFIC, 7, false, binary(ipBytes(ip)))),
  ]);
}

function ipBytes(ip: string): Buffer {
  if (isIPv4(ip)) return Buffer.from(ip.split(".").map(Number));
  if (!isIPv6(ip)) throw new Error(`not an IP address: ${ip}`);
  const [head = "", tail = ""] = ip.split("::");
  const groups = (part: string) => (part ? part.split(":") : []);
  const missing = 8 - groups(head).length - groups(tail).length;
  const all = ip.includes("::") ? [...groups(head), ...Array<string>(missing).fill("0"), ...groups(tail)] : groups(ip);
  return Buffer.concat(all.map((group) => Buffer.from(group.padStart(4, "0"), "hex")));
}

function keyUsageBits(usages: KeyUsage[]): forge.asn1.Asn1 {
  let bits = 0;
  for (const usage of usages) bits |= 0x80 >> KEY_USAGE_BITS[usage];
  let unused = 0;
  while (unused < 7 && (bits & (1 << unused)) === 0) unused++;
  return asn1.create(asn1.Class.UNIVERSAL, asn1.Type.BITSTRING, false, String.fromCharCode(unused, bits));
}

function newSerial(): Buffer {
  const serial = randomBytes(16);
  serial[0] = (serial[0]! & 0x7f) | 0x40;
  return serial;
}
