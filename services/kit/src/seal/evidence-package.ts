import { createHash, hash, verify as verifySignature } from "node:crypto";
import * as contracts from "@casebridge/proto";
import { common, seal as sealPb, trust } from "@casebridge/proto";
// fflate: zero dependencies, types included, synchronous zip and unzip (verification is synchronous), per-entry filter to refuse bombs before inflating.
import { unzipSync, zipSync, type Zippable } from "fflate";
import { InvalidArgumentError } from "../errors";
import { suiteOf } from "./algorithms";
import { verifyBundle, type ReceivedDocument } from "./bundle";
import { parseCertificate, type CertificateInfo } from "./certificate";
import { parseCrl, type RevocationList } from "./crl";
import { locateSealTimeStamp, type ByteRange, type SealTimeStamp } from "./evidence-timestamps";
import { agencyEnumOf, parseSealAgency } from "./pki";
import { RevocationError, RevocationRegistry } from "./revocation";
import { isTimeStampingCertificate, parseTimeStampToken, TimeStampError, verifyTimeStampToken } from "./timestamp";
import { SealVerifier } from "./verifier";

const { VerificationStatus: Status } = sealPb;

/** Everything one transfer's evidence package holds; the transfer service fills it in. */
export interface EvidencePackageInput {
  readonly transferId: string;
  readonly caseNumber: string;
  readonly sender: string; // e.g. "police"
  readonly recipient: string; // e.g. "prosecution"
  readonly purpose: string; // e.g. "TRANSFER_PURPOSE_PROSECUTION_REVIEW"
  readonly exportedAt: Date;
  readonly manifest: { readonly bytes: Buffer; readonly seal: Buffer };
  readonly documents: ReadonlyArray<{ readonly documentId: string; readonly title: string; readonly mediaType: string; readonly content: Buffer; readonly seal: Buffer }>;
  /** Root, agency CAs and TSA certificates (DER), everything needed to build chains. */
  readonly caCertificates: readonly Buffer[];
  /** The CRLs in force (DER). */
  readonly crls: readonly Buffer[];
  /** Signed receipts and other signed events, in order: label such as "01-received" and the encoded SignedEnvelope. */
  readonly receipts: ReadonlyArray<{ readonly label: string; readonly envelope: Buffer }>;
}

/** Limits applied when reading a package: total uncompressed bytes and number of entries. */
export const EVIDENCE_PACKAGE_LIMITS = { maxTotalBytes: 1024 ** 3, maxEntries: 10_000 } as const;

/** Identifies the layout of `index.json`, so that later readers know what they hold. */
export const EVIDENCE_PACKAGE_FORMAT = "casebridge-evidence-package/1";

/** Status of one checked item: ok, failed, or indeterminate (e.g. no revocation information). */
export type EvidenceItemStatus = "ok" | "failed" | "indeterminate";

/** What kind of part an item of the report is. */
export type EvidenceItemKind = "archive" | "checksums" | "index" | "pki" | "manifest" | "document" | "timestamp" | "receipt";

/** The verdict on one part of a package: its path, status and one sentence of reason. */
export interface EvidenceItemReport {
  readonly item: string;
  readonly kind: EvidenceItemKind;
  readonly status: EvidenceItemStatus;
  readonly reason: string;
  readonly details?: Readonly<Record<string, string>>;
}

/** The outcome of verifying a whole package; `ok` only when every item is ok. */
export interface EvidencePackageReport {
  readonly ok: boolean;
  readonly transferId?: string;
  readonly caseNumber?: string;
  readonly sender?: string;
  readonly recipient?: string;
  readonly purpose?: string;
  readonly exportedAt?: Date;
  /** The time revocation and certificate validity were judged at (the export time unless a clock was given). */
  readonly checkedAt: Date;
  /** The trust anchors used, with the SHA-256 fingerprint to compare out of band. */
  readonly roots: ReadonlyArray<{ readonly subject: string; readonly sha256: string }>;
  readonly trustNote: string;
  readonly items: readonly EvidenceItemReport[];
}

/** What `verifyEvidencePackage` trusts and when it judges. */
export interface VerifyEvidencePackageOptions {
  /** Trust anchors; default the package's own self-signed root, whose fingerprint must then be checked out of band. */
  readonly roots?: readonly CertificateInfo[];
  /** Time at which CRLs must be current and signing times not in the future; default the package's export time. */
  readonly clock?: () => Date;
}

const TRUST_NOTE =
  "根证书的可信性必须在证据包之外确认：将其 SHA-256 指纹与平台公布的指纹核对。 " +
  "Trust in the root must be established out of band: compare its SHA-256 fingerprint with the one the platform publishes.";

/** The files every package has, by role. */
const FIXED = {
  readme: "README.txt",
  index: "index.json",
  sums: "SHA256SUMS",
  manifest: "manifest/manifest.bin",
  manifestSeal: "manifest/manifest.p7s",
  manifestJson: "manifest/manifest.json",
  root: "pki/root.pem",
  rootAndCrls: "pki/root-and-crls.pem",
  caChain: "pki/ca-chain.pem",
  crlsPem: "pki/crls.pem",
} as const;

/** Where each part of a package lies; written as `index.json` and read back to verify. */
interface PackageIndex {
  readonly format: string;
  readonly transferId: string;
  readonly caseNumber: string;
  readonly sender: string;
  readonly recipient: string;
  readonly purpose: string;
  readonly exportedAt: string;
  readonly roots: ReadonlyArray<{ readonly subject: string; readonly sha256: string }>;
  readonly documents: ReadonlyArray<{ readonly documentId: string; readonly title: string; readonly mediaType: string; readonly file: string; readonly seal: string }>;
  readonly timestamps: ReadonlyArray<{ readonly token: string; readonly signatureValue: string; readonly seal: string }>;
  readonly crls: ReadonlyArray<{ readonly file: string; readonly issuer: string; readonly number: string; readonly thisUpdate: string; readonly nextUpdate: string }>;
  readonly receipts: ReadonlyArray<{
    readonly label: string;
    readonly envelope: string;
    readonly content: string;
    readonly signature: string;
    readonly certificate: string;
    readonly publicKey: string;
    readonly json: string;
  }>;
}

/** The per-time-stamp facts the README needs to cut the token and the signature value out of the seal. */
interface TimeStampPlacement {
  readonly token: string;
  readonly signatureValue: string;
  readonly seal: string;
  readonly tokenRange: ByteRange;
  readonly signatureRange: ByteRange;
}

/**
 * Builds the evidence package of one transfer: a ZIP with the sealed manifest, the documents and
 * their seals, the time-stamp tokens, the PKI (root, CAs, CRLs), the signed receipts, a README with
 * the OpenSSL commands that verify each part, and SHA256SUMS. Same input, same bytes.
 */
export function buildEvidencePackage(input: EvidencePackageInput): Promise<Buffer> {
  // Asynchronous by contract (a later version may stream large documents); today the work is synchronous.
  return new Promise((resolve) => resolve(buildPackage(input)));
}

