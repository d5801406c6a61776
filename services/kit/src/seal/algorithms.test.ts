import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { seal as sealPb } from "@casebridge/proto";
import { SEAL_ALGORITHMS, type SealAlgorithm } from "./algorithms";
import { Sealer } from "./cms";
import { createPki, credentialOf, type Pki } from "./pki";
import { RevocationRegistry } from "./revocation";
import { SealVerifier } from "./verifier";

const { VerificationStatus: Status, VerificationFailure: Failure } = sealPb;
const pkis = new Map<SealAlgorithm, Pki>();
let work: string;

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), "cb-seal-"));
  for (const algorithm of SEAL_ALGORITHMS) pkis.set(algorithm, await createPki(algorithm));
}, 60_000);

afterAll(() => rmSync(work, { recursive: true, force: true }));

function opensslVerify(p7s: string, content: string, root: string): { status: number | null; stderr: string } {
  const run = spawnSync("openssl", ["cms", "-verify", "-binary", "-inform", "DER", "-in", p7s, "-content", content, "-CAfile", root, "-out", "/dev/null"], {
    encoding: "utf8",
  });
  if (run.error) throw run.error;
  return { status: run.status, stderr: run.stderr };
}

describe.each(SEAL_ALGORITHMS)("%s", (algorithm) => {
  const document = Buffer.from(`量刑建议书 sealed with ${algorithm}\n`);

  it("round-trips: seals, verifies, and catches a changed document", async () => {
    const pki = pkis.get(algorithm)!;
    const p7s = await new Sealer(credentialOf(pki, "prosecution")).seal(document);
    const revocations = new RevocationRegistry([pki.root.certificate, pki.agencies.prosecution.ca.certificate]);
    for (const crl of [pki.crls[0]!, pki.crls[2]!]) revocations.apply(crl);
    const verifier = new SealVerifier({ roots: [pki.root.certificate], revocations });
    expect(verifier.verify(document, p7s)).toMatchObject({ status: Status.VERIFICATION_STATUS_VALID, algorithm });
    expect(verifier.verify(Buffer.concat([document, Buffer.from(" ")]), p7s).failure).toBe(Failure.VERIFICATION_FAILURE_DIGEST_MISMATCH);
  });

  it("is standard CMS: openssl cms -verify accepts it with the root CA, and refuses a tampered document", async () => {
    const pki = pkis.get(algorithm)!;
    const dir = join(work, algorithm);
    spawnSync("mkdir", ["-p", dir]);
    const [content, tampered, p7s, root] = ["doc.txt", "tampered.txt", "doc.txt.p7s", "root.pem"].map((name) => join(dir, name)) as [string, string, string, string];
    writeFileSync(content, document);
    writeFileSync(tampered, Buffer.from(document.toString().replace("sealed", "SEALED")));
    writeFileSync(p7s, await new Sealer(credentialOf(pki, "court")).seal(document));
    writeFileSync(root, pki.root.certificate.x509.toString());
    const good = opensslVerify(p7s, content, root);
    expect(good.stderr).toContain("Verification successful");
    expect(good.status).toBe(0);
    const bad = opensslVerify(p7s, tampered, root);
    expect(bad.status).not.toBe(0);
    expect(bad.stderr).toMatch(/digest failure|Verification failure/);
  });
});
