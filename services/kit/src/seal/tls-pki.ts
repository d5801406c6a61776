import { mkdir, readFile, rename, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { generateSealKeyPair } from "./algorithms";
import { ExtendedKeyUsageOid, issueCertificate, type CertificateInfo, type KeyUsage } from "./certificate";
import { keySigner, SEAL_AGENCIES, type KeyedCertificate } from "./pki";

/**
 * Transport certificates of the platform (gRPC between the gateway and the services, NATS, MongoDB),
 * under the same root as the seals but from a CA of their own, so that a seal key can never stand in
 * for a TLS identity and TLS certificates never verify as seals:
 *
 *   root CA ─┬─ <agency> CA ─ seal certificates           (documents)
 *            ├─ time-stamp authority                       (RFC 3161)
 *            └─ TLS CA (OU=platform, CN=CaseBridge TLS CA) ─ one certificate per peer (OU=tls, CN=<peer>)
 *
 * TLS keys are always ECDSA P-256 (every TLS stack speaks it; SM2 and RSA seals keep their own
 * algorithm), keyUsage digitalSignature, extendedKeyUsage serverAuth and/or clientAuth, and SANs for
 * the Kubernetes Service names of one Helm release plus localhost / 127.0.0.1 / ::1.
 */

/** Who holds a TLS certificate: the five agency services (servers), the gateway (client), NATS and MongoDB (servers, and clients of their own cluster). */
export const TLS_PEERS = [...SEAL_AGENCIES, "gateway", "nats", "mongodb"] as const;

/** One of TLS_PEERS. */
export type TlsPeer = (typeof TLS_PEERS)[number];

/** The subject organizational unit of every TLS end-entity certificate. */
export const TLS_OU = "tls";

/** The subject common name of the TLS CA. */
export const TLS_CA_NAME = "CaseBridge TLS CA";

/** Validity of the TLS CA and of one peer certificate (re-issue with `npm run seal -- tls`). */
export const TLS_VALIDITY = { caYears: 10, peerDays: 398 } as const;

/** Where the certificates will be used: the Helm release name (Services are `<release>-<peer>`) and the namespace. */
export interface TlsNames {
  readonly release: string;
  readonly namespace: string;
}

/** The default names: release `cb`, namespace `default`. */
export const DEFAULT_TLS_NAMES: TlsNames = { release: "cb", namespace: "default" };

const PURPOSES: Readonly<Record<TlsPeer, readonly string[]>> = {
  police: [ExtendedKeyUsageOid.serverAuth],
  prosecution: [ExtendedKeyUsageOid.serverAuth],
  court: [ExtendedKeyUsageOid.serverAuth],
  judicial: [ExtendedKeyUsageOid.serverAuth],
  notary: [ExtendedKeyUsageOid.serverAuth],
  // The gateway only calls: a client certificate, which no server accepts as its own identity.
  gateway: [ExtendedKeyUsageOid.clientAuth],
  // Cluster routes (NATS) and replica-set members (MongoDB) are clients of each other.
  nats: [ExtendedKeyUsageOid.serverAuth, ExtendedKeyUsageOid.clientAuth],
  mongodb: [ExtendedKeyUsageOid.serverAuth, ExtendedKeyUsageOid.clientAuth],
};

/** The DNS names and IP addresses a peer's certificate names for a release in a namespace. */
export function tlsSubjectAltNames(peer: TlsPeer, { release, namespace }: TlsNames): { dns: string[]; ip: string[] } {
  const service = `${release}-${peer}`;
  const qualified = (name: string) => [name, `${name}.${namespace}`, `${name}.${namespace}.svc`, `${name}.${namespace}.svc.cluster.local`];
  const dns = [...qualified(service)];
  // StatefulSet pods are reached by their own names under the headless Service.
  if (peer === "mongodb") dns.push(...qualified(`*.${service}`));
  if (peer === "nats") dns.push(...qualified(`*.${service}-cluster`), ...qualified(`${service}-cluster`));
  dns.push(peer, "localhost");
  return { dns, ip: ["127.0.0.1", "::1"] };
}

/** Issues the TLS CA under the platform root (path length 0: it issues peer certificates only). */
export async function issueTlsCa(root: KeyedCertificate, now: Date): Promise<KeyedCertificate> {
  const rootAlgorithm = root.certificate.keyAlgorithm;
  if (!rootAlgorithm) throw new Error("the root certificate holds no supported key");
  const pair = generateSealKeyPair("p-256");
  const certificate = await issueCertificate(
    {
      subject: { organizationalUnit: "platform", commonName: TLS_CA_NAME },
      publicKey: pair.publicKey,
      validFrom: now,
      validTo: new Date(Date.UTC(now.getUTCFullYear() + TLS_VALIDITY.caYears, now.getUTCMonth(), now.getUTCDate())),
      ca: { pathLength: 0 },
    },
    keySigner(rootAlgorithm, root.key),
    root.certificate,
  );
  return { certificate, key: pair.privateKey };
}

/** Issues one peer's TLS certificate under the TLS CA. */
export async function issueTlsCertificate(tlsCa: KeyedCertificate, peer: TlsPeer, names: TlsNames, now: Date, validDays: number = TLS_VALIDITY.peerDays): Promise<KeyedCertificate> {
  const pair = generateSealKeyPair("p-256");
  const keyUsage: KeyUsage[] = ["digitalSignature"];
  const certificate = await issueCertificate(
    {
      subject: { organizationalUnit: TLS_OU, commonName: peer },
      publicKey: pair.publicKey,
      validFrom: now,
      validTo: new Date(now.getTime() + validDays * 86_400_000),
      keyUsage,
      extendedKeyUsage: { purposes: PURPOSES[peer], critical: false },
      subjectAltNames: tlsSubjectAltNames(peer, names),
    },
    keySigner("p-256", tlsCa.key),
    tlsCa.certificate,
  );
  return { certificate, key: pair.privateKey };
}

/** The directory of the TLS material inside a PKI directory. */
export const TLS_DIR = "tls";

/**
 * Writes `tls/` in a PKI directory, self-contained so that one directory (or one Secret) is all a
 * peer needs: `root.pem` (the platform root, the trust anchor), `ca.pem` + `ca.key.pem` (the TLS CA,
 * the only issuer of TLS identities), and for every peer `<peer>.pem` (its certificate followed by
 * the TLS CA's, so that trusting the root is enough) and `<peer>.key.pem` (PKCS#8, never encrypted:
 * nats-server, mongod and the gRPC stack read it as is), and `tls.json` (the names of the SANs).
 * Existing peer certificates are replaced.
 */
export async function writeTlsDirectory(dir: string, root: CertificateInfo, ca: KeyedCertificate, names: TlsNames): Promise<void> {
  const now = new Date(Math.floor(Date.now() / 1000) * 1000 - 60_000);
  const tlsDir = join(dir, TLS_DIR);
  const staging = `${tlsDir}.partial-${process.pid}`;
  await rm(staging, { recursive: true, force: true });
  await mkdir(staging, { mode: 0o700 });
  const caPem = ca.certificate.x509.toString();
  await writeFile(join(staging, "root.pem"), root.x509.toString());
  await writeFile(join(staging, "ca.pem"), caPem);
  await writeFile(join(staging, "ca.key.pem"), ca.key.export({ type: "pkcs8", format: "pem" }), { mode: 0o600 });
  for (const peer of TLS_PEERS) {
    const keyed = await issueTlsCertificate(ca, peer, names, now);
    await writeFile(join(staging, `${peer}.pem`), keyed.certificate.x509.toString() + caPem);
    await writeFile(join(staging, `${peer}.key.pem`), keyed.key.export({ type: "pkcs8", format: "pem" }), { mode: 0o600 });
  }
  await writeFile(join(staging, "tls.json"), `${JSON.stringify({ ...names, issuedAt: new Date().toISOString() }, null, 2)}\n`);
  await rm(tlsDir, { recursive: true, force: true });
  await rename(staging, tlsDir);
}

/** True when `dir` holds the TLS material (`tls/ca.pem`). */
export async function hasTlsDirectory(dir: string): Promise<boolean> {
  return readFile(join(dir, TLS_DIR, "ca.pem")).then(
    () => true,
    () => false,
  );
}