function buildPackage(input: EvidencePackageInput): Buffer {
  const files = new Map<string, Buffer>();
  const put = (path: string, bytes: Buffer | string): void => {
    if (files.has(path)) throw new Error(`evidence package: ${path} written twice`);
    files.set(path, typeof bytes === "string" ? Buffer.from(bytes, "utf8") : bytes);
  };

  const certificates = input.caCertificates.map((der, index) => {
    try {
      return parseCertificate(der);
    } catch (error) {
      throw new InvalidArgumentError(`caCertificates[${index}] is not a readable certificate: ${(error as Error).message}`);
    }
  });
  const roots = certificates.filter(isSelfSigned);
  if (roots.length === 0) throw new InvalidArgumentError("caCertificates hold no self-signed root certificate");
  const crls = input.crls.map((der, index) => {
    try {
      return parseCrl(der);
    } catch (error) {
      throw new InvalidArgumentError(`crls[${index}] is not a readable CRL: ${(error as Error).message}`);
    }
  });
  let manifest: sealPb.BundleManifest;
  try {
    manifest = sealPb.BundleManifest.decode(input.manifest.bytes);
  } catch (error) {
    throw new InvalidArgumentError(`manifest.bytes is not an encoded BundleManifest: ${(error as Error).message}`);
  }
  const seenIds = new Set<string>();
  for (const document of input.documents) {
    if (seenIds.has(document.documentId)) throw new InvalidArgumentError(`document ${document.documentId} is given twice`);
    seenIds.add(document.documentId);
  }

  put(FIXED.readme, ""); // placeholder keeps README first in the archive; replaced below
  put(FIXED.index, "");
  put(FIXED.manifest, input.manifest.bytes);
  put(FIXED.manifestSeal, input.manifest.seal);
  put(FIXED.manifestJson, renderManifestJson(input.manifest.bytes));

  const timestamps: TimeStampPlacement[] = [];
  const timestampStems = new Set<string>();
  const tokenCertificates: Buffer[] = [];
  const addTimestamps = (sealPath: string, seal: Buffer, stem: string): void => {
    const found = timeStampOf(seal);
    if (!found?.token) return; // an unreadable seal has no token to show; verification reports the seal itself
    const name = uniqueStem(stem, timestampStems);
    const signatureValue = `timestamps/${name}.sigvalue`;
    const token = `timestamps/${name}.tst`;
    put(signatureValue, found.signatureValue);
    put(token, found.token.der);
    timestamps.push({ token, signatureValue, seal: sealPath, tokenRange: found.token.range, signatureRange: found.signatureRange });
    try {
      tokenCertificates.push(...parseTimeStampToken(found.token.der).certificates);
    } catch {
      // an unreadable token brings no certificate; verification reports the token
    }
  };
  addTimestamps(FIXED.manifestSeal, input.manifest.seal, "manifest");

  const documentStems = new Set<string>(["manifest"]);
  const documents = input.documents.map((document) => {
    const stem = safeStem(document.documentId, "document", documentStems);
    const file = `documents/${stem}.${extensionOf(document.mediaType)}`;
    const seal = `${file}.p7s`;
    put(file, document.content);
    put(seal, document.seal);
    addTimestamps(seal, document.seal, stem);
    return { documentId: document.documentId, title: document.title, mediaType: document.mediaType, file, seal };
  });

  put(FIXED.root, roots.map((root) => root.x509.toString()).join(""));
  // Every CA and TSA certificate given, then any TSA certificate a token carries that was not given, so that
  // `openssl ts -verify -untrusted pki/ca-chain.pem` and the kit find the TSA either way.
  const chain = [...certificates];
  for (const der of tokenCertificates) {
    if (chain.some((certificate) => certificate.der.equals(der))) continue;
    try {
      chain.push(parseCertificate(der));
    } catch {
      // not a certificate this platform reads: the token verifies without it or not at all
    }
  }
  put(FIXED.caChain, chain.map((certificate) => certificate.x509.toString()).join(""));
  const crlStems = new Set<string>();
  const crlEntries = crls.map((crl, index) => {
    const issuer = certificates.find((certificate) => certificate.subjectDer.equals(crl.issuerDer));
    const name = (issuer?.commonName ?? "unknown issuer").replace(/[^A-Za-z0-9]+/g, "-").replace(/^-|-$/g, "").toLowerCase().slice(0, 48);
    const stem = uniqueStem(`${String(index + 1).padStart(2, "0")}-${name || "crl"}`, crlStems);
    const file = `pki/crls/${stem}.crl`;
    put(file, crl.der);
    return { file, issuer: issuer?.subject ?? "(issuer not among the CA certificates)", number: crl.number.toString(), thisUpdate: crl.thisUpdate.toISOString(), nextUpdate: crl.nextUpdate.toISOString() };
  });
  const crlsPem = crls.map((crl) => pem("X509 CRL", crl.der)).join("");
  put(FIXED.crlsPem, crlsPem);
  put(FIXED.rootAndCrls, files.get(FIXED.root)!.toString("utf8") + crlsPem);

  const receiptStems = new Set<string>();
  const receipts = input.receipts.map((receipt, index) => {
    let envelope: trust.SignedEnvelope;
    let certificate: CertificateInfo;
    try {
      envelope = trust.SignedEnvelope.decode(receipt.envelope);
      certificate = parseCertificate(envelope.certificate);
    } catch (error) {
      throw new InvalidArgumentError(`receipts[${index}] (${receipt.label}) is not a SignedEnvelope with a readable certificate: ${(error as Error).message}`);
    }
    const base = `receipts/${safeStem(receipt.label, `receipt-${index + 1}`, receiptStems)}`;
    const entry = {
      label: receipt.label,
      envelope: `${base}.envelope.bin`,
      content: `${base}.content.bin`,
      signature: `${base}.sig`,
      certificate: `${base}.cert.pem`,
      publicKey: `${base}.pubkey.pem`,
      json: `${base}.json`,
    };
    put(entry.envelope, receipt.envelope);
    put(entry.content, Buffer.from(envelope.content));
    put(entry.signature, Buffer.from(envelope.signature));
    put(entry.certificate, certificate.x509.toString());
    put(entry.publicKey, publicKeyPem(certificate));
    put(entry.json, renderReceiptJson(receipt.label, Buffer.from(envelope.content), certificate));
    return { entry, certificate };
  });

  const index: PackageIndex = {
    format: EVIDENCE_PACKAGE_FORMAT,
    transferId: input.transferId,
    caseNumber: input.caseNumber,
    sender: input.sender,
    recipient: input.recipient,
    purpose: input.purpose,
    exportedAt: input.exportedAt.toISOString(),
    roots: roots.map((root) => ({ subject: root.subject, sha256: fingerprint(root) })),
    documents,
    timestamps: timestamps.map(({ token, signatureValue, seal }) => ({ token, signatureValue, seal })),
    crls: crlEntries,
    receipts: receipts.map((receipt) => receipt.entry),
  };
  files.set(FIXED.index, Buffer.from(`${JSON.stringify(index, null, 2)}\n`));
  files.set(
    FIXED.readme,
    Buffer.from(
      readmeText({
        index,
        manifest,
        timestamps,
        receiptDigests: receipts.map((receipt) => (receipt.certificate.keyAlgorithm === "sm2" ? "sm3" : "sha256")),
      }),
    ),
  );
  put(FIXED.sums, [...files].map(([path, bytes]) => `${sha256Hex(bytes)}  ${path}\n`).join(""));
  return zipFiles(files, input.exportedAt);
}

