import forge from "node-forge";

/** Builders of ASN.1 structures with node-forge (certificates, CRLs, CMS templates). Not on any hot path. */
const asn1 = forge.asn1;

/** An AlgorithmIdentifier, with or without a NULL parameter. */
export function algorithmIdentifier(oid: string, nullParameter: boolean): forge.asn1.Asn1 {
  const parts = [asn1.create(asn1.Class.UNIVERSAL, asn1.Type.OID, false, asn1.oidToDer(oid).getBytes())];
  if (nullParameter) parts.push(asn1.create(asn1.Class.UNIVERSAL, asn1.Type.NULL, false, ""));
  return seq(parts);
}

/** A SEQUENCE of the given parts. */
export function seq(parts: forge.asn1.Asn1[]): forge.asn1.Asn1 {
  return asn1.create(asn1.Class.UNIVERSAL, asn1.Type.SEQUENCE, true, parts);
}

/** A small non-negative INTEGER. */
export function integer(value: number): forge.asn1.Asn1 {
  return asn1.create(asn1.Class.UNIVERSAL, asn1.Type.INTEGER, false, asn1.integerToDer(value).getBytes());
}

/** An OCTET STRING. */
export function octets(value: Buffer): forge.asn1.Asn1 {
  return asn1.create(asn1.Class.UNIVERSAL, asn1.Type.OCTETSTRING, false, binary(value));
}

/** A BIT STRING with no unused bits (signatures). */
export function bitString(value: Buffer): forge.asn1.Asn1 {
  return asn1.create(asn1.Class.UNIVERSAL, asn1.Type.BITSTRING, false, `\u0000${binary(value)}`);
}

/** A BOOLEAN. */
export function bool(value: boolean): forge.asn1.Asn1 {
  return asn1.create(asn1.Class.UNIVERSAL, asn1.Type.BOOLEAN, false, value ? "\u00ff" : "\u0000");
}

/** Parses DER bytes into a forge ASN.1 node (for embedding already-encoded parts). */
export function fromDer(der: Buffer): forge.asn1.Asn1 {
  return asn1.fromDer(forge.util.createBuffer(binary(der)), true);
}

/** Encodes a forge ASN.1 node to a Buffer. */
export function toDer(node: forge.asn1.Asn1): Buffer {
  return Buffer.from(asn1.toDer(node).getBytes(), "binary");
}

/** A Buffer as the binary string forge works with. */
export function binary(value: Buffer): string {
  return value.toString("binary");
}
