import { createPrivateKey, type KeyObject } from "node:crypto";
import { mkdir, readdir, readFile, rename, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { parseSealAlgorithm, type SealAlgorithm } from "./algorithms";
import { parseCertificate, type CertificateInfo } from "./certificate";
import { assertCredentialAllowed, type SealCredential } from "./cms";
import { createPki, issueTsaCertificate, keySigner, SEAL_AGENCIES, type KeyedCertificate, type Pki, type SealAgency } from "./pki";
import type { SigningKey } from "./certificate";
import { DEFAULT_TLS_NAMES, hasTlsDirectory, issueTlsCa, TLS_DIR, writeTlsDirectory, type TlsNames } from "./tls-pki";

/**
 * The PKI on disk. One directory per CA; private keys are PKCS#8 PEM with mode 0600, encrypted
 * (AES-256-CBC) when a passphrase is given. Production mounts only what one service needs: the
 * trust files (every `ca.pem` and `ca.crl`) and its own `seal.*` files; CA keys stay offline.
 *
 *   pki.json                      format and algorithm
 *   root/ca.pem ca.key.pem ca.crl  platform root CA
 *   <agency>/ca.pem ca.key.pem ca.crl  agency CA (seal maker)
 *   <agency>/seal.pem seal.key.pem seal.bin seal.svg  seal certificate, key, MadeSeal, picture
 *   tsa/tsa.pem tsa.key.pem       time-stamp authority (RFC 3161), issued by the root; only the TSA
 *                                 process needs its key, every service its certificate
 *   tls/ca.pem ca.key.pem         TLS CA, issued by the root (see tls-pki.ts)
 *   tls/<peer>.pem <peer>.key.pem  TLS certificate (+ the TLS CA's) and key of police … notary,
 *                                 gateway, nats, mongodb; tls.json: the release/namespace of the SANs
 */
export const PKI_FORMAT = 1;

/** PkiFilesError says what is missing or wrong in a PKI directory. */
export class PkiFilesError extends Error {
  override name = "PkiFilesError";
}

/** The trust a verifier needs: roots, CA certificates and their CRLs. */
export interface TrustMaterial {
  readonly roots: readonly CertificateInfo[];
  readonly intermediates: readonly CertificateInfo[];
  readonly crls: readonly Buffer[];
  /** Certificates of the platform time-stamp authority (trusted because they chain to a root); empty when tsa/ is absent. */
  readonly timeStampAuthorities: readonly CertificateInfo[];
}

/** What the time-stamp authority signs with: its key and its chain (TSA certificate, then the root). */
export interface TsaCredential {
  readonly key: SigningKey;
  readonly chain: readonly CertificateInfo[];
}

const CA_DIRS = ["root", ...SEAL_AGENCIES] as const;
const TSA_DIR = "tsa";

/**
 * Creates the dev PKI in `dir` unless one is there; written to a temp dir first so a crash leaves
 * nothing half-made. A PKI made before the time-stamp authority existed gets its `tsa/` added
 * (`upgraded`: issued by the root, so the root key must be there); running it again changes nothing.
 */
export async function initPkiDirectory(
  dir: string,
  algorithm: SealAlgorithm,
  passphrase?: string,
  tlsNames: TlsNames = DEFAULT_TLS_NAMES,
): Promise<{ created: boolean; algorithm: SealAlgorithm; upgraded: string[] }> {
  const existing = await readManifest(dir).catch(() => undefined);
  if (existing) return { created: false, algorithm: existing.algorithm, upgraded: await upgradePkiDirectory(dir, passphrase, tlsNames) };
  const present = await readdir(dir).catch(() => []);
  if (present.length > 0) throw new PkiFilesError(`${dir} is not empty but holds no pki.json; move it away or choose another directory`);
  const pki = await createPki(algorithm);
  const staging = `${dir}.partial-${process.pid}`;
  await rm(staging, { recursive: true, force: true });
  await writePki(staging, pki, passphrase);
  await writeTlsDirectory(staging, pki.root.certificate, await issueTlsCa(pki.root, new Date(pki.root.certificate.notBefore)), tlsNames);
  await rename(staging, dir);
  return { created: true, algorithm, upgraded: [] };
}

/**
 * Issues the TLS peer certificates of `dir` again for a release and namespace (SANs), keeping the TLS
 * CA; makes the TLS CA with the root key first when `tls/` is absent.
 */
export async function reissueTlsCertificates(dir: string, names: TlsNames, passphrase?: string): Promise<void> {
  await readManifest(dir);
  const ca = (await hasTlsDirectory(dir)) ? await loadTlsCa(dir) : await issueTlsCa(await loadCa(dir, "root", passphrase), new Date(Math.floor(Date.now() / 1000) * 1000 - 60_000));
  await writeTlsDirectory(dir, await readCertificate(join(dir, "root", "ca.pem")), ca, names);
}

/** Reads the TLS CA with its key (never encrypted). */
export async function loadTlsCa(dir: string): Promise<KeyedCertificate> {
  const [certificate, key] = await Promise.all([readCertificate(join(dir, TLS_DIR, "ca.pem")), readKey(join(dir, TLS_DIR, "ca.key.pem"), undefined)]);
  return { certificate, key };
}

/** Adds what a PKI directory of an older layout lacks (`tsa/`, `tls/`); returns the parts added. */
async function upgradePkiDirectory(dir: string, passphrase: string | undefined, tlsNames: TlsNames): Promise<string[]> {
  const added: string[] = [];
  if (!(await hasTlsDirectory(dir))) {
    const root = await loadCa(dir, "root", passphrase).catch((error: unknown) => {
      throw new PkiFilesError(`cannot add the TLS CA to ${dir}: ${(error as Error).message}`);
    });
    await writeTlsDirectory(dir, root.certificate, await issueTlsCa(root, new Date(Math.floor(Date.now() / 1000) * 1000 - 60_000)), tlsNames);
    added.push(TLS_DIR);
  }
  const tsaDir = join(dir, TSA_DIR);
  if (await readFile(join(tsaDir, "tsa.pem")).then(() => true, () => false)) return added;
  const root = await loadCa(dir, "root", passphrase).catch((error: unknown) => {
    throw new PkiFilesError(`cannot add the time-stamp authority to ${dir}: ${(error as Error).message}`);
  });
  const tsa = await issueTsaCertificate(root, new Date(Math.floor(Date.now() / 1000) * 1000 - 60_000));
  const staging = `${tsaDir}.partial-${process.pid}`;
  await rm(staging, { recursive: true, force: true });
  await mkdir(staging, { mode: 0o700 });
  await writeKeyed(staging, "tsa", tsa, passphrase);
  await rm(tsaDir, { recursive: true, force: true });
  await rename(staging, tsaDir);
  return [...added, TSA_DIR];
}

async function writePki(dir: string, pki: Pki, passphrase: string | undefined): Promise<void> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  await writeFile(join(dir, "pki.json"), `${JSON.stringify({ format: PKI_FORMAT, algorithm: pki.algorithm, createdAt: new Date().toISOString() }, null, 2)}\n`);
  const cas = [pki.root, ...SEAL_AGENCIES.map((agency) => pki.agencies[agency].ca)];
  for (const [index, name] of CA_DIRS.entries()) {
    const caDir = join(dir, name);
    await mkdir(caDir, { mode: 0o700 });
    await writeKeyed(caDir, "ca", cas[index]!, passphrase);
    await writeFile(join(caDir, "ca.crl"), pki.crls[index]!);
  }
  for (const agency of SEAL_AGENCIES) {
    const part = pki.agencies[agency];
    const agencyDir = join(dir, agency);
    await writeKeyed(agencyDir, "seal", part.sealCertificate, passphrase);
    await writeFile(join(agencyDir, "seal.bin"), part.madeSeal);
    await writeFile(join(agencyDir, "seal.svg"), part.image);
  }
  await mkdir(join(dir, TSA_DIR), { mode: 0o700 });
  await writeKeyed(join(dir, TSA_DIR), "tsa", pki.tsa, passphrase);
}