/**
 * Reads a package back and checks every part with the kit's own verifiers: SHA256SUMS, the PKI
 * files, the manifest seal and each document against it (verifyBundle), the time-stamp tokens and
 * the signed receipts. Never throws for bad input: the report says what failed and why.
 */
export function verifyEvidencePackage(zip: Buffer, options: VerifyEvidencePackageOptions = {}): EvidencePackageReport {
  const items: EvidenceItemReport[] = [];
  const add = (item: string, kind: EvidenceItemKind, status: EvidenceItemStatus, reason: string, details?: Record<string, string>): void => {
    items.push(details ? { item, kind, status, reason, details } : { item, kind, status, reason });
  };
  const archive = readArchive(zip);
  items.push(...archive.problems);
  const files = archive.files;
  const finish = (partial: Partial<EvidencePackageReport> & Pick<EvidencePackageReport, "checkedAt" | "roots">): EvidencePackageReport => ({
    ok: items.length > 0 && items.every((item) => item.status === "ok"),
    trustNote: TRUST_NOTE,
    ...partial,
    items,
  });
  if (!archive.readable) return finish({ checkedAt: (options.clock ?? (() => new Date()))(), roots: [] });

  checkSums(files, add);
  let index: PackageIndex | undefined;
  try {
    index = readIndex(files.get(FIXED.index));
    add(FIXED.index, "index", "ok", `format ${index.format}`);
  } catch (error) {
    add(FIXED.index, "index", "failed", (error as Error).message);
  }
  const exportedAt = index ? new Date(index.exportedAt) : undefined;
  const checkedAt = (options.clock ?? (() => exportedAt ?? new Date()))();
  const header = index
    ? { transferId: index.transferId, caseNumber: index.caseNumber, sender: index.sender, recipient: index.recipient, purpose: index.purpose, exportedAt }
    : {};

  // PKI: trust anchors, the certificate pool and the revocation lists.
  const packageRoots = readPemCertificates(files.get(FIXED.root), FIXED.root, add).filter(isSelfSigned);
  const pool = readPemCertificates(files.get(FIXED.caChain), FIXED.caChain, add);
  const roots = options.roots && options.roots.length > 0 ? options.roots : packageRoots;
  if (packageRoots.length === 0) add(FIXED.root, "pki", "failed", "no self-signed root certificate");
  for (const root of packageRoots) {
    const trusted = roots.some((candidate) => candidate.sha256.equals(root.sha256));
    add(FIXED.root, "pki", trusted ? "ok" : "failed", trusted ? `root ${root.subject}` : `the package's root ${root.subject} is not the root you trust`, { sha256: fingerprint(root) });
  }
  const crlFiles = [...files.keys()].filter((path) => path.startsWith("pki/crls/")).sort();
  const crls: RevocationList[] = [];
  for (const path of crlFiles) {
    try {
      crls.push(parseCrl(files.get(path)!));
    } catch (error) {
      add(path, "pki", "failed", `not a readable CRL: ${(error as Error).message}`);
    }
  }
  const revocations = new RevocationRegistry([...roots, ...pool]);
  for (const crl of [...crls].sort((a, b) => (a.number < b.number ? -1 : a.number > b.number ? 1 : 0))) {
    const path = crlFiles.find((candidate) => files.get(candidate)!.equals(crl.der))!;
    try {
      revocations.apply(crl.der);
      add(path, "pki", "ok", `CRL number ${crl.number}, ${crl.thisUpdate.toISOString()} to ${crl.nextUpdate.toISOString()}`);
    } catch (error) {
      add(path, "pki", "failed", error instanceof RevocationError ? error.message : String(error));
    }
  }
  const pemCrls = readPemBlocks(files.get(FIXED.crlsPem), "X509 CRL");
  const sameCrls = pemCrls.length === crls.length && pemCrls.every((der) => crls.some((crl) => crl.der.equals(der)));
  add(FIXED.crlsPem, "pki", sameCrls ? "ok" : "failed", sameCrls ? `${pemCrls.length} CRLs, the same as pki/crls/` : "differs from the CRLs in pki/crls/");
  const combined = Buffer.concat([files.get(FIXED.root) ?? Buffer.alloc(0), files.get(FIXED.crlsPem) ?? Buffer.alloc(0)]);
  const rootAndCrlsOk = files.get(FIXED.rootAndCrls)?.equals(combined) ?? false;
  add(FIXED.rootAndCrls, "pki", rootAndCrlsOk ? "ok" : "failed", rootAndCrlsOk ? "exactly pki/root.pem followed by pki/crls.pem" : "is not exactly pki/root.pem followed by pki/crls.pem (it is OpenSSL's trust file)");

  const intermediates = pool.filter((certificate) => !roots.some((root) => root.sha256.equals(certificate.sha256)));
  const timeStampAuthorities = intermediates.filter(isTimeStampingCertificate);
  const verifier = new SealVerifier({ roots, intermediates, revocations, timeStampAuthorities, clock: () => checkedAt, maxClockSkewMs: MAX_CLOCK_SKEW_MS });
  const context: CheckContext = { roots, pool: intermediates, timeStampAuthorities, revocations, checkedAt };

  if (index) {
    checkManifestAndDocuments(files, index, verifier, add);
    checkTimestamps(files, index, context, add);
    checkReceipts(files, index, context, add);
    const expected = expectedFiles(index);
    for (const path of files.keys()) {
      if (!expected.has(path) && !path.startsWith("pki/crls/")) add(path, "archive", "failed", "unexpected file: not part of the package's index");
    }
  }
  return finish({
    ...header,
    checkedAt,
    roots: roots.map((root) => ({ subject: root.subject, sha256: fingerprint(root) })),
  });
}

/** A report for people, one line per item (Chinese and English headings). */
export function formatEvidenceReport(report: EvidencePackageReport): string {
  const failed = report.items.filter((item) => item.status !== "ok").length;
  const lines = [
    report.ok ? "证据包核验通过 / evidence package VERIFIED" : `证据包核验未通过 / evidence package NOT VERIFIED (${failed} 项 / items)`,
  ];
  if (report.transferId !== undefined) {
    lines.push(`  移送 transfer:   ${report.transferId}  案号 case: ${report.caseNumber}`);
    lines.push(`  ${report.sender} → ${report.recipient}  (${report.purpose})`);
    lines.push(`  导出 exported:   ${report.exportedAt?.toISOString() ?? "?"}`);
  }
  lines.push(`  核验时点 checked as of: ${report.checkedAt.toISOString()}`);
  for (const root of report.roots) lines.push(`  根证书 root:     ${root.subject}\n    SHA-256 ${colonHex(root.sha256)}`);
  lines.push(`  ${report.trustNote}`);
  lines.push("");
  for (const item of report.items) {
    const mark = item.status === "ok" ? "[OK]  " : item.status === "failed" ? "[FAIL]" : "[????]";
    lines.push(`${mark} ${item.item}: ${item.reason}`);
  }
  return lines.join("\n");
}

/** How far a signing or time-stamp time may lie after the check time (SealVerifier's default). */
const MAX_CLOCK_SKEW_MS = 5 * 60_000;

