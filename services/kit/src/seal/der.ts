/**
 * A strict, zero-copy DER reader and a small DER writer. The verify hot path reads CMS with this
 * instead of a general ASN.1 library: it only walks offsets and never allocates per node.
 */

/** Universal and context tags used by X.509, CRLs and CMS. */
export const Tag = {
  BOOLEAN: 0x01,
  INTEGER: 0x02,
  BIT_STRING: 0x03,
  OCTET_STRING: 0x04,
  NULL: 0x05,
  OID: 0x06,
  UTF8_STRING: 0x0c,
  PRINTABLE_STRING: 0x13,
  UTC_TIME: 0x17,
  GENERALIZED_TIME: 0x18,
  SEQUENCE: 0x30,
  SET: 0x31,
  CONTEXT_0: 0xa0,
  CONTEXT_1: 0xa1,
  CONTEXT_3: 0xa3,
} as const;

/** DerError says where and why DER input is malformed. */
export class DerError extends Error {
  override name = "DerError";
}

/** One tag-length-value: `start` is the tag byte, `content`..`end` the value. */
export interface Tlv {
  readonly tag: number;
  readonly start: number;
  readonly content: number;
  readonly end: number;
}

/** Reads the TLV at `offset`, which must end at or before `limit`; DER rules are enforced. */
export function readTlv(buf: Uint8Array, offset: number, limit = buf.length): Tlv {
  if (offset + 2 > limit) throw new DerError(`truncated header at ${offset}`);
  const tag = buf[offset]!;
  if ((tag & 0x1f) === 0x1f) throw new DerError(`multi-byte tag at ${offset}`);
  const first = buf[offset + 1]!;
  let length: number;
  let content: number;
  if (first < 0x80) {
    length = first;
    content = offset + 2;
  } else {
    const count = first & 0x7f;
    if (count === 0 || count > 4) throw new DerError(`unsupported length form at ${offset}`);
    if (offset + 2 + count > limit) throw new DerError(`truncated length at ${offset}`);
    if (buf[offset + 2] === 0) throw new DerError(`non-minimal length at ${offset}`);
    length = 0;
    for (let i = 0; i < count; i++) length = length * 256 + buf[offset + 2 + i]!;
    if (length < 0x80) throw new DerError(`non-minimal length at ${offset}`);
    content = offset + 2 + count;
  }
  const end = content + length;
  if (end > limit) throw new DerError(`value at ${offset} overruns its container`);
  return { tag, start: offset, content, end };
}

/** Reads a TLV that must have the given tag. */
export function expectTlv(buf: Uint8Array, offset: number, tag: number, limit = buf.length): Tlv {
  const tlv = readTlv(buf, offset, limit);
  if (tlv.tag !== tag) {
    throw new DerError(`expected tag 0x${hex2(tag)} at ${offset}, found 0x${hex2(tlv.tag)}`);
  }
  return tlv;
}

/** Reads a whole buffer that must be exactly one TLV with the given tag. */
export function readTop(buf: Uint8Array, tag: number): Tlv {
  const tlv = expectTlv(buf, 0, tag);
  if (tlv.end !== buf.length) throw new DerError(`trailing bytes after offset ${tlv.end}`);
  return tlv;
}

/** Lists the children of a constructed TLV. */
export function childrenOf(buf: Uint8Array, parent: Tlv): Tlv[] {
  const out: Tlv[] = [];
  let offset = parent.content;
  while (offset < parent.end) {
    const child = readTlv(buf, offset, parent.end);
    out.push(child);
    offset = child.end;
  }
  return out;
}

/** The bytes of a whole TLV, tag included, without copying. */
export function rawOf(buf: Uint8Array, tlv: Tlv): Buffer {
  return Buffer.from(buf.buffer, buf.byteOffset + tlv.start, tlv.end - tlv.start);
}

/** The value bytes of a TLV, without copying. */
export function valueOf(buf: Uint8Array, tlv: Tlv): Buffer {
  return Buffer.from(buf.buffer, buf.byteOffset + tlv.content, tlv.end - tlv.content);
}

/** Decodes an OBJECT IDENTIFIER value to dotted form (arcs of any size, e.g. 2.25.<uuid>). */
export function oidOf(buf: Uint8Array, tlv: Tlv): string {
  if (tlv.tag !== Tag.OID || tlv.end === tlv.content) throw new DerError(`not an OID at ${tlv.start}`);
  if (buf[tlv.end - 1]! & 0x80) throw new DerError(`truncated OID at ${tlv.start}`);
  const arcs: bigint[] = [];
  let value = 0n;
  let fresh = true;
  for (let i = tlv.content; i < tlv.end; i++) {
    const byte = buf[i]!;
    if (fresh && byte === 0x80) throw new DerError(`non-minimal OID arc at ${i}`);
    value = value * 128n + BigInt(byte & 0x7f);
    fresh = (byte & 0x80) === 0;
    if (fresh) {
      if (arcs.length === 0) {
        const top = value < 80n ? value / 40n : 2n;
        arcs.push(top, value - top * 40n);
      } else {
        arcs.push(value);
      }
      value = 0n;
    }
  }
  return arcs.join(".");
}

/** Decodes a small non-negative INTEGER (versions, counters). */
export function smallIntOf(buf: Uint8Array, tlv: Tlv): number {
  const length = tlv.end - tlv.content;
  if (tlv.tag !== Tag.INTEGER || length === 0 || length > 6) {
    throw new DerError(`not a small INTEGER at ${tlv.start}`);
  }
  if (buf[tlv.content]! & 0x80) throw new DerError(`negative INTEGER at ${tlv.start}`);
  if (length > 1 && buf[tlv.content] === 0 && (buf[tlv.content + 1]! & 0x80) === 0) {
    throw new DerError(`non-minimal INTEGER at ${tlv.start}`);
  }
  let value = 0;
  for (let i = tlv.content; i < tlv.end; i++) value = value * 256 + buf[i]!;
  return value;
}

