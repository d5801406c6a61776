import { spawnSync } from "node:child_process";
import { createHash, hash } from "node:crypto";
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { common, transfer, trust } from "@casebridge/proto";
import { unzipSync, zipSync } from "fflate";
import { buildManifest, sealManifest } from "./bundle";
import { type CertificateInfo } from "./certificate";
import { parseSeal, Sealer, SealFormatError, type TimeStamper } from "./cms";
import {
  buildEvidencePackage,
  EVIDENCE_PACKAGE_LIMITS,
  formatEvidenceReport,
  unsafePathReason,
  verifyEvidencePackage,
  type EvidencePackageInput,
  type EvidencePackageReport,
} from "./evidence-package";
import { locateSealTimeStamp } from "./evidence-timestamps";
import { createPki, credentialOf, issueCaCrl, keySigner, type Pki } from "./pki";
import { RevocationRegistry } from "./revocation";
import { TimeStampAuthority, timeStamperOf, verifyTimeStampToken } from "./timestamp";

const { Agency } = common;

let work: string;
let pki: Pki;
let other: Pki;
let tsaCertificate: CertificateInfo;
let input: EvidencePackageInput;
let zip: Buffer;
const transferId = "tr-2026-0042";

/** Runs a shell command in `cwd`; returns its exit status and output. */
function sh(command: string, cwd: string): { status: number | null; output: string } {
  const run = spawnSync("bash", ["-c", command], { cwd, encoding: "utf8" });
  return { status: run.status, output: `${run.stdout}${run.stderr}` };
}

/** The platform TSA of `of`, in-process: what the TSA service answers over NATS in production. */
function stamperOf(of: Pki): TimeStamper {
  const tsa = new TimeStampAuthority({ key: keySigner(of.algorithm, of.tsa.key), chain: [of.tsa.certificate, of.root.certificate] });
  return timeStamperOf((der) => tsa.respond(der));
}

/** Unzips `zip` into a fresh directory with Info-ZIP's unzip, as a court clerk would. */
function unzipTo(bytes: Buffer, name: string): string {
  const dir = join(work, name);
  mkdirSync(dir);
  writeFileSync(join(dir, "..", `${name}.zip`), bytes);
  const run = sh(`unzip -q ../${name}.zip`, dir);
  if (run.status !== 0) throw new Error(run.output);
  return dir;
}

/** The commands of the README, in order ("  $ " lines). */
function readmeCommands(dir: string): string[] {
  return readFileSync(join(dir, "README.txt"), "utf8")
    .split("\n")
    .filter((line) => line.startsWith("  $ "))
    .map((line) => line.slice(4));
}

function flipFile(dir: string, path: string, at = 10): void {
  const bytes = readFileSync(join(dir, path));
  at %= bytes.length;
  bytes[at] = bytes[at]! ^ 0x01;
  writeFileSync(join(dir, path), bytes);
}

/** The package with files changed (and SHA256SUMS recomputed unless `keepSums`), zipped again. */
function repack(bytes: Buffer, change: (files: Record<string, Uint8Array>) => void, keepSums = false): Buffer {
  const files = unzipSync(bytes);
  change(files);
  if (!keepSums) {
    files.SHA256SUMS = Buffer.from(
      Object.entries(files)
        .filter(([path]) => path !== "SHA256SUMS")
        .map(([path, content]) => `${createHash("sha256").update(content).digest("hex")}  ${path}\n`)
        .join(""),
    );
  }
  return Buffer.from(zipSync(files));
}

function flipped(files: Record<string, Uint8Array>, path: string, at = 10): void {
  const copy = Buffer.from(files[path]!);
  at %= copy.length;
  copy[at] = copy[at]! ^ 0x01;
  files[path] = copy;
}