interface CheckContext {
  readonly roots: readonly CertificateInfo[];
  readonly pool: readonly CertificateInfo[];
  /** The time-stamping certificates among the package's CA chain (a token may also carry its own). */
  readonly timeStampAuthorities: readonly CertificateInfo[];
  readonly revocations: RevocationRegistry;
  readonly checkedAt: Date;
}

type Add = (item: string, kind: EvidenceItemKind, status: EvidenceItemStatus, reason: string, details?: Record<string, string>) => void;

function checkSums(files: ReadonlyMap<string, Buffer>, add: Add): void {
  const sums = files.get(FIXED.sums);
  if (!sums) {
    add(FIXED.sums, "checksums", "failed", "missing");
    return;
  }
  const listed = new Set<string>();
  let bad = 0;
  for (const line of sums.toString("utf8").split("\n").filter((l) => l.length > 0)) {
    const match = /^([0-9a-f]{64}) [ *](.+)$/.exec(line);
    if (!match) {
      add(FIXED.sums, "checksums", "failed", `unreadable line ${JSON.stringify(line.slice(0, 80))}`);
      bad++;
      continue;
    }
    const [, digest, path] = match as unknown as [string, string, string];
    listed.add(path);
    const bytes = files.get(path);
    if (!bytes) {
      add(path, "checksums", "failed", "listed in SHA256SUMS but missing from the package");
      bad++;
    } else if (sha256Hex(bytes) !== digest) {
      add(path, "checksums", "failed", "SHA-256 differs from SHA256SUMS: the file was changed");
      bad++;
    }
  }
  for (const path of files.keys()) {
    if (path !== FIXED.sums && !listed.has(path)) {
      add(path, "checksums", "failed", "not listed in SHA256SUMS");
      bad++;
    }
  }
  if (bad === 0) add(FIXED.sums, "checksums", "ok", `${listed.size} files match`);
}

function checkManifestAndDocuments(files: ReadonlyMap<string, Buffer>, index: PackageIndex, verifier: SealVerifier, add: Add): void {
  const manifest = files.get(FIXED.manifest);
  const manifestSeal = files.get(FIXED.manifestSeal);
  if (!manifest || !manifestSeal) {
    add(FIXED.manifestSeal, "manifest", "failed", "the manifest or its seal is missing");
    return;
  }
  const documents: ReceivedDocument[] = index.documents
    .filter((document) => files.has(document.file))
    .map((document) => ({ documentId: document.documentId, content: files.get(document.file)!, seal: files.get(document.seal) }));
  const result = verifyBundle(verifier, { manifest, manifestSeal }, documents);
  const seal = result.manifestSeal!;
  add(FIXED.manifestSeal, "manifest", statusOf(seal.status), reasonOf(seal), sealDetails(seal, result.manifest ? { caseId: result.manifest.caseId, bundleId: result.manifest.bundleId, documents: String(result.manifest.documents.length) } : {}));
  const jsonOk = files.get(FIXED.manifestJson)?.toString("utf8") === renderManifestJson(manifest);
  add(FIXED.manifestJson, "manifest", jsonOk ? "ok" : "failed", jsonOk ? "renders manifest.bin faithfully" : "does not match manifest.bin (it is only a rendering: trust manifest.bin)");
  const fileOf = new Map(index.documents.map((document) => [document.documentId, document.file]));
  for (const document of result.documents) {
    const path = fileOf.get(document.documentId) ?? `documents/(${document.documentId})`;
    add(path, "document", statusOf(document.status), reasonOf(document), sealDetails(document.seal, { documentId: document.documentId }));
  }
}

/**
 * Each exported token must be exactly the one its seal carries, over exactly the exported signature
 * value; it is then verified by verifyTimeStampToken (timestamp.ts), the kit's one RFC 3161 check:
 * imprint, TSA signature and signing-certificate-v2, TSA certificate (time-stamping only, issued by a
 * trusted root, valid at genTime) and its revocation as of the check time, from the package's CRLs.
 */
function checkTimestamps(files: ReadonlyMap<string, Buffer>, index: PackageIndex, context: CheckContext, add: Add): void {
  const seals = new Set<string>([FIXED.manifestSeal, ...index.documents.map((document) => document.seal)]);
  const listed = index.timestamps.map((entry) => entry.token);
  for (const sealPath of seals) {
    const seal = files.get(sealPath);
    const token = seal ? timeStampOf(seal)?.token : undefined; // the seal check reports an unreadable seal
    if (token && !listed.some((path) => files.get(path)?.equals(token.der))) {
      add(sealPath, "timestamp", "failed", "the seal carries a time-stamp token the package does not export");
    }
  }
  for (const entry of index.timestamps) {
    const token = files.get(entry.token);
    const signatureValue = files.get(entry.signatureValue);
    const seal = files.get(entry.seal);
    if (!token || !signatureValue || !seal) {
      add(entry.token, "timestamp", "failed", "the token, its signature value or its seal is missing");
      continue;
    }
    let found: SealTimeStamp;
    try {
      found = locateSealTimeStamp(seal);
    } catch (error) {
      add(entry.token, "timestamp", "failed", `${entry.seal} is unreadable: ${(error as Error).message}`);
      continue;
    }
    if (!found.signatureValue.equals(signatureValue)) {
      add(entry.token, "timestamp", "failed", `${entry.signatureValue} is not the signature value of ${entry.seal}`);
      continue;
    }
    if (!found.token?.der.equals(token)) {
      add(entry.token, "timestamp", "failed", `the token is not the one ${entry.seal} carries`);
      continue;
    }
    const details: Record<string, string> = { seal: entry.seal };
    try {
      const stamp = verifyTimeStampToken(token, {
        expectedImprint: hash("sha256", signatureValue, "buffer"),
        roots: context.roots,
        timeStampAuthorities: context.timeStampAuthorities,
        revocations: context.revocations,
        now: context.checkedAt,
      });
      Object.assign(details, { genTime: stamp.genTime.toISOString(), tsa: stamp.authority.subject, serial: stamp.serial });
      if (stamp.genTime.getTime() > context.checkedAt.getTime() + MAX_CLOCK_SKEW_MS) {
        add(entry.token, "timestamp", "failed", `the time-stamp's time ${stamp.genTime.toISOString()} is after ${context.checkedAt.toISOString()}`, details);
        continue;
      }
      add(entry.token, "timestamp", "ok", `time-stamped at ${stamp.genTime.toISOString()} by ${stamp.authority.subject}`, details);
    } catch (error) {
      if (!(error instanceof TimeStampError)) throw error;
      add(entry.token, "timestamp", error.problem === "revocation-unknown" ? "indeterminate" : "failed", error.message, details);
    }
  }
}

/** The seal's signature value and time-stamp token with their byte ranges, or undefined when the seal is unreadable. */
function timeStampOf(seal: Buffer): SealTimeStamp | undefined {
  try {
    return locateSealTimeStamp(seal);
  } catch {
    return undefined;
  }
}