async function writeKeyed(dir: string, name: string, keyed: KeyedCertificate, passphrase: string | undefined): Promise<void> {
  await writeFile(join(dir, `${name}.pem`), keyed.certificate.x509.toString());
  const pem = passphrase
    ? keyed.key.export({ type: "pkcs8", format: "pem", cipher: "aes-256-cbc", passphrase })
    : keyed.key.export({ type: "pkcs8", format: "pem" });
  await writeFile(join(dir, `${name}.key.pem`), pem, { mode: 0o600 });
}

/** Reads the algorithm a PKI directory was made with. */
export async function readManifest(dir: string): Promise<{ algorithm: SealAlgorithm }> {
  const text = await readRequired(join(dir, "pki.json"));
  const manifest = JSON.parse(text.toString("utf8")) as { format?: number; algorithm?: string };
  const algorithm = parseSealAlgorithm(manifest.algorithm ?? "");
  if (manifest.format !== PKI_FORMAT || !algorithm) throw new PkiFilesError(`${dir}/pki.json is not a format ${PKI_FORMAT} PKI manifest`);
  return { algorithm };
}

/** Reads the root and agency CA certificates and their current CRLs. */
export async function loadTrustMaterial(dir: string): Promise<TrustMaterial> {
  const certificates = await Promise.all(CA_DIRS.map((name) => readCertificate(join(dir, name, "ca.pem"))));
  const crls = await Promise.all(CA_DIRS.map((name) => readRequired(join(dir, name, "ca.crl"))));
  const tsa = await readCertificate(join(dir, TSA_DIR, "tsa.pem")).then(
    (certificate) => [certificate],
    (error: unknown) => {
      if (error instanceof PkiFilesError && error.message.endsWith("is missing")) return [];
      throw error;
    },
  );
  return { roots: certificates.slice(0, 1), intermediates: certificates.slice(1), crls, timeStampAuthorities: tsa };
}

