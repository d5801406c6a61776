import { verify as verifySignature } from "node:crypto";
import forge from "node-forge";
import { suiteBySignatureOid, suiteOf } from "./algorithms";
import { serialHex, type CertificateInfo, type SigningKey } from "./certificate";
import { algorithmIdentifier, bitString, fromDer, integer, octets, seq, toDer } from "./forge-asn1";
import { childrenOf, DerError, encodeTime, expectTlv, oidOf, rawOf, readTop, Tag, timeOf, valueOf } from "./der";

const asn1 = forge.asn1;

const CRL_NUMBER = "2.5.29.20";
const AUTHORITY_KEY_ID = "2.5.29.35";

/** One revoked certificate. */
export interface RevokedCertificate {
  /** Serial number, uppercase hex. */
  readonly serial: string;
  readonly revokedAt: Date;
}

/** A parsed X.509 v2 CRL (RFC 5280 §5) whose issuer signature has not been checked yet. */
export interface RevocationList {
  readonly der: Buffer;
  readonly issuerDer: Buffer;
  readonly authorityKeyId: Buffer | undefined;
  /** cRLNumber: a newer list has a larger number. */
  readonly number: bigint;
  readonly thisUpdate: Date;
  readonly nextUpdate: Date;
  readonly revoked: ReadonlyMap<string, Date>;
  readonly tbsDer: Buffer;
  readonly digest: "sha256" | "sm3";
  readonly signature: Buffer;
}

/** What a new CRL contains. */
export interface CrlContents {
  readonly number: bigint;
  readonly thisUpdate: Date;
  readonly nextUpdate: Date;
  readonly revoked: readonly RevokedCertificate[];
}

/** Issues a CRL signed by the CA `issuer` with its key. */
export async function issueCrl(contents: CrlContents, issuer: CertificateInfo, key: SigningKey): Promise<Buffer> {
  if (contents.number < 0n) throw new RangeError("cRLNumber must not be negative");
  const suite = suiteOf(key.algorithm);
  const algorithm = algorithmIdentifier(suite.signatureOid, suite.signatureHasNullParameter);
  const entries = contents.revoked.map((entry) =>
    seq([
      asn1.create(asn1.Class.UNIVERSAL, asn1.Type.INTEGER, false, positiveInteger(entry.serial)),
      fromDer(encodeTime(entry.revokedAt)),
    ]),
  );
  const extensions = [
    extension(AUTHORITY_KEY_ID, seq([asn1.create(asn1.Class.CONTEXT_SPECIFIC, 0, false, (issuer.subjectKeyId ?? Buffer.alloc(0)).toString("binary"))])),
    extension(CRL_NUMBER, asn1.create(asn1.Class.UNIVERSAL, asn1.Type.INTEGER, false, positiveInteger(contents.number.toString(16)))),
  ];
  const tbs = seq([
    integer(1),
    algorithm,
    fromDer(issuer.subjectDer),
    fromDer(encodeTime(contents.thisUpdate)),
    fromDer(encodeTime(contents.nextUpdate)),
    ...(entries.length > 0 ? [seq(entries)] : []),
    asn1.create(asn1.Class.CONTEXT_SPECIFIC, 0, true, [seq(extensions)]),
  ]);
  const tbsDer = toDer(tbs);
  const signature = await key.sign(tbsDer);
  return toDer(seq([tbs, algorithm, bitString(signature)]));
}

/** Reads a DER CRL; throws DerError when it is not a v2 CRL with a cRLNumber. */
export function parseCrl(der: Uint8Array): RevocationList {
  const bytes = Buffer.from(der);
  const top = readTop(bytes, Tag.SEQUENCE);
  const [tbs, algorithm, signature, extra] = childrenOf(bytes, top);
  if (!tbs || !algorithm || !signature || extra) throw new DerError("CRL must have 3 parts");
  const fields = childrenOf(bytes, tbs);
  const [version, innerAlgorithm, issuer, thisUpdate, nextUpdate] = fields;
  if (!version || version.tag !== Tag.INTEGER || !innerAlgorithm || !issuer || !thisUpdate || !nextUpdate) {
    throw new DerError("CRL is not version 2 with a nextUpdate");
  }
  if (!rawOf(bytes, innerAlgorithm).equals(rawOf(bytes, algorithm))) throw new DerError("CRL algorithm mismatch");
  const revoked = new Map<string, Date>();
  let number: bigint | undefined;
  let authorityKeyId: Buffer | undefined;
  for (const field of fields.slice(5)) {
    if (field.tag === Tag.SEQUENCE) {
      for (const entry of childrenOf(bytes, field)) {
        const [serial, date] = childrenOf(bytes, entry);
        if (!serial || !date) throw new DerError("malformed CRL entry");
        revoked.set(serialHex(valueOf(bytes, expectTlv(bytes, serial.start, Tag.INTEGER))), timeOf(bytes, date));
      }
    } else if (field.tag === Tag.CONTEXT_0) {
      const list = expectTlv(bytes, field.content, Tag.SEQUENCE, field.end);
      for (const ext of childrenOf(bytes, list)) {
        const parts = childrenOf(bytes, ext);
        const oid = oidOf(bytes, parts[0]!);
        const value = parts[parts.length - 1]!;
        if (oid === CRL_NUMBER) {
          number = BigInt(`0x${valueOf(bytes, expectTlv(bytes, value.content, Tag.INTEGER, value.end)).toString("hex")}`);
        } else if (oid === AUTHORITY_KEY_ID) {
          const seqTlv = expectTlv(bytes, value.content, Tag.SEQUENCE, value.end);
          const keyId = childrenOf(bytes, seqTlv).find((part) => part.tag === 0x80);
          authorityKeyId = keyId ? valueOf(bytes, keyId) : undefined;
        }
      }
    }
  }
  if (number === undefined) throw new DerError("CRL has no cRLNumber");
  const algorithmParts = childrenOf(bytes, algorithm);
  const signatureOid = oidOf(bytes, algorithmParts[0]!);
  const suite = suiteBySignatureOid(signatureOid);
  if (!suite) throw new DerError(`unsupported CRL signature algorithm ${signatureOid}`);
  return {
    der: bytes,
    issuerDer: rawOf(bytes, issuer),
    authorityKeyId,
    number,
    thisUpdate: timeOf(bytes, thisUpdate),
    nextUpdate: timeOf(bytes, nextUpdate),
    revoked,
    tbsDer: rawOf(bytes, tbs),
    digest: suite.digest,
    signature: valueOf(bytes, expectTlv(bytes, signature.start, Tag.BIT_STRING)).subarray(1),
  };
}

/** True when `issuer` is the CA that signed `crl`. */
export function isCrlSignedBy(crl: RevocationList, issuer: CertificateInfo): boolean {
  if (!crl.issuerDer.equals(issuer.subjectDer)) return false;
  try {
    return verifySignature(crl.digest, crl.tbsDer, issuer.publicKey, crl.signature);
  } catch {
    return false;
  }
}

function extension(oid: string, value: forge.asn1.Asn1): forge.asn1.Asn1 {
  return seq([
    asn1.create(asn1.Class.UNIVERSAL, asn1.Type.OID, false, asn1.oidToDer(oid).getBytes()),
    octets(toDer(value)),
  ]);
}

/** The content bytes (binary string) of a non-negative INTEGER given in hex. */
function positiveInteger(hex: string): string {
  const even = hex.length % 2 === 0 ? hex : `0${hex}`;
  const bytes = Buffer.from(even, "hex");
  return (bytes[0]! & 0x80 ? Buffer.concat([Buffer.of(0), bytes]) : bytes).toString("binary");
}