function checkReceipts(files: ReadonlyMap<string, Buffer>, index: PackageIndex, context: CheckContext, add: Add): void {
  for (const receipt of index.receipts) {
    const item = receipt.content;
    const content = files.get(receipt.content);
    const signature = files.get(receipt.signature);
    const certificatePem = files.get(receipt.certificate);
    if (!content || !signature || !certificatePem) {
      add(item, "receipt", "failed", `receipt ${receipt.label}: content, signature or certificate missing`);
      continue;
    }
    const [der] = readPemBlocks(certificatePem, "CERTIFICATE");
    let certificate: CertificateInfo;
    try {
      certificate = parseCertificate(der ?? Buffer.alloc(0));
    } catch (error) {
      add(receipt.certificate, "receipt", "failed", `not a readable certificate: ${(error as Error).message}`);
      continue;
    }
    const details: Record<string, string> = { label: receipt.label, signer: certificate.subject };
    const fail = (path: string, reason: string): void => add(path, "receipt", "failed", reason, details);
    const publicKey = files.get(receipt.publicKey);
    if (!publicKey || publicKey.toString("utf8") !== publicKeyPem(certificate)) {
      fail(receipt.publicKey, "is not the public key of the receipt's certificate");
      continue;
    }
    const digest = certificate.keyAlgorithm ? suiteOf(certificate.keyAlgorithm).digest : "sha256";
    let holds = false;
    try {
      holds = verifySignature(digest, content, certificate.publicKey, signature);
    } catch {
      holds = false;
    }
    if (!holds) {
      fail(item, `the signature ${receipt.signature} does not verify over the content with ${certificate.subject}`);
      continue;
    }
    const envelopeBytes = files.get(receipt.envelope);
    let envelope: trust.SignedEnvelope | undefined;
    try {
      envelope = envelopeBytes ? trust.SignedEnvelope.decode(envelopeBytes) : undefined;
    } catch {
      envelope = undefined;
    }
    if (!envelope || !Buffer.from(envelope.content).equals(content) || !Buffer.from(envelope.signature).equals(signature) || !Buffer.from(envelope.certificate).equals(certificate.der)) {
      fail(receipt.envelope, "the envelope does not hold exactly this content, signature and certificate");
      continue;
    }
    let decoded: trust.EnvelopeContent;
    try {
      decoded = trust.EnvelopeContent.decode(content);
    } catch (error) {
      fail(item, `the signed content is not an EnvelopeContent: ${(error as Error).message}`);
      continue;
    }
    Object.assign(details, {
      envelopeId: decoded.envelopeId,
      from: common.agencyToJSON(decoded.from),
      to: common.agencyToJSON(decoded.to),
      payloadType: decoded.payloadType,
      subjectId: decoded.subjectId,
      ...(decoded.signedAt ? { signedAt: decoded.signedAt.toISOString() } : {}),
    });
    if (files.get(receipt.json)?.toString("utf8") !== renderReceiptJson(receipt.label, content, certificate)) {
      fail(receipt.json, "does not match the signed content (it is only a rendering: trust the .content.bin)");
      continue;
    }
    if (certificate.isCa || !(certificate.keyUsage.has("digitalSignature") || certificate.keyUsage.has("nonRepudiation"))) {
      fail(item, `${certificate.subject} is not a seal certificate`);
      continue;
    }
    const agency = parseSealAgency(certificate.organizationalUnit ?? "");
    if (!agency || agencyEnumOf(agency) !== decoded.from) {
      fail(item, `signed by ${certificate.subject} but claims to come from ${common.agencyToJSON(decoded.from)}`);
      continue;
    }
    if (decoded.subjectId !== index.transferId) {
      fail(item, `the receipt is about ${JSON.stringify(decoded.subjectId)}, not transfer ${JSON.stringify(index.transferId)}`);
      continue;
    }
    const path = certificatePath(certificate, context.pool, decoded.signedAt ?? context.checkedAt, context);
    add(item, "receipt", path.status, path.status === "ok" ? `${decoded.payloadType} signed by ${certificate.subject}` : path.reason, details);
  }
}

/** Chain to a root, validity of every certificate at `at`, revocation of every certificate as of the check time. */
function certificatePath(leaf: CertificateInfo, pool: readonly CertificateInfo[], at: Date, context: CheckContext): { status: EvidenceItemStatus; reason: string } {
  const chain = [leaf];
  for (let current = leaf; ; ) {
    const root = context.roots.find((candidate) => issued(current, candidate));
    if (root) {
      chain.push(root);
      break;
    }
    const next = pool.find((candidate) => !chain.includes(candidate) && issued(current, candidate));
    if (!next || chain.length > 5) return { status: "failed", reason: `no path from ${current.subject} to a trusted root` };
    chain.push(next);
    current = next;
  }
  for (const certificate of chain) {
    if (at < certificate.notBefore || at > certificate.notAfter) {
      return { status: "failed", reason: `${certificate.subject} was not valid at ${at.toISOString()}` };
    }
  }
  for (let i = 0; i < chain.length - 1; i++) {
    const status = context.revocations.statusOf(chain[i]!, chain[i + 1]!, context.checkedAt);
    if (status.state === "revoked") return { status: "failed", reason: `${chain[i]!.subject} was revoked at ${status.revokedAt.toISOString()}` };
    if (status.state === "unknown") return { status: "indeterminate", reason: status.why };
  }
  return { status: "ok", reason: "valid" };
}

/** True when `parent` is a CA whose key signed `child`. */
function issued(child: CertificateInfo, parent: CertificateInfo): boolean {
  if (!parent.isCa || !parent.keyUsage.has("keyCertSign") || !child.issuerDer.equals(parent.subjectDer)) return false;
  try {
    return child.x509.verify(parent.publicKey);
  } catch {
    return false;
  }
}

function isSelfSigned(certificate: CertificateInfo): boolean {
  return certificate.isCa && certificate.issuerDer.equals(certificate.subjectDer) && issued(certificate, certificate);
}

/** Every path the index accounts for. */
function expectedFiles(index: PackageIndex): Set<string> {
  return new Set<string>([
    ...Object.values(FIXED),
    ...index.documents.flatMap((document) => [document.file, document.seal]),
    ...index.timestamps.flatMap((entry) => [entry.token, entry.signatureValue]),
    ...index.crls.map((crl) => crl.file),
    ...index.receipts.flatMap((receipt) => [receipt.envelope, receipt.content, receipt.signature, receipt.certificate, receipt.publicKey, receipt.json]),
  ]);
}

/** Reads and shape-checks `index.json`; every path in it must be a safe relative path. */
function readIndex(bytes: Buffer | undefined): PackageIndex {
  if (!bytes) throw new Error("missing");
  let parsed: unknown;
  try {
    parsed = JSON.parse(bytes.toString("utf8"));
  } catch (error) {
    throw new Error(`not JSON: ${(error as Error).message}`);
  }
  const index = parsed as PackageIndex;
  if (typeof parsed !== "object" || parsed === null || index.format !== EVIDENCE_PACKAGE_FORMAT) throw new Error(`not a ${EVIDENCE_PACKAGE_FORMAT} index`);
  for (const key of ["transferId", "caseNumber", "sender", "recipient", "purpose", "exportedAt"] as const) {
    if (typeof index[key] !== "string") throw new Error(`${key} must be a string`);
  }
  if (Number.isNaN(new Date(index.exportedAt).getTime())) throw new Error("exportedAt is not a date");
  const lists = { documents: ["documentId", "file", "seal"], timestamps: ["token", "signatureValue", "seal"], crls: ["file"], receipts: ["label", "envelope", "content", "signature", "certificate", "publicKey", "json"] } as const;
  for (const [list, keys] of Object.entries(lists)) {
    const entries = (index as unknown as Record<string, unknown>)[list];
    if (!Array.isArray(entries)) throw new Error(`${list} must be a list`);
    for (const entry of entries as Array<Record<string, unknown>>) {
      for (const key of keys) {
        const value = entry?.[key];
        if (typeof value !== "string") throw new Error(`${list}[].${key} must be a string`);
        if (key !== "label" && key !== "documentId" && unsafePathReason(value)) throw new Error(`${list}[].${key} ${JSON.stringify(value)}: ${unsafePathReason(value)}`);
      }
    }
  }
  return index;
}

