import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { X509Certificate } from "node:crypto";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { common } from "@casebridge/proto";
import { unzipSync, zipSync } from "fflate";
import { buildManifest, sealManifest } from "./bundle";
import { CliExit, runSealCli } from "./cli";
import { ExtendedKeyUsageOid, parseCertificate } from "./certificate";
import { Sealer } from "./cms";
import { buildEvidencePackage } from "./evidence-package";
import { createPki, credentialOf } from "./pki";
import { loadSealCredential, loadTrustMaterial, loadTsaCredential, PkiFilesError } from "./pki-files";

let work: string;
let pkiDir: string;

async function cli(args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await runSealCli([...args, "--dir", pkiDir], env, (line) => out.push(line), (line) => err.push(line));
  return { code, out: out.join("\n"), err: err.join("\n") };
}

beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), "cb-seal-cli-"));
  pkiDir = join(work, "pki");
});

afterAll(() => rmSync(work, { recursive: true, force: true }));

describe("npm run seal", () => {
  it("init creates the dev PKI once, with private keys readable by the owner only", async () => {
    const first = await cli(["init"]);
    expect(first).toMatchObject({ code: CliExit.ok, out: expect.stringContaining("created the dev PKI (p-256)") as string });
    expect(statSync(join(pkiDir, "police", "seal.key.pem")).mode & 0o777).toBe(0o600);
    expect(readFileSync(join(pkiDir, "police", "seal.svg"), "utf8")).toContain("某市公安局案件专用章");
    const again = await cli(["init", "--algorithm", "sm2"]);
    expect(again).toMatchObject({ code: CliExit.ok, out: expect.stringContaining("already there (p-256)") as string });
  });

  it("sign writes <file>.p7s; verify prints agency, seal name and signing time and exits 0", async () => {
    const file = join(work, "transfer-notice.txt");
    writeFileSync(file, "移送起诉告知书\n");
    expect((await cli(["sign", "--agency", "police", file])).code).toBe(CliExit.ok);
    expect(readFileSync(`${file}.p7s`)[0]).toBe(0x30);
    const verified = await cli(["verify", file]);
    expect(verified.code).toBe(CliExit.ok);
    expect(verified.out).toMatch(/^VALID\n {2}agency: +police\n {2}seal: +某市公安局案件专用章 \(police-case-seal\)\n {2}signing time: +\d{4}-\d\d-\d\dT/);
    const json = await cli(["verify", file, "--json", "--agency", "police"]);
    expect(JSON.parse(json.out)).toMatchObject({ status: "VERIFICATION_STATUS_VALID", seal: { agency: "AGENCY_POLICE" } });
  });

  it("verify exits 1 with the reason when the document was changed or the seal is not the expected agency's", async () => {
    const file = join(work, "judgment.txt");
    writeFileSync(file, "判决书\n");
    await cli(["sign", "--agency", "court", file]);
    writeFileSync(file, "判决书 (altered)\n");
    const changed = await cli(["verify", file]);
    expect(changed.code).toBe(CliExit.failed);
    expect(changed.out).toContain("INVALID: the document does not match the sealed digest (DIGEST_MISMATCH)");
    writeFileSync(file, "判决书\n");
    expect((await cli(["verify", file, "--agency", "police"])).out).toContain("WRONG_AGENCY");
  });

  it("revoke puts the agency's seal certificate on its CA's CRL, and its seals stop verifying", async () => {
    const file = join(work, "mediation-agreement.txt");
    writeFileSync(file, "调解协议书\n");
    await cli(["sign", "--agency", "notary", file]);
    const revoked = await cli(["revoke", "--agency", "notary", "--no-publish"]);
    expect(revoked).toMatchObject({ code: CliExit.ok, out: expect.stringContaining("CRL number 2") as string });
    const verified = await cli(["verify", file]);
    expect(verified.code).toBe(CliExit.failed);
    expect(verified.out).toContain("CERTIFICATE_REVOKED");
    await expect(loadSealCredential(pkiDir, "notary")).resolves.toBeDefined();
  });

  it("ca prints the root certificate", async () => {
    const ca = await cli(["ca"]);
    expect(ca.out).toMatch(/^-----BEGIN CERTIFICATE-----\n[\s\S]+\n-----END CERTIFICATE-----$/);
  });

  it("says what is wrong on bad usage (exit 2) and on missing files (exit 1)", async () => {
    expect(await cli(["sign", "--agency", "fbi", "x"])).toMatchObject({ code: CliExit.usage, err: expect.stringContaining("--agency must be one of police") as string });
    expect(await cli(["launch"])).toMatchObject({ code: CliExit.usage, err: expect.stringContaining("unknown command launch") as string });
    expect(await cli(["verify", join(work, "nope.txt")])).toMatchObject({ code: CliExit.failed, err: expect.stringContaining("cannot read") as string });
    const empty = await runSealCli(["ca", "--dir", join(work, "none")], {}, () => undefined, () => undefined);
    expect(empty).toBe(CliExit.failed);
  });

  it("init adds the time-stamp authority to a PKI made before it existed, once", async () => {
    const old = join(work, "old-pki");
    const env = { PKI_KEY_PASSPHRASE: "s3cret" };
    const run = async (): Promise<string> => {
      const out: string[] = [];
      expect(await runSealCli(["init", "--dir", old], env, (line) => out.push(line), () => undefined)).toBe(CliExit.ok);
      return out.join("\n");
    };
    await run();
    const first = await loadTsaCredential(old, "s3cret");
    rmSync(join(old, "tsa"), { recursive: true });
    expect((await loadTrustMaterial(old)).timeStampAuthorities).toEqual([]);
    expect(await run()).toContain("added tsa to the PKI");
    const upgraded = await loadTsaCredential(old, "s3cret");
    expect(upgraded.chain[0]!.sha256).not.toEqual(first.chain[0]!.sha256);
    expect(readFileSync(join(old, "tsa", "tsa.key.pem"), "utf8")).toContain("ENCRYPTED PRIVATE KEY");
    expect(statSync(join(old, "tsa", "tsa.key.pem")).mode & 0o777).toBe(0o600);
    expect(await run()).not.toContain("added");
    expect((await loadTrustMaterial(old)).timeStampAuthorities.map((c) => c.sha256)).toEqual([upgraded.chain[0]!.sha256]);
  });

  it("issues TLS certificates under a TLS CA of the root: serverAuth for services, clientAuth for the gateway, SANs of the release", async () => {
    const dir = join(work, "tls-pki");
    expect(await runSealCli(["init", "--dir", dir, "--release", "cbx", "--namespace", "justice"], {}, () => undefined, () => undefined)).toBe(CliExit.ok);
    const root = new X509Certificate(readFileSync(join(dir, "root", "ca.pem")));
    const tlsCa = new X509Certificate(readFileSync(join(dir, "tls", "ca.pem")));
    expect(tlsCa.ca && tlsCa.verify(root.publicKey)).toBe(true);
    const [police, gateway, mongodb] = ["police", "gateway", "mongodb"].map((peer) => parseCertificate(new X509Certificate(readFileSync(join(dir, "tls", `${peer}.pem`))).raw));
    expect([...police!.extendedKeyUsage]).toEqual([ExtendedKeyUsageOid.serverAuth]);
    expect([...gateway!.extendedKeyUsage]).toEqual([ExtendedKeyUsageOid.clientAuth]);
    expect([...police!.keyUsage]).toEqual(["digitalSignature"]);
    expect(police!.x509.subjectAltName).toContain("DNS:cbx-police.justice.svc.cluster.local");
    expect(police!.x509.subjectAltName).toContain("IP Address:127.0.0.1");
    expect(mongodb!.x509.subjectAltName).toContain("DNS:*.cbx-mongodb.justice.svc");
    expect(police!.x509.checkIssued(tlsCa) && police!.x509.verify(tlsCa.publicKey)).toBe(true);
    expect(readFileSync(join(dir, "tls", "police.key.pem"), "utf8")).toContain("BEGIN PRIVATE KEY");
    // Re-issued for another release: new certificates, the same TLS CA.
    expect(await runSealCli(["tls", "--dir", dir, "--release", "other"], {}, () => undefined, () => undefined)).toBe(CliExit.ok);
    expect(new X509Certificate(readFileSync(join(dir, "tls", "police.pem"))).subjectAltName).toContain("DNS:other-police.default.svc");
    expect(new X509Certificate(readFileSync(join(dir, "tls", "ca.pem"))).fingerprint256).toBe(tlsCa.fingerprint256);
    expect(await runSealCli(["tls", "--dir", dir, "--release", "Bad_Name"], {}, () => undefined, () => undefined)).toBe(CliExit.usage);
  });

  it("keeps keys encrypted when a passphrase is set, and names the problem when it is wrong", async () => {
    const secret = join(work, "secret-pki");
    const env = { PKI_KEY_PASSPHRASE: "correct horse" };
    expect((await runSealCli(["init", "--dir", secret], env, () => undefined, () => undefined))).toBe(CliExit.ok);
    expect(readFileSync(join(secret, "court", "seal.key.pem"), "utf8")).toContain("ENCRYPTED PRIVATE KEY");
    await expect(loadSealCredential(secret, "court", "correct horse")).resolves.toBeDefined();
    await expect(loadSealCredential(secret, "court", "wrong")).rejects.toThrow(PkiFilesError);
  });

  it("verify-package exits 0 on a sound evidence package, 1 on a changed one or a foreign root, 2 on bad usage", async () => {
    const [pki, other] = await Promise.all([createPki("p-256"), createPki("p-256")]);
    const police = new Sealer(credentialOf(pki, "police"));
    const content = Buffer.from("%PDF 移送起诉告知书");
    const header = { bundleId: "tr-1", caseId: "c-1", sender: common.Agency.AGENCY_POLICE, recipient: common.Agency.AGENCY_PROSECUTION, createdAt: new Date() };
    const sealed = await sealManifest(police, buildManifest(header, [{ documentId: "d-1", title: "告知书", documentType: "notice", mediaType: "application/pdf", content }]));
    const zip = await buildEvidencePackage({
      transferId: "tr-1",
      caseNumber: "c-1",
      sender: "police",
      recipient: "prosecution",
      purpose: "TRANSFER_PURPOSE_PROSECUTION_REVIEW",
      exportedAt: new Date(),
      manifest: { bytes: sealed.manifest, seal: sealed.manifestSeal },
      documents: [{ documentId: "d-1", title: "告知书", mediaType: "application/pdf", content, seal: await police.seal(content) }],
      caCertificates: [pki.root.certificate.der, ...Object.values(pki.agencies).map((part) => part.ca.certificate.der)],
      crls: pki.crls,
      receipts: [],
    });
    const good = join(work, "evidence.zip");
    writeFileSync(good, zip);
    const verified = await cli(["verify-package", good]);
    expect(verified.code).toBe(CliExit.ok);
    expect(verified.out).toMatch(/^证据包核验通过 \/ evidence package VERIFIED/);
    expect(verified.out).toContain(pki.root.certificate.sha256.toString("hex").toUpperCase().match(/../g)!.join(":"));
    expect(JSON.parse((await cli(["verify-package", good, "--json"])).out)).toMatchObject({ ok: true, transferId: "tr-1" });

    const files = unzipSync(zip);
    const document = files["documents/d-1.pdf"]!;
    document[5] = document[5]! ^ 1;
    const changed = join(work, "changed.zip");
    writeFileSync(changed, zipSync(files));
    const refused = await cli(["verify-package", changed]);
    expect(refused.code).toBe(CliExit.failed);
    expect(refused.out).toContain("[FAIL] documents/d-1.pdf: SHA-256 differs from SHA256SUMS");

    const foreignRoot = join(work, "foreign-root.pem");
    writeFileSync(foreignRoot, other.root.certificate.x509.toString());
    expect((await cli(["verify-package", good, "--root", foreignRoot])).code).toBe(CliExit.failed);
    const ownRoot = join(work, "own-root.pem");
    writeFileSync(ownRoot, pki.root.certificate.x509.toString());
    expect((await cli(["verify-package", good, "--root", ownRoot])).code).toBe(CliExit.ok);

    expect((await cli(["verify-package"])).code).toBe(CliExit.usage);
    expect((await cli(["verify-package", good, good])).code).toBe(CliExit.usage);
    expect(await cli(["verify-package", good, "--root", good])).toMatchObject({ code: CliExit.usage, err: expect.stringContaining("holds no PEM certificate") as string });
    expect(await cli(["verify-package", join(work, "missing.zip")])).toMatchObject({ code: CliExit.failed, err: expect.stringContaining("cannot read") as string });
    expect((await cli(["verify-package", join(work, "judgment.txt")])).code).toBe(CliExit.failed);
  });
});
