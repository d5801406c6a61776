import { readFile, stat, writeFile } from "node:fs/promises";
import { resolve } from "node:path";
import { parseArgs } from "node:util";
import { common, seal as sealPb } from "@casebridge/proto";
import { connect } from "@nats-io/transport-node";
import { parseSealAlgorithm } from "./algorithms";
import { parseCertificate, type CertificateInfo } from "./certificate";
import { Sealer } from "./cms";
import { parseCrl } from "./crl";
import { EVIDENCE_PACKAGE_LIMITS, formatEvidenceReport, verifyEvidencePackage } from "./evidence-package";
import { agencyEnumOf, issueCaCrl, parseSealAgency, SEAL_AGENCIES, type SealAgency } from "./pki";
import {
  initPkiDirectory,
  loadCa,
  loadSealCertificate,
  loadSealCredential,
  loadTrustMaterial,
  passphraseFrom,
  PkiFilesError,
  readCrl,
  reissueTlsCertificates,
  writeCrl,
} from "./pki-files";
import { DEFAULT_TLS_NAMES, TLS_PEERS, type TlsNames } from "./tls-pki";
import { RevocationRegistry } from "./revocation";
import { openCrlBucket, publishCrl } from "./revocation-nats";
import { SealVerifier } from "./verifier";
import { runCliMain } from "../cli-main";
import { exportTransferEvidence } from "../transfer/evidence";
import { natsAuthOptions } from "../nats-auth/credentials";

const USAGE = `Usage: npm run seal -- <command> [options]

Commands:
  init [--algorithm p-256|rsa-2048|sm2] [--release <name>] [--namespace <ns>]
                                           create the dev PKI if missing (default p-256), with the TLS
                                           CA and certificates (tls/) for gRPC, NATS and MongoDB; an
                                           older PKI gets what it lacks (tsa/, tls/)
  tls [--release <name>] [--namespace <ns>]
                                           issue the TLS certificates again (keeping the TLS CA) with
                                           SANs <release>-<peer>[.<ns>[.svc[.cluster.local]]],
                                           localhost, 127.0.0.1 and ::1 (defaults: cb, default)
  sign --agency <agency> <file>            seal <file> with the agency's seal; writes <file>.p7s (DER)
  verify <file> [--agency <agency>] [--json]
                                           verify <file> against <file>.p7s; exit 0 valid, 1 not valid
  ca                                       print the root CA certificate (PEM)
  revoke --agency <agency> [--serial <hex>] [--no-publish]
                                           revoke the agency's seal certificate (or one serial), issue a
                                           new CRL and publish it to every service over NATS
  publish                                  publish every CA's current CRL over NATS
  export --agency <agency> --transfer <id> [--out <zip>]
                                           write the transfer's offline evidence package as the agency
                                           holds it (documents, seals, time-stamps, chain, CRLs, signed
                                           receipts, README with the OpenSSL commands)
  verify-package <zip> [--json] [--root <pem>]
                                           verify a transfer's evidence package (seals, manifest,
                                           time-stamps, receipts, SHA256SUMS); exit 0 all valid, 1 not;
                                           --root: the root certificate obtained out of band (default:
                                           the package's own root, whose fingerprint is printed)

Agencies: ${SEAL_AGENCIES.join(", ")}
Options: --dir <pki dir> (default $PKI_DIR or .data/pki), --nats <url> (default $NATS_URL or
nats://127.0.0.1:4222). Keys encrypted with a passphrase are read with $PKI_KEY_PASSPHRASE.`;

/** Exit codes: success, verification failed or operation failed, bad usage. */
export const CliExit = { ok: 0, failed: 1, usage: 2 } as const;

/** UsageError is a command-line mistake; the CLI prints it with the usage text. */
class UsageError extends Error {}