/** Unzips in memory, refusing bombs (declared sizes, entry count) and unsafe names; nothing is written anywhere. */
function readArchive(zip: Buffer): { readable: boolean; files: Map<string, Buffer>; problems: EvidenceItemReport[] } {
  const problems: EvidenceItemReport[] = [];
  const names = new Set<string>();
  let total = 0;
  let count = 0;
  let raw: Record<string, Uint8Array>;
  try {
    raw = unzipSync(zip, {
      filter: (entry) => {
        if (++count > EVIDENCE_PACKAGE_LIMITS.maxEntries) throw new ArchiveLimitError(`more than ${EVIDENCE_PACKAGE_LIMITS.maxEntries} entries`);
        total += entry.originalSize;
        if (total > EVIDENCE_PACKAGE_LIMITS.maxTotalBytes) throw new ArchiveLimitError(`more than ${EVIDENCE_PACKAGE_LIMITS.maxTotalBytes} bytes uncompressed`);
        const unsafe = unsafePathReason(entry.name.replace(/\/$/, ""));
        if (unsafe) {
          problems.push({ item: JSON.stringify(entry.name), kind: "archive", status: "failed", reason: `refused entry: ${unsafe}` });
          return false;
        }
        if (entry.name.endsWith("/")) return false;
        if (names.has(entry.name)) {
          problems.push({ item: entry.name, kind: "archive", status: "failed", reason: "refused entry: the name appears twice" });
          return false;
        }
        names.add(entry.name);
        return true;
      },
    });
  } catch (error) {
    const reason = error instanceof ArchiveLimitError ? `refused: ${error.message}` : `not a readable ZIP archive (${(error as Error).message})`;
    return { readable: false, files: new Map(), problems: [{ item: "(archive)", kind: "archive", status: "failed", reason }] };
  }
  const files = new Map<string, Buffer>();
  for (const name of [...names].sort()) {
    const bytes = Object.prototype.hasOwnProperty.call(raw, name) ? raw[name] : undefined;
    if (bytes) files.set(name, Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
  }
  return { readable: true, files, problems };
}

class ArchiveLimitError extends Error {
  override name = "ArchiveLimitError";
}

/** Why a ZIP entry name is not a safe relative path, or undefined when it is. */
export function unsafePathReason(name: string): string | undefined {
  if (name.length === 0) return "empty name";
  if (name.length > 255) return "name longer than 255 characters";
  if (name.includes("\\")) return "backslash in the name";
  if (name.startsWith("/") || /^[A-Za-z]:/.test(name)) return "absolute path";
  if ([...name].some((char) => char.charCodeAt(0) < 0x20 || char.charCodeAt(0) === 0x7f)) return "control character in the name";
  const segments = name.split("/");
  if (segments.includes("..")) return "path traversal (..)";
  if (segments.some((segment) => segment === "" || segment === ".")) return "empty or '.' path segment";
  if (segments.includes("__proto__")) return "reserved name";
  return undefined;
}

/** Writes the files into a ZIP in their order, every entry dated `at` (UTC, also in an extended-timestamp field). */
function zipFiles(files: ReadonlyMap<string, Buffer>, at: Date): Buffer {
  const seconds = Math.min(Math.max(Math.floor(at.getTime() / 1000), 315_532_800), 4_102_444_799);
  // DOS times are local; shift so that the local fields show UTC wherever this runs (same bytes everywhere).
  const offsetAt = (ms: number): number => new Date(ms).getTimezoneOffset() * 60_000;
  const utcMs = seconds * 1000;
  const dosTime = new Date(utcMs + offsetAt(utcMs + offsetAt(utcMs)));
  const extendedTime = Buffer.alloc(5);
  extendedTime[0] = 1;
  extendedTime.writeUInt32LE(seconds, 1);
  const entries: Zippable = {};
  for (const [path, bytes] of files) {
    entries[path] = [new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength), { mtime: dosTime, level: 6, extra: { 0x5455: extendedTime } }];
  }
  const zipped = zipSync(entries);
  return Buffer.from(zipped.buffer, zipped.byteOffset, zipped.byteLength);
}

/** A file-name stem made from an id: ASCII letters, digits, '.', '_' and '-'; a hash suffix keeps changed or clashing ids apart. */
function safeStem(raw: string, fallback: string, used: Set<string>): string {
  let stem = raw.replace(/[^A-Za-z0-9._-]+/g, "_").replace(/^[._-]+/, "").slice(0, 64);
  if (!stem) stem = fallback;
  if (stem !== raw || used.has(stem.toLowerCase()) || /^(con|prn|aux|nul|com\d|lpt\d)$/i.test(stem)) {
    stem = `${stem.slice(0, 55)}-${sha256Hex(Buffer.from(raw, "utf8")).slice(0, 8)}`;
  }
  return uniqueStem(stem, used);
}

/** `stem`, or `stem-2`, `stem-3`, ... whichever is free (case-insensitively); marks it used. */
function uniqueStem(stem: string, used: Set<string>): string {
  let candidate = stem;
  for (let n = 2; used.has(candidate.toLowerCase()); n++) candidate = `${stem}-${n}`;
  used.add(candidate.toLowerCase());
  return candidate;
}

const EXTENSIONS: Readonly<Record<string, string>> = {
  "application/pdf": "pdf",
  "application/ofd": "ofd",
  "application/xml": "xml",
  "text/xml": "xml",
  "application/json": "json",
  "text/plain": "txt",
  "text/html": "html",
  "text/csv": "csv",
  "image/jpeg": "jpg",
  "image/png": "png",
  "image/tiff": "tif",
  "image/svg+xml": "svg",
  "audio/mpeg": "mp3",
  "audio/wav": "wav",
  "video/mp4": "mp4",
  "application/zip": "zip",
  "application/msword": "doc",
  "application/vnd.openxmlformats-officedocument.wordprocessingml.document": "docx",
  "application/vnd.ms-excel": "xls",
  "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": "xlsx",
};

/** The file extension of a media type, "bin" when unknown. */
function extensionOf(mediaType: string): string {
  return EXTENSIONS[mediaType.split(";")[0]!.trim().toLowerCase()] ?? "bin";
}

/** The decoded manifest as indented JSON, or a note when it cannot be decoded. */
function renderManifestJson(bytes: Buffer): string {
  try {
    return `${JSON.stringify(sealPb.BundleManifest.toJSON(sealPb.BundleManifest.decode(bytes)), null, 2)}\n`;
  } catch (error) {
    return `${JSON.stringify({ error: `cannot decode the manifest: ${(error as Error).message}` }, null, 2)}\n`;
  }
}

