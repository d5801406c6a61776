import { verify as verifySignature } from "node:crypto";
import { seal as sealPb } from "@casebridge/proto";
import { suiteOf } from "./algorithms";
import type { CertificateInfo, SigningKey } from "./certificate";

/** A MadeSeal read from its bytes: the Seal, who made it and the maker's signature. */
export interface MadeSealInfo {
  readonly bytes: Buffer;
  readonly seal: sealPb.Seal;
  readonly sealBytes: Buffer;
  readonly makerCertificateSha256: Buffer;
  readonly signature: Buffer;
}

/** MadeSealError says why bytes are not a usable MadeSeal. */
export class MadeSealError extends Error {
  override name = "MadeSealError";
}

/** Signs `seal` with the maker CA's key (制章), returning the encoded MadeSeal. */
export async function makeSeal(seal: sealPb.Seal, maker: CertificateInfo, makerKey: SigningKey): Promise<Buffer> {
  if (!maker.isCa) throw new MadeSealError("a seal maker must be a CA certificate");
  const sealBytes = Buffer.from(sealPb.Seal.encode(seal).finish());
  const signature = await makerKey.sign(sealBytes);
  return Buffer.from(
    sealPb.MadeSeal.encode({ seal: sealBytes, makerCertificateSha256: maker.sha256, signature }).finish(),
  );
}

/** Decodes a MadeSeal; throws MadeSealError when a required field is missing. */
export function decodeMadeSeal(bytes: Uint8Array): MadeSealInfo {
  let made: sealPb.MadeSeal;
  let seal: sealPb.Seal;
  try {
    made = sealPb.MadeSeal.decode(bytes);
    seal = sealPb.Seal.decode(made.seal);
  } catch (error) {
    throw new MadeSealError(`not a MadeSeal: ${(error as Error).message}`);
  }
  if (!seal.sealId || !seal.name || !seal.validFrom || !seal.validTo || made.signature.length === 0) {
    throw new MadeSealError("seal lacks its id, name, validity or maker signature");
  }
  return {
    bytes: Buffer.from(bytes),
    seal,
    sealBytes: Buffer.from(made.seal),
    makerCertificateSha256: Buffer.from(made.makerCertificateSha256),
    signature: Buffer.from(made.signature),
  };
}

/** True when `maker` is the CA that signed this seal. */
export function isMadeBy(made: MadeSealInfo, maker: CertificateInfo): boolean {
  if (!maker.isCa || !maker.keyAlgorithm || !made.makerCertificateSha256.equals(maker.sha256)) return false;
  try {
    return verifySignature(suiteOf(maker.keyAlgorithm).digest, made.sealBytes, maker.publicKey, made.signature);
  } catch {
    return false;
  }
}