/** Reads the time-stamp authority's key and chain (`tsa/tsa.pem`, `tsa/tsa.key.pem`, `root/ca.pem`). */
export async function loadTsaCredential(dir: string, passphrase?: string): Promise<TsaCredential> {
  const tsaDir = join(dir, TSA_DIR);
  const [certificate, root, key] = await Promise.all([
    readCertificate(join(tsaDir, "tsa.pem")),
    readCertificate(join(dir, "root", "ca.pem")),
    readKey(join(tsaDir, "tsa.key.pem"), passphrase),
  ]);
  if (!certificate.keyAlgorithm) throw new PkiFilesError(`${tsaDir}/tsa.pem holds no supported key`);
  return { key: keySigner(certificate.keyAlgorithm, key), chain: [certificate, root] };
}

/** Reads one agency's seal credential: key, certificate chain and MadeSeal. */
export async function loadSealCredential(dir: string, agency: SealAgency, passphrase?: string): Promise<SealCredential> {
  const agencyDir = join(dir, agency);
  const [certificate, ca, madeSeal, key] = await Promise.all([
    readCertificate(join(agencyDir, "seal.pem")),
    readCertificate(join(agencyDir, "ca.pem")),
    readRequired(join(agencyDir, "seal.bin")),
    readKey(join(agencyDir, "seal.key.pem"), passphrase),
  ]);
  if (!certificate.keyAlgorithm) throw new PkiFilesError(`${agencyDir}/seal.pem holds no supported key`);
  const credential = { key: keySigner(certificate.keyAlgorithm, key), chain: [certificate, ca], madeSeal };
  try {
    assertCredentialAllowed(credential);
  } catch (error) {
    throw new PkiFilesError(`${agencyDir}: ${(error as Error).message}`);
  }
  return credential;
}

/** Reads a CA (root or agency) with its key, for administration (issuing CRLs). */
export async function loadCa(dir: string, name: "root" | SealAgency, passphrase?: string): Promise<KeyedCertificate> {
  const [certificate, key] = await Promise.all([
    readCertificate(join(dir, name, "ca.pem")),
    readKey(join(dir, name, "ca.key.pem"), passphrase),
  ]);
  return { certificate, key };
}

/** Reads an agency's current seal certificate. */
export async function loadSealCertificate(dir: string, agency: SealAgency): Promise<CertificateInfo> {
  return readCertificate(join(dir, agency, "seal.pem"));
}

/** Replaces a CA's CRL file atomically. */
export async function writeCrl(dir: string, name: "root" | SealAgency, der: Buffer): Promise<void> {
  const path = join(dir, name, "ca.crl");
  await writeFile(`${path}.new`, der);
  await rename(`${path}.new`, path);
}

/** Reads a CA's current CRL. */
export async function readCrl(dir: string, name: "root" | SealAgency): Promise<Buffer> {
  return readRequired(join(dir, name, "ca.crl"));
}

async function readCertificate(path: string): Promise<CertificateInfo> {
  const pem = (await readRequired(path)).toString("latin1");
  const body = /-----BEGIN CERTIFICATE-----([\s\S]+?)-----END CERTIFICATE-----/.exec(pem)?.[1];
  if (!body) throw new PkiFilesError(`${path} holds no PEM certificate`);
  try {
    return parseCertificate(Buffer.from(body.replace(/\s+/g, ""), "base64"));
  } catch (error) {
    throw new PkiFilesError(`${path}: ${(error as Error).message}`);
  }
}

async function readKey(path: string, passphrase: string | undefined): Promise<KeyObject> {
  const pem = await readRequired(path);
  try {
    return createPrivateKey({ key: pem, format: "pem", passphrase });
  } catch (error) {
    throw new PkiFilesError(`${path}: cannot read the private key (${(error as Error).message}); is the passphrase right?`);
  }
}

async function readRequired(path: string): Promise<Buffer> {
  try {
    return await readFile(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") throw new PkiFilesError(`${path} is missing`);
    throw error;
  }
}

/** Parses a key passphrase from the environment: empty means unencrypted keys. */
export function passphraseFrom(env: NodeJS.ProcessEnv): string | undefined {
  return env.PKI_KEY_PASSPHRASE || undefined;
}