/** A receipt for people: the decoded EnvelopeContent, its payload decoded when its type is a CaseBridge contract, and the signer. */
function renderReceiptJson(label: string, content: Buffer, certificate: CertificateInfo): string {
  let body: Record<string, unknown>;
  try {
    const decoded = trust.EnvelopeContent.decode(content);
    body = {
      ...(trust.EnvelopeContent.toJSON(decoded) as Record<string, unknown>),
      payloadSha256: sha256Hex(Buffer.from(decoded.payload)),
      payloadDecoded: decodePayload(decoded.payloadType, decoded.payload),
    };
  } catch (error) {
    body = { error: `cannot decode the content: ${(error as Error).message}` };
  }
  const signer = { subject: certificate.subject, serialNumber: certificate.serial, certificateSha256: fingerprint(certificate) };
  return `${JSON.stringify({ label, ...body, signer }, null, 2)}\n`;
}

/** Decodes a payload named "casebridge.<area>.v1.<Message>" with the generated contract, if there is one. */
function decodePayload(payloadType: string, payload: Uint8Array): unknown {
  const match = /^casebridge\.([a-z]+)\.v1\.([A-Za-z0-9]+)$/.exec(payloadType);
  if (!match) return null;
  const area = (contracts as unknown as Record<string, Record<string, unknown> | undefined>)[match[1]!];
  const codec = area?.[match[2]!] as { decode?: (bytes: Uint8Array) => unknown; toJSON?: (message: unknown) => unknown } | undefined;
  if (typeof codec?.decode !== "function" || typeof codec.toJSON !== "function") return null;
  try {
    return codec.toJSON(codec.decode(payload));
  } catch {
    return null;
  }
}

function statusOf(status: sealPb.VerificationStatus): EvidenceItemStatus {
  return status === Status.VERIFICATION_STATUS_VALID ? "ok" : status === Status.VERIFICATION_STATUS_INDETERMINATE ? "indeterminate" : "failed";
}

function reasonOf(result: { status: sealPb.VerificationStatus; failure: sealPb.VerificationFailure; message: string }): string {
  if (result.status === Status.VERIFICATION_STATUS_VALID) return "valid";
  return `${result.message} (${sealPb.verificationFailureToJSON(result.failure).replace("VERIFICATION_FAILURE_", "")})`;
}

function sealDetails(seal: sealPb.SealVerification | undefined, extra: Record<string, string>): Record<string, string> {
  const out = { ...extra };
  if (seal?.seal) Object.assign(out, { seal: `${seal.seal.name} (${seal.seal.sealId})`, agency: common.agencyToJSON(seal.seal.agency) });
  if (seal?.signer) out.signer = seal.signer.subject;
  if (seal?.signingTime) out.signingTime = seal.signingTime.toISOString();
  if (seal?.timeStampTime) Object.assign(out, { timeStampTime: seal.timeStampTime.toISOString(), timeStampAuthority: seal.timeStampAuthority });
  if (seal?.warnings.length) out.warnings = seal.warnings.join("; ");
  return out;
}

/** Every certificate in a PEM file; reports a failed item when one cannot be read. */
function readPemCertificates(bytes: Buffer | undefined, path: string, add: Add): CertificateInfo[] {
  if (!bytes) {
    add(path, "pki", "failed", "missing");
    return [];
  }
  const out: CertificateInfo[] = [];
  for (const der of readPemBlocks(bytes, "CERTIFICATE")) {
    try {
      out.push(parseCertificate(der));
    } catch (error) {
      add(path, "pki", "failed", `holds an unreadable certificate: ${(error as Error).message}`);
    }
  }
  return out;
}

/** The DER of each PEM block with the given label. */
function readPemBlocks(bytes: Buffer | undefined, label: string): Buffer[] {
  if (!bytes) return [];
  const pattern = new RegExp(`-----BEGIN ${label}-----([A-Za-z0-9+/=\\s]+)-----END ${label}-----`, "g");
  return [...bytes.toString("latin1").matchAll(pattern)].map((match) => Buffer.from(match[1]!.replace(/\s+/g, ""), "base64"));
}

function pem(label: string, der: Buffer): string {
  const lines = der.toString("base64").match(/.{1,64}/g) ?? [];
  return `-----BEGIN ${label}-----\n${lines.join("\n")}\n-----END ${label}-----\n`;
}

function publicKeyPem(certificate: CertificateInfo): string {
  return certificate.publicKey.export({ type: "spki", format: "pem" }).toString();
}

function fingerprint(certificate: CertificateInfo): string {
  return certificate.sha256.toString("hex");
}

function colonHex(hex: string): string {
  return (hex.toUpperCase().match(/../g) ?? []).join(":");
}

function sha256Hex(bytes: Uint8Array): string {
  return createHash("sha256").update(bytes).digest("hex");
}

/** What the README needs beyond the index. */
interface ReadmeContext {
  readonly index: PackageIndex;
  readonly manifest: sealPb.BundleManifest;
  readonly timestamps: readonly TimeStampPlacement[];
  /** openssl dgst digest per receipt ("sha256", or "sm3" for SM2 signers). */
  readonly receiptDigests: readonly string[];
}