/** Runs the seal CLI with `argv` (without node and script); returns the exit code. */
export async function runSealCli(argv: string[], env: NodeJS.ProcessEnv, out: (line: string) => void, err: (line: string) => void): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        agency: { type: "string" },
        algorithm: { type: "string" },
        dir: { type: "string" },
        nats: { type: "string" },
        serial: { type: "string" },
        root: { type: "string" },
        transfer: { type: "string" },
        out: { type: "string" },
        json: { type: "boolean" },
        "no-publish": { type: "boolean" },
        release: { type: "string" },
        namespace: { type: "string" },
        help: { type: "boolean", short: "h" },
      },
    });
  } catch (error) {
    err(`${(error as Error).message}\n\n${USAGE}`);
    return CliExit.usage;
  }
  const { values, positionals } = parsed;
  const [command, ...rest] = positionals;
  if (values.help || !command) {
    (values.help ? out : err)(USAGE);
    return values.help ? CliExit.ok : CliExit.usage;
  }
  const dir = resolve(values.dir ?? env.PKI_DIR ?? ".data/pki");
  const natsUrl = values.nats ?? env.NATS_URL ?? "nats://127.0.0.1:4222";
  const passphrase = passphraseFrom(env);
  const agencyOption = (): SealAgency => {
    const agency = parseSealAgency(values.agency ?? "");
    if (!agency) throw new UsageError(`--agency must be one of ${SEAL_AGENCIES.join(", ")}`);
    return agency;
  };
  const tlsNames = (): TlsNames => {
    const names = { release: values.release ?? DEFAULT_TLS_NAMES.release, namespace: values.namespace ?? DEFAULT_TLS_NAMES.namespace };
    // DNS labels (RFC 1123), as Kubernetes names them.
    for (const [option, value] of Object.entries(names)) if (!/^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/.test(value)) throw new UsageError(`--${option} must be a DNS label (got '${value}')`);
    return names;
  };
  const onlyFile = (): string => {
    if (rest.length !== 1) throw new UsageError(`${command} takes exactly one file`);
    return rest[0]!;
  };
  try {
    switch (command) {
      case "init": {
        const algorithm = parseSealAlgorithm(values.algorithm ?? "p-256");
        if (!algorithm) throw new UsageError("--algorithm must be p-256, rsa-2048 or sm2");
        const result = await initPkiDirectory(dir, algorithm, passphrase, tlsNames());
        out(result.created ? `created the dev PKI (${result.algorithm}) in ${dir}` : `the PKI in ${dir} is already there (${result.algorithm})`);
        if (result.upgraded.length > 0) out(`added ${result.upgraded.join(", ")} to the PKI in ${dir}`);
        return CliExit.ok;
      }
      case "tls": {
        const names = tlsNames();
        await reissueTlsCertificates(dir, names, passphrase);
        out(`issued the TLS certificates of ${TLS_PEERS.join(", ")} in ${dir}/tls for release ${names.release} in namespace ${names.namespace}`);
        return CliExit.ok;
      }
      case "sign": {
        const file = onlyFile();
        const sealer = new Sealer(await loadSealCredential(dir, agencyOption(), passphrase));
        const p7s = await sealer.seal(await readInput(file));
        await writeFile(`${file}.p7s`, p7s);
        out(`sealed ${file} with ${sealer.madeSeal.seal.name} → ${file}.p7s (${p7s.length} bytes)`);
        return CliExit.ok;
      }
      case "verify": {
        const file = onlyFile();
        const expected = values.agency === undefined ? {} : { agency: agencyEnumOf(agencyOption()) };
        const [document, p7s] = await Promise.all([readInput(file), readInput(`${file}.p7s`)]);
        const report = (await verifierFrom(dir)).verify(document, p7s, expected);
        if (values.json) out(JSON.stringify(sealPb.SealVerification.toJSON(report)));
        else out(describe(report));
        return report.status === sealPb.VerificationStatus.VERIFICATION_STATUS_VALID ? CliExit.ok : CliExit.failed;
      }
      case "ca": {
        const trust = await loadTrustMaterial(dir);
        out(trust.roots[0]!.x509.toString().trimEnd());
        return CliExit.ok;
      }
      case "revoke": {
        const agency = agencyOption();
        const serial = (values.serial ?? (await loadSealCertificate(dir, agency)).serial).toUpperCase().replace(/^0+(?=.)/, "");
        if (!/^[0-9A-F]+$/.test(serial)) throw new UsageError("--serial must be hexadecimal");
        const ca = await loadCa(dir, agency, passphrase);
        const current = parseCrl(await readCrl(dir, agency));
        const revoked = [...current.revoked].map(([s, revokedAt]) => ({ serial: s, revokedAt }));
        if (!current.revoked.has(serial)) revoked.push({ serial, revokedAt: new Date() });
        const crl = await issueCaCrl(ca, current.number + 1n, revoked);
        await writeCrl(dir, agency, crl);
        out(`revoked ${serial} in the ${agency} CA's CRL number ${current.number + 1n}`);
        if (!values["no-publish"]) await publish(natsUrl, [crl], out);
        return CliExit.ok;
      }
      case "publish": {
        await publish(natsUrl, [...(await loadTrustMaterial(dir)).crls], out);
        return CliExit.ok;
      }
      case "export": {
        const agency = agencyOption();
        const transferId = values.transfer ?? "";
        if (!transferId) throw new UsageError("export needs --transfer <transfer id>");
        const nc = await connect({ ...natsAuthOptions("operator"), servers: natsUrl, timeout: 3000, name: "seal-cli" }).catch((error: unknown) => {
          throw new Error(`cannot reach NATS at ${natsUrl}: ${(error as Error).message}`);
        });
        try {
          const { zip, fileName } = await exportTransferEvidence(nc, agency, transferId, dir, new Date());
          const target = values.out ?? fileName;
          await writeFile(target, zip);
          out(`wrote the evidence package of transfer ${transferId} (${agency}) to ${target} (${zip.length} bytes); check it with: npm run seal -- verify-package ${target}`);
        } finally {
          await nc.close();
        }
        return CliExit.ok;
      }
      case "verify-package": {
        const file = onlyFile();
        const roots = values.root === undefined ? undefined : await readRoots(values.root);
        const size = await stat(file).then((info) => info.size, () => undefined);
        if (size !== undefined && size > EVIDENCE_PACKAGE_LIMITS.maxTotalBytes) throw new Error(`${file} is larger than ${EVIDENCE_PACKAGE_LIMITS.maxTotalBytes} bytes; refused`);
        const report = verifyEvidencePackage(await readInput(file), { roots });
        out(values.json ? JSON.stringify(report) : formatEvidenceReport(report));
        return report.ok ? CliExit.ok : CliExit.failed;
      }
      default:
        throw new UsageError(`unknown command ${command}`);
    }
  } catch (error) {
    if (error instanceof UsageError) {
      err(`${error.message}\n\n${USAGE}`);
      return CliExit.usage;
    }
    if (error instanceof PkiFilesError) {
      err(`${error.message}\n(create the dev PKI with: npm run seal -- init)`);
      return CliExit.failed;
    }
    err((error as Error).message);
    return CliExit.failed;
  }
}

