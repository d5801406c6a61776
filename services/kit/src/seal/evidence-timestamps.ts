import { CmsOid, parseSeal } from "./cms";
import { encodeOid, Tag, tlv } from "./der";

/**
 * Where a seal's time-stamp token (unsigned attribute id-aa-signatureTimeStampToken, CAdES-B-T) and
 * the signature value it covers lie inside the `.p7s`, so that an evidence package's README can cut
 * them out with `openssl asn1parse -offset -length`. Reading the seal is parseSeal's (cms.ts) and
 * checking the token is verifyTimeStampToken's (timestamp.ts); this only adds the byte ranges.
 */

/** Where a part lies inside the `.p7s`. */
export interface ByteRange {
  readonly offset: number;
  readonly length: number;
}

/** The signature value of a seal's signer and, when the seal is time-stamped, the token over it. */
export interface SealTimeStamp {
  /** The content of SignerInfo.signature: what a signature time-stamp's message imprint covers (its SHA-256). */
  readonly signatureValue: Buffer;
  readonly signatureRange: ByteRange;
  /** The DER TimeStampToken (ContentInfo), or undefined when the seal carries none. */
  readonly token: { readonly der: Buffer; readonly range: ByteRange } | undefined;
}

/** TimeStampFormatError says the parts parseSeal returned are not where the seal's DER puts them. */
export class TimeStampFormatError extends Error {
  override name = "TimeStampFormatError";
}

const ENCODED_ATTRIBUTE_TYPE = encodeOid(CmsOid.signatureTimeStampToken);

/**
 * Reads a DER `.p7s` with parseSeal (throws SealFormatError or SealAlgorithmError when it is not a
 * seal) and locates its signature value and time-stamp token. A seal is strict DER whose SignerInfo
 * is its last element, and the signature is the SignerInfo's last field before the optional unsigned
 * attributes, which parseSeal allows to hold exactly one token: so the token attribute ends the seal
 * and the signature value ends just before it. Both ranges are checked byte for byte.
 */
export function locateSealTimeStamp(p7s: Uint8Array): SealTimeStamp {
  const seal = Buffer.from(p7s.buffer, p7s.byteOffset, p7s.byteLength);
  const parsed = parseSeal(seal);
  const token = parsed.timeStampToken;
  const unsigned = token ? tlv(Tag.CONTEXT_1, tlv(Tag.SEQUENCE, ENCODED_ATTRIBUTE_TYPE, tlv(Tag.SET, token))) : Buffer.alloc(0);
  const signatureEnd = seal.length - unsigned.length;
  const signatureRange = { offset: signatureEnd - parsed.signature.length, length: parsed.signature.length };
  if (signatureRange.offset < 0 || !seal.subarray(signatureEnd).equals(unsigned) || !seal.subarray(signatureRange.offset, signatureEnd).equals(parsed.signature)) {
    throw new TimeStampFormatError("the signature value and time-stamp token are not at the end of the seal");
  }
  return {
    signatureValue: Buffer.from(parsed.signature),
    signatureRange,
    token: token ? { der: Buffer.from(token), range: { offset: seal.length - token.length, length: token.length } } : undefined,
  };
}