/** The README: what the package is, what each folder holds, and the exact commands that verify each part. */
function readmeText({ index, manifest, timestamps, receiptDigests }: ReadmeContext): string {
  const at = Math.floor(new Date(index.exportedAt).getTime() / 1000);
  const cms = (p7s: string, content: string): string =>
    `openssl cms -verify -binary -inform DER -in ${p7s} -content ${content} -CAfile ${FIXED.rootAndCrls} -certfile ${FIXED.caChain} -purpose any -crl_check_all -attime ${at} -out /dev/null`;
  const lines: string[] = [];
  const say = (...text: string[]): void => {
    lines.push(...text);
  };
  const run = (command: string): void => {
    lines.push(`  $ ${command}`);
  };
  say(
    "CaseBridge 证据包 / CaseBridge evidence package",
    "==============================================",
    "",
    `移送编号 Transfer:  ${index.transferId}`,
    `案号 Case number:   ${index.caseNumber}`,
    `移送方 Sender:      ${index.sender}`,
    `接收方 Recipient:   ${index.recipient}`,
    `目的 Purpose:       ${index.purpose}`,
    `导出时间 Exported:  ${index.exportedAt} (Unix ${at})`,
    `清单 Manifest:      bundle ${manifest.bundleId}, case ${manifest.caseId}, ${manifest.documents.length} documents`,
    "",
    "本包是一次跨机关移送的完整电子证据：移送方加盖电子印章的材料清单、每份材料及其电子印章（CMS 分离式签名，",
    "CAdES-BES）、可信时间戳（如有）、平台 PKI（根证书、机关 CA、吊销列表）以及接收方签名的回执。",
    "只需 OpenSSL 3 和 sha256sum 即可离线核验，无需访问任何系统。",
    "",
    "This package is the complete evidence of one cross-agency transfer: the sender's sealed manifest, each",
    "document with its e-seal (detached CMS SignedData, CAdES-BES), RFC 3161 time-stamp tokens when present,",
    "the platform PKI (root, agency CAs, CRLs) and the receiver's signed receipts. It verifies offline with",
    "OpenSSL 3 and sha256sum alone.",
    "",
    "目录 / Contents",
    "---------------",
    "  index.json              包内各文件的用途（机读） / what each file is (machine-readable)",
    "  SHA256SUMS              每个文件的 SHA-256 / SHA-256 of every file",
    "  manifest/manifest.bin   移送方盖章的材料清单（protobuf BundleManifest），manifest.p7s 为其印章",
    "                          the sealed manifest (protobuf BundleManifest); manifest.p7s is its seal",
    "  manifest/manifest.json  清单的可读形式（仅供阅读，以 manifest.bin 为准） / readable rendering only",
    "  documents/              材料及其印章 <材料>.p7s / documents and their seals <document>.p7s",
    "  timestamps/             印章中的时间戳 *.tst（DER TimeStampToken）及其覆盖的签名值 *.sigvalue",
    "                          time-stamp tokens from the seals and the signature values they cover",
    "  pki/root.pem            平台根证书（信任锚） / the platform root certificate (trust anchor)",
    "  pki/ca-chain.pem        全部 CA 及时间戳证书 / every CA and TSA certificate",
    "  pki/crls/*.crl          吊销列表（DER） / certificate revocation lists (DER); pki/crls.pem: the same, PEM",
    "  pki/root-and-crls.pem   根证书加吊销列表，供 openssl -CAfile 使用 / root + CRLs for openssl -CAfile",
    "  receipts/               签名回执：<名>.content.bin 为被签名内容，.sig 为签名，.cert.pem 签名证书，",
    "                          .pubkey.pem 其公钥，.json 可读形式，.envelope.bin 原始 SignedEnvelope",
    "                          signed receipts: signed content, signature, certificate, public key, rendering, envelope",
    "",
    "材料 / Documents",
    "----------------",
  );
  for (const document of index.documents) say(`  ${document.file}  (${document.documentId}, ${document.mediaType}) ${JSON.stringify(document.title)}`);
  say(
    "",
    "核验步骤 / How to verify",
    "------------------------",
    "在解压后的目录中执行以下命令；每条命令成功时退出码为 0。 Run these in the unzipped folder; each exits 0 on success.",
    `"-attime ${at}" 按导出时刻核验证书与吊销列表（多年后证书和 CRL 可能已过期）。`,
    `"-attime ${at}" judges certificates and CRLs as of the export time (years later they may have expired).`,
    "",
    "1. 文件完整性 / Every file is intact:",
    "   SHA256SUMS 本身未签名，只能发现传输损坏；防篡改由下面各步的签章、时间戳和签名回执保证。",
    "   SHA256SUMS is not signed: it shows damage in transit; the seals, time-stamps and signed receipts below prove that nothing was altered.",
  );
  run("sha256sum -c SHA256SUMS");
  say(
    "",
    "2. 信任锚 / The trust anchor. 根证书的可信性必须在包外确认：将下列指纹与平台公布的指纹核对。",
    "   Trust in the root must be established out of band: compare this fingerprint with the one the",
    "   platform publishes (e.g. on its website or in the court's register). Then check that the OpenSSL",
    "   trust file is exactly the root followed by the CRLs:",
  );
  for (const root of index.roots) say(`   ${root.subject}`, `   SHA-256 Fingerprint=${colonHex(root.sha256)}`);
  run(`openssl x509 -in ${FIXED.root} -noout -subject -fingerprint -sha256`);
  run(`cat ${FIXED.root} ${FIXED.crlsPem} | cmp - ${FIXED.rootAndCrls}`);
  say("", "3. 清单印章 / The manifest seal (signer chain to the root, not revoked):");
  run(cms(FIXED.manifestSeal, FIXED.manifest));
  say(
    "",
    "4. 每份材料的印章，以及其 SHA-256 出现在已盖章的清单中 / Each document's seal, and its SHA-256 listed in",
    "   the sealed manifest (manifest.bin holds each SHA-256 as plain hexadecimal text):",
  );
  for (const document of index.documents) {
    run(cms(document.seal, document.file));
    run(`grep -qaF "$(sha256sum ${document.file} | cut -c1-64)" ${FIXED.manifest}`);
  }
  say("", "5. 时间戳 / Time-stamp tokens (RFC 3161) over the seals' signature values:");
  if (timestamps.length === 0) say("   本包的印章未带时间戳。 The seals in this package carry no time-stamp token.");
  else {
    say(
      "   带时间戳的印章，其证书在时间戳时刻之后被吊销仍然有效；OpenSSL 不考虑时间戳，此时第 3、4 步会报 certificate revoked，",
      "   请以 CaseBridge 工具的结果为准。 A time-stamped seal whose certificate was revoked after the time-stamp's time",
      "   stays valid; OpenSSL does not take the time-stamp into account and then reports \"certificate revoked\" in",
      "   steps 3 and 4: the CaseBridge tool below judges revocation at the time-stamp's time.",
    );
  }
  for (const entry of timestamps) {
    say(`   ${entry.token} (${entry.seal}): the token and the signature value are cut out of the seal byte for byte:`);
    run(`openssl asn1parse -inform DER -in ${entry.seal} -offset ${entry.tokenRange.offset} -length ${entry.tokenRange.length} -noout -out /dev/stdout | cmp - ${entry.token}`);
    run(`openssl asn1parse -inform DER -in ${entry.seal} -offset ${entry.signatureRange.offset} -length ${entry.signatureRange.length} -noout -out /dev/stdout | cmp - ${entry.signatureValue}`);
    run(`openssl ts -verify -in ${entry.token} -token_in -data ${entry.signatureValue} -CAfile ${FIXED.rootAndCrls} -untrusted ${FIXED.caChain} -crl_check_all -attime ${at}`);
    say(`   查看时间 / show the time:  openssl ts -reply -in ${entry.token} -token_in -token_out -text`);
  }
  say("", "6. 签名回执 / Signed receipts: the signature over the content, the key is the certificate's, and the certificate chains to the root:");
  if (index.receipts.length === 0) say("   本包没有回执。 This package holds no receipt.");
  index.receipts.forEach((receipt, position) => {
    const digest = receiptDigests[position] ?? "sha256";
    say(`   ${receipt.label}:`);
    run(`openssl dgst -${digest} -verify ${receipt.publicKey} -signature ${receipt.signature} ${receipt.content}`);
    run(`openssl x509 -in ${receipt.certificate} -noout -pubkey | cmp - ${receipt.publicKey}`);
    run(`openssl verify -CAfile ${FIXED.root} -untrusted ${FIXED.caChain} -CRLfile ${FIXED.crlsPem} -crl_check_all -purpose any -attime ${at} ${receipt.certificate}`);
  });
  say(
    "",
    "内容为 protobuf 编码；可读形式见同名 .json，或用 protoc --decode_raw < 文件 查看。",
    "The signed contents are protobuf; read the .json beside each, or run protoc --decode_raw < file.",
    "",
    "也可用 CaseBridge 工具一次核验全部 / or verify everything at once with the CaseBridge tool:",
    "  npm run seal -- verify-package <this zip> [--root <root.pem obtained out of band>]",
    "",
  );
  return lines.join("\n");
}