async function verifierFrom(dir: string): Promise<SealVerifier> {
  const trust = await loadTrustMaterial(dir);
  const revocations = new RevocationRegistry([...trust.roots, ...trust.intermediates]);
  for (const crl of trust.crls) revocations.apply(crl);
  return new SealVerifier({ roots: trust.roots, intermediates: trust.intermediates, revocations, timeStampAuthorities: trust.timeStampAuthorities });
}

/** The certificates of a PEM file given with --root; none is a usage mistake. */
async function readRoots(path: string): Promise<CertificateInfo[]> {
  const text = (await readInput(path)).toString("latin1");
  const blocks = [...text.matchAll(/-----BEGIN CERTIFICATE-----([A-Za-z0-9+/=\s]+)-----END CERTIFICATE-----/g)];
  if (blocks.length === 0) throw new UsageError(`--root ${path} holds no PEM certificate`);
  return blocks.map((block) => parseCertificate(Buffer.from(block[1]!.replace(/\s+/g, ""), "base64")));
}

async function publish(natsUrl: string, crls: Buffer[], out: (line: string) => void): Promise<void> {
  const nc = await connect({ ...natsAuthOptions("operator"), servers: natsUrl, timeout: 3000, name: "seal-cli" }).catch((error: unknown) => {
    throw new Error(`cannot reach NATS at ${natsUrl} to publish the CRL (${(error as Error).message}); the CRL file is updated, run "npm run seal -- publish" once NATS is up`);
  });
  try {
    const kv = await openCrlBucket(nc);
    for (const crl of crls) await publishCrl(kv, crl);
    out(`published ${crls.length} CRL${crls.length === 1 ? "" : "s"} to ${natsUrl}`);
  } finally {
    await nc.close();
  }
}

async function readInput(path: string): Promise<Buffer> {
  try {
    return await readFile(path);
  } catch (error) {
    throw new Error(`cannot read ${path}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
  }
}

/** A report in three lines for people. */
function describe(report: sealPb.SealVerification): string {
  const status = sealPb.verificationStatusToJSON(report.status).replace("VERIFICATION_STATUS_", "");
  const lines = [status === "VALID" ? "VALID" : `${status}: ${report.message} (${sealPb.verificationFailureToJSON(report.failure).replace("VERIFICATION_FAILURE_", "")})`];
  if (report.seal) {
    lines.push(`  agency:       ${common.agencyToJSON(report.seal.agency).replace("AGENCY_", "").toLowerCase()}`);
    lines.push(`  seal:         ${report.seal.name} (${report.seal.sealId})`);
  }
  if (report.signingTime) lines.push(`  signing time: ${report.signingTime.toISOString()}`);
  if (report.signer) lines.push(`  signer:       ${report.signer.subject}, serial ${report.signer.serialNumber}`);
  if (report.algorithm) lines.push(`  algorithm:    ${report.algorithm}`);
  if (report.timeStampTime) lines.push(`  time-stamp:   ${report.timeStampTime.toISOString()} by ${report.timeStampAuthority}`);
  for (const warning of report.warnings) lines.push(`  warning:      ${warning}`);
  return lines.join("\n");
}

if (require.main === module) runCliMain(runSealCli);
