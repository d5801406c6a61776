import { DerError, encodeLength, encodeOid, encodeTime, headerLength, oidOf, readTlv, readTop, Tag, timeOf, writeHeader } from "./der";

describe("DER reader", () => {
  it("reads short and long lengths and refuses non-minimal or overrunning ones", () => {
    expect(readTlv(Buffer.from([0x04, 0x02, 1, 2]), 0)).toEqual({ tag: 0x04, start: 0, content: 2, end: 4 });
    const long = Buffer.concat([Buffer.from([0x04, 0x81, 0x80]), Buffer.alloc(0x80)]);
    expect(readTlv(long, 0).end).toBe(long.length);
    expect(() => readTlv(Buffer.from([0x04, 0x81, 0x05, 1, 2, 3, 4, 5]), 0)).toThrow(/non-minimal length/);
    expect(() => readTlv(Buffer.from([0x04, 0x05, 1]), 0)).toThrow(/overruns/);
    expect(() => readTop(Buffer.from([0x04, 0x01, 1, 0]), Tag.OCTET_STRING)).toThrow(/trailing bytes/);
    expect(() => readTlv(Buffer.from([0x1f, 0x01, 0x00]), 0)).toThrow(DerError);
  });

  it("encodes and decodes OIDs, including 128-bit UUID arcs", () => {
    for (const oid of ["1.2.840.113549.1.7.2", "2.25.263681683630765538682498876297073861068.1.1", "1.2.156.10197.1.501"]) {
      const der = encodeOid(oid);
      expect(oidOf(der, readTop(der, Tag.OID))).toBe(oid);
    }
    expect(encodeOid("1.2.840.113549.1.7.2").toString("hex")).toBe("06092a864886f70d010702");
    expect(() => encodeOid("1.2.x")).toThrow(DerError);
  });

  it("round-trips times as UTCTime until 2049 and GeneralizedTime after", () => {
    for (const iso of ["2026-11-23T08:15:59Z", "1999-12-31T23:59:59Z", "2051-01-02T03:04:05Z"]) {
      const der = encodeTime(new Date(iso));
      expect(der[0]).toBe(new Date(iso).getUTCFullYear() < 2050 ? Tag.UTC_TIME : Tag.GENERALIZED_TIME);
      expect(timeOf(der, readTop(der, der[0]!)).toISOString()).toBe(new Date(iso).toISOString());
    }
    expect(() => timeOf(Buffer.from("170d3236313333313038313535395a", "hex"), readTlv(Buffer.from("170d3236313333313038313535395a", "hex"), 0))).toThrow(/impossible date/);
  });

  it("writes the same headers it measures", () => {
    for (const length of [0, 127, 128, 255, 256, 65535, 65536]) {
      const buf = Buffer.alloc(8);
      const end = writeHeader(buf, 0, Tag.SEQUENCE, length);
      expect(end).toBe(headerLength(length));
      expect(buf.subarray(1, end)).toEqual(encodeLength(length));
    }
  });
});