function failures(report: EvidencePackageReport): Array<[string, string]> {
  return report.items.filter((item) => item.status !== "ok").map((item) => [item.item, item.reason]);
}

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), "cb-evidence-"));
  [pki, other] = await Promise.all([createPki("p-256"), createPki("p-256")]);
  tsaCertificate = pki.tsa.certificate;

  // As services seal: the police Sealer time-stamps with the platform TSA (CAdES-B-T); a plain one does not.
  const police = new Sealer(credentialOf(pki, "police"));
  const stampingPolice = new Sealer(credentialOf(pki, "police"), undefined, stamperOf(pki));
  const contents = [Buffer.from("%PDF-1.7 起诉意见书 recommendation for prosecution"), Buffer.from("\x89PNG scene photo")];
  const manifest = buildManifest(
    { bundleId: transferId, caseId: "320582-2026-00042", sender: Agency.AGENCY_POLICE, recipient: Agency.AGENCY_PROSECUTION, createdAt: new Date() },
    [
      { documentId: "d-1", title: "起诉意见书", documentType: "recommendation-for-prosecution", mediaType: "application/pdf", content: contents[0]! },
      { documentId: "../photo 2", title: "现场照片 / ../../etc/passwd", documentType: "photo", mediaType: "image/png", content: contents[1]! },
    ],
  );
  // The manifest seal and the photo's seal carry a time-stamp token; the first document's does not.
  const sealed = await sealManifest(stampingPolice, manifest);
  const documentSeals = [await police.seal(contents[0]!), await stampingPolice.seal(contents[1]!)];

  const credential = credentialOf(pki, "prosecution");
  const receipt = (state: transfer.TransferState, id: string): Buffer => {
    const event = transfer.TransferEvent.encode({
      eventId: id,
      transferId,
      from: Agency.AGENCY_PROSECUTION,
      to: Agency.AGENCY_POLICE,
      at: new Date(),
      actor: "prosecutor.zhao",
      status: { state, submission: 1, verification: undefined, returnReason: 0, returnNote: "", sequence: 1, bundleId: `${transferId}:b1` },
    }).finish();
    const content = Buffer.from(
      trust.EnvelopeContent.encode({
        envelopeId: id,
        from: Agency.AGENCY_PROSECUTION,
        to: Agency.AGENCY_POLICE,
        payloadType: "casebridge.transfer.v1.TransferEvent",
        subjectId: transferId,
        signedAt: new Date(),
        payload: event,
      }).finish(),
    );
    const signature = credential.key.sign(content) as Buffer;
    return Buffer.from(trust.SignedEnvelope.encode({ content, signature, certificate: credential.chain[0]!.der }).finish());
  };

  input = {
    transferId,
    caseNumber: "320582-2026-00042",
    sender: "police",
    recipient: "prosecution",
    purpose: "TRANSFER_PURPOSE_PROSECUTION_REVIEW",
    exportedAt: new Date(Math.floor(Date.now() / 1000) * 1000 + 60_000),
    manifest: { bytes: sealed.manifest, seal: sealed.manifestSeal },
    documents: [
      { documentId: "d-1", title: "起诉意见书", mediaType: "application/pdf", content: contents[0]!, seal: documentSeals[0]! },
      { documentId: "../photo 2", title: "现场照片 / ../../etc/passwd", mediaType: "image/png", content: contents[1]!, seal: documentSeals[1]! },
    ],
    caCertificates: [pki.root.certificate.der, ...Object.values(pki.agencies).map((part) => part.ca.certificate.der), tsaCertificate.der],
    crls: [...pki.crls],
    receipts: [
      { label: "01-received", envelope: receipt(transfer.TransferState.TRANSFER_STATE_RECEIVED, "env-1") },
      { label: "02-accepted", envelope: receipt(transfer.TransferState.TRANSFER_STATE_ACCEPTED, "env-2") },
    ],
  };
  zip = await buildEvidencePackage(input);
}, 60_000);

afterAll(() => rmSync(work, { recursive: true, force: true }));