/** Decodes a UTCTime or GeneralizedTime in the DER form (`...Z`, no fractions). */
export function timeOf(buf: Uint8Array, tlv: Tlv): Date {
  const utc = tlv.tag === Tag.UTC_TIME;
  const length = tlv.end - tlv.content;
  if ((utc ? length !== 13 : tlv.tag !== Tag.GENERALIZED_TIME || length !== 15) || buf[tlv.end - 1] !== 0x5a) {
    throw new DerError(`not a DER time at ${tlv.start}`);
  }
  const digits = (at: number): number => {
    const hi = buf[tlv.content + at]! - 0x30;
    const lo = buf[tlv.content + at + 1]! - 0x30;
    if (hi < 0 || hi > 9 || lo < 0 || lo > 9) throw new DerError(`not a DER time at ${tlv.start}`);
    return hi * 10 + lo;
  };
  const shift = utc ? 0 : 2;
  const yy = digits(0);
  const year = utc ? (yy < 50 ? 2000 + yy : 1900 + yy) : yy * 100 + digits(2);
  const [mo, d, h, mi, s] = [digits(2 + shift), digits(4 + shift), digits(6 + shift), digits(8 + shift), digits(10 + shift)];
  const date = new Date(Date.UTC(year, mo - 1, d, h, mi, s));
  if (date.getUTCMonth() !== mo - 1 || date.getUTCDate() !== d || h > 23 || mi > 59 || s > 59) {
    throw new DerError(`impossible date at ${tlv.start}`);
  }
  return date;
}

/** Writes the Time TLV of `date` at `offset` (UTCTime until 2049, GeneralizedTime after); returns its end. */
export function writeTime(buf: Buffer, offset: number, date: Date): number {
  const year = date.getUTCFullYear();
  const utc = year >= 1950 && year < 2050;
  buf[offset] = utc ? Tag.UTC_TIME : Tag.GENERALIZED_TIME;
  buf[offset + 1] = utc ? 13 : 15;
  let at = offset + 2;
  const put = (value: number): void => {
    buf[at++] = 0x30 + Math.floor(value / 10);
    buf[at++] = 0x30 + (value % 10);
  };
  if (!utc) put(Math.floor(year / 100));
  put(year % 100);
  put(date.getUTCMonth() + 1);
  put(date.getUTCDate());
  put(date.getUTCHours());
  put(date.getUTCMinutes());
  put(date.getUTCSeconds());
  buf[at++] = 0x5a;
  return at;
}

/** The encoded length of the Time TLV of `date`. */
export function timeLength(date: Date): number {
  const year = date.getUTCFullYear();
  return year >= 1950 && year < 2050 ? 15 : 17;
}

/** The number of bytes a tag and DER length take. */
export function headerLength(length: number): number {
  return length < 0x80 ? 2 : length < 0x100 ? 3 : length < 0x10000 ? 4 : length < 0x1000000 ? 5 : 6;
}

/** Writes a tag and DER length at `offset`; returns where the value starts. */
export function writeHeader(buf: Buffer, offset: number, tag: number, length: number): number {
  buf[offset] = tag;
  const size = headerLength(length) - 2;
  if (size === 0) {
    buf[offset + 1] = length;
    return offset + 2;
  }
  buf[offset + 1] = 0x80 | size;
  for (let i = size; i >= 1; i--) {
    buf[offset + 1 + i] = length & 0xff;
    length = Math.floor(length / 256);
  }
  return offset + 2 + size;
}

/** Encodes a DER length. */
export function encodeLength(length: number): Buffer {
  if (length < 0x80) return Buffer.of(length);
  const bytes: number[] = [];
  for (let n = length; n > 0; n = Math.floor(n / 256)) bytes.unshift(n & 0xff);
  return Buffer.from([0x80 | bytes.length, ...bytes]);
}

/** Encodes a TLV from a tag and its already-encoded content parts. */
export function tlv(tag: number, ...parts: Uint8Array[]): Buffer {
  let length = 0;
  for (const part of parts) length += part.length;
  return Buffer.concat([Buffer.of(tag), encodeLength(length), ...parts]);
}

/** Encodes a Date as the Time CHOICE RFC 5280 and RFC 5652 prescribe (UTCTime until 2049). */
export function encodeTime(date: Date): Buffer {
  const out = Buffer.alloc(timeLength(date));
  writeTime(out, 0, date);
  return out;
}

/** Encodes a dotted OID (arcs of any size). */
export function encodeOid(oid: string): Buffer {
  if (!/^[0-2]\.\d+(\.\d+)*$/.test(oid)) throw new DerError(`bad OID ${oid}`);
  const arcs = oid.split(".").map(BigInt);
  const bytes: number[] = [];
  const push = (value: bigint): void => {
    const chunk = [Number(value & 0x7fn)];
    for (let n = value >> 7n; n > 0n; n >>= 7n) chunk.unshift(Number(n & 0x7fn) | 0x80);
    bytes.push(...chunk);
  };
  push(arcs[0]! * 40n + arcs[1]!);
  for (const arc of arcs.slice(2)) push(arc);
  return tlv(Tag.OID, Buffer.from(bytes));
}

function hex2(n: number): string {
  return n.toString(16).padStart(2, "0");
}
