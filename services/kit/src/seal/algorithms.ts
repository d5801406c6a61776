import { createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject } from "node:crypto";

/** The seal algorithms the platform signs and verifies with. */
export const SEAL_ALGORITHMS = ["rsa-2048", "p-256", "sm2"] as const;

/** One of SEAL_ALGORITHMS. */
export type SealAlgorithm = (typeof SEAL_ALGORITHMS)[number];

/** Everything CMS and X.509 need to know about one algorithm. */
export interface AlgorithmSuite {
  readonly name: SealAlgorithm;
  /** Node digest name. */
  readonly digest: "sha256" | "sm3";
  readonly digestOid: string;
  readonly signatureOid: string;
  /** RSA AlgorithmIdentifiers carry an explicit NULL parameter; ECDSA and SM2 carry none. */
  readonly signatureHasNullParameter: boolean;
}

/** OIDs of the algorithms, RFC 5754 / RFC 5758 / GM/T 0006. */
export const AlgorithmOid = {
  sha256: "2.16.840.1.101.3.4.2.1",
  sm3: "1.2.156.10197.1.401",
  sha256WithRSAEncryption: "1.2.840.113549.1.1.11",
  rsaEncryption: "1.2.840.113549.1.1.1",
  ecdsaWithSha256: "1.2.840.10045.4.3.2",
  sm2WithSm3: "1.2.156.10197.1.501",
} as const;

const SUITES: Readonly<Record<SealAlgorithm, AlgorithmSuite>> = {
  "rsa-2048": {
    name: "rsa-2048",
    digest: "sha256",
    digestOid: AlgorithmOid.sha256,
    signatureOid: AlgorithmOid.sha256WithRSAEncryption,
    signatureHasNullParameter: true,
  },
  "p-256": {
    name: "p-256",
    digest: "sha256",
    digestOid: AlgorithmOid.sha256,
    signatureOid: AlgorithmOid.ecdsaWithSha256,
    signatureHasNullParameter: false,
  },
  sm2: {
    name: "sm2",
    digest: "sm3",
    digestOid: AlgorithmOid.sm3,
    signatureOid: AlgorithmOid.sm2WithSm3,
    signatureHasNullParameter: false,
  },
};

/** The suite of a seal algorithm. */
export function suiteOf(algorithm: SealAlgorithm): AlgorithmSuite {
  return SUITES[algorithm];
}

/** Parses a user-given algorithm name, or returns undefined. */
export function parseSealAlgorithm(text: string): SealAlgorithm | undefined {
  return (SEAL_ALGORITHMS as readonly string[]).includes(text) ? (text as SealAlgorithm) : undefined;
}

/** The suite a certificate or CRL signature algorithm OID belongs to. */
export function suiteBySignatureOid(signatureOid: string): AlgorithmSuite | undefined {
  const signature = signatureOid === AlgorithmOid.rsaEncryption ? AlgorithmOid.sha256WithRSAEncryption : signatureOid;
  return Object.values(SUITES).find((suite) => suite.signatureOid === signature);
}

/** A fresh key pair. SM2 keys are re-imported so that OpenSSL signs with SM2 (Z value, default ID), not ECDSA. */
export function generateSealKeyPair(algorithm: SealAlgorithm): { privateKey: KeyObject; publicKey: KeyObject } {
  switch (algorithm) {
    case "rsa-2048":
      return generateKeyPairSync("rsa", { modulusLength: 2048 });
    case "p-256":
      return generateKeyPairSync("ec", { namedCurve: "P-256" });
    case "sm2": {
      const pair = generateKeyPairSync("ec", { namedCurve: "SM2" });
      return {
        privateKey: createPrivateKey({ key: pair.privateKey.export({ type: "pkcs8", format: "der" }), format: "der", type: "pkcs8" }),
        publicKey: createPublicKey({ key: pair.publicKey.export({ type: "spki", format: "der" }), format: "der", type: "spki" }),
      };
    }
  }
}