describe("the evidence package", () => {
  it("holds every part under safe names derived from ids, never from titles, and is the same bytes for the same input", async () => {
    const names = Object.keys(unzipSync(zip));
    expect(names).toEqual(expect.arrayContaining([
      "README.txt",
      "index.json",
      "SHA256SUMS",
      "manifest/manifest.bin",
      "manifest/manifest.p7s",
      "manifest/manifest.json",
      "documents/d-1.pdf",
      "documents/d-1.pdf.p7s",
      "timestamps/manifest.tst",
      "timestamps/manifest.sigvalue",
      "pki/root.pem",
      "pki/ca-chain.pem",
      "pki/crls.pem",
      "pki/root-and-crls.pem",
      "receipts/01-received.content.bin",
      "receipts/01-received.sig",
      "receipts/01-received.cert.pem",
      "receipts/01-received.pubkey.pem",
      "receipts/01-received.json",
      "receipts/01-received.envelope.bin",
    ]));
    const photo = names.find((name) => name.endsWith(".png"))!;
    expect(photo).toMatch(/^documents\/photo_2-[0-9a-f]{8}\.png$/);
    expect(names).toContain(`timestamps/${photo.slice("documents/".length, -4)}.tst`);
    expect(names.filter((name) => name.startsWith("pki/crls/") && name.endsWith(".crl"))).toEqual(expect.arrayContaining(["pki/crls/01-casebridge-root-ca.crl", "pki/crls/02-casebridge-police-ca.crl"]));
    expect(names.filter((name) => name.startsWith("pki/crls/"))).toHaveLength(6);
    expect(names.every((name) => unsafePathReason(name) === undefined && /^[A-Za-z0-9._/-]+$/.test(name))).toBe(true);
    expect((await buildEvidencePackage(input)).equals(zip)).toBe(true);
    // The TSA certificate reaches pki/ca-chain.pem from the input, or else from the tokens that carry it.
    const withoutTsa = unzipSync(await buildEvidencePackage({ ...input, caCertificates: input.caCertificates.filter((der) => !der.equals(tsaCertificate.der)) }));
    expect(Buffer.from(withoutTsa["pki/ca-chain.pem"]!).equals(Buffer.from(unzipSync(zip)["pki/ca-chain.pem"]!))).toBe(true);
    const receiptJson = JSON.parse(Buffer.from(unzipSync(zip)["receipts/02-accepted.json"]!).toString()) as Record<string, unknown>;
    expect(receiptJson).toMatchObject({ envelopeId: "env-2", from: "AGENCY_PROSECUTION", payloadType: "casebridge.transfer.v1.TransferEvent", payloadDecoded: { status: { state: "TRANSFER_STATE_ACCEPTED" } } });
  });

  it("verifies with the README's own commands: sha256sum -c, openssl cms, openssl ts, openssl dgst, openssl verify", () => {
    const dir = unzipTo(zip, "good");
    const commands = readmeCommands(dir);
    expect(commands.filter((command) => command.startsWith("openssl cms -verify"))).toHaveLength(3);
    expect(commands.filter((command) => command.startsWith("openssl ts -verify"))).toHaveLength(2);
    expect(commands.filter((command) => command.startsWith("openssl dgst -sha256 -verify"))).toHaveLength(2);
    expect(commands).toContain("sha256sum -c SHA256SUMS");
    const runs = commands.map((command) => ({ command, ...sh(command, dir) }));
    expect(runs.filter((run) => run.status !== 0)).toEqual([]);
    for (const run of runs.filter(({ command }) => command.startsWith("openssl ts -verify"))) expect(run.output).toContain("Verification: OK");
    // The chain file holds every CA and the TSA certificate.
    const chainPem = readFileSync(join(dir, "pki/ca-chain.pem"), "utf8");
    expect(chainPem).toContain(tsaCertificate.x509.toString());
    expect(chainPem.match(/BEGIN CERTIFICATE/g)).toHaveLength(input.caCertificates.length);
    const fingerprint = sh("openssl x509 -in pki/root.pem -noout -fingerprint -sha256", dir).output;
    expect(fingerprint.replace(/:/g, "").toLowerCase()).toContain(pki.root.certificate.sha256.toString("hex"));
    expect(readFileSync(join(dir, "README.txt"), "utf8")).toContain("Trust in the root must be established out of band");
  });

  it.each([
    ["a document", (files: string[]) => files.find((name) => name === "documents/d-1.pdf")!],
    ["a receipt's content", () => "receipts/01-received.content.bin"],
    ["the manifest", () => "manifest/manifest.bin"],
    ["a time-stamped signature value", () => "timestamps/manifest.sigvalue"],
  ])("fails the README's commands when one byte of %s changes", (_what, pick) => {
    const dir = unzipTo(zip, `tampered-${readdirSync(work).length}`);
    const path = pick(Object.keys(unzipSync(zip)));
    flipFile(dir, path, path.endsWith(".sigvalue") ? 5 : 20);
    // The grep lines that read manifest.bin check a document's hash; a change elsewhere in the manifest is the seal's to catch.
    const about = readmeCommands(dir).filter((command) => command.includes(path) && !(path === "manifest/manifest.bin" && command.startsWith("grep")));
    expect(about.length).toBeGreaterThan(0);
    for (const command of about) expect({ command, status: sh(command, dir).status }).not.toMatchObject({ status: 0 });
    expect(sh("sha256sum -c SHA256SUMS", dir).status).not.toBe(0);
  });

  it("verifyEvidencePackage checks every part with the kit's verifiers and says which root to compare", () => {
    const report = verifyEvidencePackage(zip);
    expect(failures(report)).toEqual([]);
    expect(report).toMatchObject({ ok: true, transferId, caseNumber: "320582-2026-00042", sender: "police", recipient: "prosecution" });
    expect(report.checkedAt).toEqual(input.exportedAt);
    expect(report.roots).toEqual([{ subject: pki.root.certificate.subject, sha256: pki.root.certificate.sha256.toString("hex") }]);
    expect(report.trustNote).toContain("out of band");
    const kinds = new Set(report.items.map((item) => item.kind));
    expect([...kinds].sort()).toEqual(["checksums", "document", "index", "manifest", "pki", "receipt", "timestamp"]);
    expect(report.items.filter((item) => item.kind === "timestamp").map((item) => item.reason)).toEqual([
      expect.stringMatching(/^time-stamped at \d{4}-.+ by CN=CaseBridge Time-Stamp Authority,OU=platform/),
      expect.stringMatching(/^time-stamped at /),
    ]);
    // The kit's SealVerifier verified the same tokens inside the seals, and reports their time.
    const manifestItem = report.items.find((item) => item.item === "manifest/manifest.p7s")!;
    expect(manifestItem.details).toMatchObject({ timeStampAuthority: tsaCertificate.subject, timeStampTime: report.items.find((item) => item.item === "timestamps/manifest.tst")!.details!.genTime });
    expect(report.items.find((item) => item.item === "documents/d-1.pdf")!.details!.timeStampTime).toBeUndefined();
    expect(report.items.find((item) => item.item === "receipts/02-accepted.content.bin")).toMatchObject({
      status: "ok",
      details: { from: "AGENCY_PROSECUTION", subjectId: transferId, payloadType: "casebridge.transfer.v1.TransferEvent" },
    });
    const text = formatEvidenceReport(report);
    expect(text).toMatch(/^证据包核验通过 \/ evidence package VERIFIED/);
    expect(text).toContain(pki.root.certificate.sha256.toString("hex").toUpperCase().match(/../g)!.join(":"));
  });

  it("names the precise item after any byte change, even when SHA256SUMS was recomputed", () => {
    const photo = Object.keys(unzipSync(zip)).find((name) => name.endsWith(".png"))!;
    const cases: Array<[string, string, RegExp]> = [
      ["documents/d-1.pdf", "documents/d-1.pdf", /differ from the manifest.*MANIFEST_MISMATCH/],
      [photo, photo, /MANIFEST_MISMATCH/],
      ["manifest/manifest.bin", "manifest/manifest.p7s", /does not match the sealed digest/],
      ["receipts/01-received.content.bin", "receipts/01-received.content.bin", /does not verify over the content/],
      ["receipts/02-accepted.sig", "receipts/02-accepted.content.bin", /does not verify/],
      ["timestamps/manifest.tst", "timestamps/manifest.tst", /not the one manifest\/manifest.p7s carries/],
      ["pki/root-and-crls.pem", "pki/root-and-crls.pem", /not exactly/],
    ];
    for (const [changed, item, reason] of cases) {
      const report = verifyEvidencePackage(repack(zip, (files) => flipped(files, changed, changed === "receipts/02-accepted.sig" ? 12 : 30)));
      expect({ changed, ok: report.ok }).toEqual({ changed, ok: false });
      const expected: unknown = expect.arrayContaining([[item, expect.stringMatching(reason)]]);
      expect({ changed, failures: failures(report) }).toEqual({ changed, failures: expected });
    }
    const unsummed = verifyEvidencePackage(repack(zip, (files) => flipped(files, "documents/d-1.pdf"), true));
    expect(failures(unsummed)).toEqual(expect.arrayContaining([["documents/d-1.pdf", "SHA-256 differs from SHA256SUMS: the file was changed"]]));
  });

  it("refuses smuggled files, path traversal, absolute paths and oversized or too many entries", () => {
    const smuggled = verifyEvidencePackage(repack(zip, (files) => {
      files["documents/extra.pdf"] = Buffer.from("%PDF unsealed");
    }));
    expect(failures(smuggled)).toEqual([["documents/extra.pdf", "unexpected file: not part of the package's index"]]);

    const evil = repack(zip, (files) => {
      files["../evil.txt"] = Buffer.from("x");
      files["/etc/cron.d/evil"] = Buffer.from("x");
      files["documents/../../up.txt"] = Buffer.from("x");
      files["C:/Windows/evil.txt"] = Buffer.from("x");
    }, true);
    const report = verifyEvidencePackage(evil);
    expect(report.ok).toBe(false);
    expect(failures(report)).toEqual(expect.arrayContaining([
      ['"../evil.txt"', "refused entry: path traversal (..)"],
      ['"/etc/cron.d/evil"', "refused entry: absolute path"],
      ['"documents/../../up.txt"', "refused entry: path traversal (..)"],
      ['"C:/Windows/evil.txt"', "refused entry: absolute path"],
    ]));

    // A bomb: one small entry whose central directory claims 4 GiB.
    const bomb = Buffer.from(zipSync({ "a.txt": Buffer.alloc(1000) }));
    const central = bomb.indexOf(Buffer.from([0x50, 0x4b, 0x01, 0x02]));
    bomb.writeUInt32LE(0xfffffff0, central + 24);
    expect(failures(verifyEvidencePackage(bomb))).toEqual([["(archive)", `refused: more than ${EVIDENCE_PACKAGE_LIMITS.maxTotalBytes} bytes uncompressed`]]);
    const many: Record<string, Uint8Array> = {};
    for (let i = 0; i <= EVIDENCE_PACKAGE_LIMITS.maxEntries; i++) many[`f/${i}.txt`] = new Uint8Array(0);
    expect(failures(verifyEvidencePackage(Buffer.from(zipSync(many, { level: 0 }))))).toEqual([["(archive)", `refused: more than ${EVIDENCE_PACKAGE_LIMITS.maxEntries} entries`]]);
    expect(failures(verifyEvidencePackage(Buffer.from("not a zip at all")))[0]![1]).toMatch(/^not a readable ZIP archive/);
  });

  it("trusts only the root it is given, and judges revocation at the time it is asked to", () => {
    const foreign = verifyEvidencePackage(zip, { roots: [other.root.certificate] });
    expect(foreign.ok).toBe(false);
    expect(failures(foreign)).toEqual(expect.arrayContaining([
      ["pki/root.pem", `the package's root ${pki.root.certificate.subject} is not the root you trust`],
      ["manifest/manifest.p7s", expect.stringMatching(/UNTRUSTED_CHAIN/)],
      ["receipts/01-received.content.bin", expect.stringMatching(/no path from .* to a trusted root/)],
    ]));
    expect(verifyEvidencePackage(zip, { roots: [pki.root.certificate] }).ok).toBe(true);
    const later = verifyEvidencePackage(zip, { clock: () => new Date(input.exportedAt.getTime() + 90 * 86_400_000) });
    expect(later.ok).toBe(false);
    expect(later.items.find((item) => item.item === "documents/d-1.pdf")).toMatchObject({ status: "indeterminate", reason: expect.stringMatching(/expired/) as string });
  });

  it("fails OpenSSL and the kit alike when the CRL in force revokes the sender's seal certificate before the time-stamp", async () => {
    const police = pki.agencies.police;
    const crlAt = new Date(input.exportedAt.getTime() - 20_000);
    const revoking = async (revokedAt: Date): Promise<Buffer> => {
      const crl = await issueCaCrl(police.ca, 2n, [{ serial: police.sealCertificate.certificate.serial, revokedAt }], crlAt);
      return buildEvidencePackage({ ...input, crls: [pki.crls[0]!, crl, ...pki.crls.slice(2)] });
    };
    // Revoked before anything was sealed: every seal of the certificate fails, time-stamped or not.
    const revoked = await revoking(new Date(police.sealCertificate.certificate.notBefore.getTime() + 1000));
    const report = verifyEvidencePackage(revoked);
    expect(failures(report)).toEqual(expect.arrayContaining([
      ["manifest/manifest.p7s", expect.stringMatching(/revoked at .*, before the time-stamp's .*CERTIFICATE_REVOKED/)],
      ["documents/d-1.pdf", expect.stringMatching(/CERTIFICATE_REVOKED/)],
    ]));
    const dir = unzipTo(revoked, "revoked");
    const manifestCheck = readmeCommands(dir).find((command) => command.startsWith("openssl cms -verify") && command.includes("manifest/manifest.p7s"))!;
    const run = sh(manifestCheck, dir);
    expect(run.status).not.toBe(0);
    expect(run.output).toContain("certificate revoked");
    // The receipts were signed by the prosecution and the tokens by the TSA: untouched by the police CA's CRL.
    expect(report.items.find((item) => item.item === "receipts/01-received.content.bin")?.status).toBe("ok");
    expect(report.items.filter((item) => item.kind === "timestamp").map((item) => item.status)).toEqual(["ok", "ok"]);

    // Revoked after the seals were time-stamped: the time-stamped seals stay valid (CAdES-T), the plain one does not.
    const later = verifyEvidencePackage(await revoking(new Date(input.exportedAt.getTime() - 30_000)));
    expect(failures(later)).toEqual([["documents/d-1.pdf", expect.stringMatching(/CERTIFICATE_REVOKED/)]]);
    expect(Buffer.from(unzipSync(zip)["README.txt"]!).toString()).toContain("OpenSSL does not take the time-stamp into account");
  });

  it("fails OpenSSL and the kit alike when the root's CRL revokes the time-stamp authority", async () => {
    const at = new Date(input.exportedAt.getTime() - 20_000);
    const crl = await issueCaCrl(pki.root, 2n, [{ serial: tsaCertificate.serial, revokedAt: at }], at);
    const revoked = await buildEvidencePackage({ ...input, crls: [crl, ...pki.crls.slice(1)] });
    const report = verifyEvidencePackage(revoked);
    expect(failures(report)).toEqual(expect.arrayContaining([
      ["manifest/manifest.p7s", expect.stringMatching(/time-stamp authority .* was revoked.*TIME_STAMP_UNTRUSTED/)],
      ["timestamps/manifest.tst", `the time-stamp authority ${tsaCertificate.subject} was revoked at ${at.toISOString()}`],
    ]));
    expect(report.items.find((item) => item.item === "documents/d-1.pdf")?.status).toBe("ok");
    const dir = unzipTo(revoked, "tsa-revoked");
    const tokenChecks = readmeCommands(dir).filter((command) => command.startsWith("openssl ts -verify"));
    expect(tokenChecks).toHaveLength(2);
    for (const command of tokenChecks) expect(sh(command, dir).output).toContain("certificate revoked");
  });

  it("names the token and the seal when a seal is time-stamped by a TSA outside the platform", async () => {
    const foreign = new Sealer(credentialOf(pki, "police"), undefined, stamperOf(other));
    const seal = await foreign.seal(input.manifest.bytes);
    const zipped = await buildEvidencePackage({ ...input, manifest: { ...input.manifest, seal } });
    const report = verifyEvidencePackage(zipped);
    const untrusted = `${other.tsa.certificate.subject} is not issued by a trusted root`;
    expect(failures(report)).toEqual(expect.arrayContaining([
      ["manifest/manifest.p7s", `${untrusted} (TIME_STAMP_UNTRUSTED)`],
      ["timestamps/manifest.tst", untrusted],
    ]));
    expect(report.items.filter((item) => item.kind === "timestamp").map((item) => [item.item, item.status])).toEqual([
      ["timestamps/manifest.tst", "failed"],
      [expect.stringMatching(/^timestamps\/photo_2-/), "ok"],
    ]);
    const dir = unzipTo(zipped, "foreign-tsa");
    const manifestToken = readmeCommands(dir).find((command) => command.startsWith("openssl ts -verify -in timestamps/manifest.tst"))!;
    expect(sh(manifestToken, dir).status).not.toBe(0);
  });

  it("works without any time-stamp token, and refuses a receipt signed by another agency than it claims", async () => {
    const police = new Sealer(credentialOf(pki, "police"));
    const plain = await buildEvidencePackage({
      ...input,
      manifest: { ...input.manifest, seal: await police.seal(input.manifest.bytes) },
      documents: await Promise.all(input.documents.map(async (document) => ({ ...document, seal: await police.seal(document.content) }))),
      receipts: [],
    });
    expect(failures(verifyEvidencePackage(plain))).toEqual([]);
    expect(Object.keys(unzipSync(plain)).some((name) => name.startsWith("timestamps/"))).toBe(false);
    expect(Buffer.from(unzipSync(plain)["README.txt"]!).toString()).toContain("carry no time-stamp token");

    const court = credentialOf(pki, "court");
    const content = trust.EnvelopeContent.decode(trust.SignedEnvelope.decode(input.receipts[0]!.envelope).content);
    const forgedContent = Buffer.from(trust.EnvelopeContent.encode(content).finish());
    const forged = Buffer.from(trust.SignedEnvelope.encode({ content: forgedContent, signature: court.key.sign(forgedContent) as Buffer, certificate: court.chain[0]!.der }).finish());
    const wrongSigner = verifyEvidencePackage(await buildEvidencePackage({ ...input, receipts: [{ label: "01-received", envelope: forged }] }));
    expect(failures(wrongSigner)).toEqual([["receipts/01-received.content.bin", expect.stringMatching(/OU=court.* claims to come from AGENCY_PROSECUTION/)]]);
  });
});

describe("time-stamp tokens in seals", () => {
  it("are located byte for byte where parseSeal finds them, and verified by the kit's one RFC 3161 check", () => {
    const seal = input.manifest.seal;
    const cut = (bytes: Buffer, range: { offset: number; length: number }): Buffer => bytes.subarray(range.offset, range.offset + range.length);
    const parsed = parseSeal(seal);
    const found = locateSealTimeStamp(seal);
    expect(found.signatureValue).toEqual(parsed.signature);
    expect(cut(seal, found.signatureRange)).toEqual(found.signatureValue);
    expect(found.token!.der).toEqual(parsed.timeStampToken);
    expect(cut(seal, found.token!.range)).toEqual(found.token!.der);
    const revocations = new RevocationRegistry([pki.root.certificate]);
    revocations.apply(pki.crls[0]!);
    const check = { expectedImprint: hash("sha256", found.signatureValue, "buffer"), roots: [pki.root.certificate], revocations, now: input.exportedAt };
    expect(verifyTimeStampToken(found.token!.der, check)).toMatchObject({ authority: { subject: tsaCertificate.subject } });
    const otherValue = Buffer.from(found.signatureValue);
    otherValue[3] = otherValue[3]! ^ 1;
    expect(() => verifyTimeStampToken(found.token!.der, { ...check, expectedImprint: hash("sha256", otherValue, "buffer") })).toThrow(/another message imprint/);

    const plainSeal = input.documents[0]!.seal;
    const plain = locateSealTimeStamp(plainSeal);
    expect(plain.token).toBeUndefined();
    expect(cut(plainSeal, plain.signatureRange)).toEqual(parseSeal(plainSeal).signature);
    expect(() => locateSealTimeStamp(Buffer.from("junk"))).toThrow(SealFormatError);
  });

  it("unsafePathReason accepts plain relative names only", () => {
    expect(unsafePathReason("documents/d-1.pdf")).toBeUndefined();
    expect(["", "../x", "a/../b", "/abs", "a\\b", "a//b", "./a", "C:x", "a\u0000b", "__proto__"].map((name) => unsafePathReason(name) !== undefined)).toEqual(Array(10).fill(true));
  });
});

