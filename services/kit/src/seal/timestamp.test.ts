import { spawnSync } from "node:child_process";
import { hash } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { SEAL_ALGORITHMS, type SealAlgorithm } from "./algorithms";
import { ExtendedKeyUsageOid } from "./certificate";
import { CASEBRIDGE_OID_ARC } from "./cms";
import { readTop, Tag, tlv, encodeOid, childrenOf } from "./der";
import { createPki, issueCaCrl, issueSealCertificate, keySigner, type Pki } from "./pki";
import { RevocationRegistry } from "./revocation";
import {
  buildTimeStampRequest,
  decodeGeneralizedTime,
  encodeGeneralizedTime,
  parseTimeStampRequest,
  parseTimeStampResponse,
  parseTimeStampToken,
  PkiStatus,
  requestTimeStamp,
  TimeStampAuthority,
  TimeStampConfigError,
  TimeStampError,
  TimeStampOid,
  verifyTimeStampToken,
  type TimeStampTransport,
} from "./timestamp";

const pkis = new Map<SealAlgorithm, Pki>();
let work: string;
const FIXED = new Date("2026-01-10T05:06:07.891Z");

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), "cb-tsa-"));
  for (const algorithm of SEAL_ALGORITHMS) pkis.set(algorithm, await createPki(algorithm, new Date("2026-01-01T00:00:00Z")));
}, 60_000);

afterAll(() => rmSync(work, { recursive: true, force: true }));

function tsaOf(pki: Pki, clock: () => Date = () => FIXED): TimeStampAuthority {
  return new TimeStampAuthority({ key: keySigner(pki.algorithm, pki.tsa.key), chain: [pki.tsa.certificate, pki.root.certificate], clock });
}

function registryOf(pki: Pki): RevocationRegistry {
  const registry = new RevocationRegistry([pki.root.certificate]);
  registry.apply(pki.crls[0]!);
  return registry;
}

function problemOf(run: () => unknown): string {
  try {
    run();
  } catch (error) {
    return error instanceof TimeStampError ? error.problem : `unexpected ${String(error)}`;
  }
  return "accepted";
}

function openssl(args: string[]): { status: number | null; out: string } {
  const run = spawnSync("openssl", args, { encoding: "utf8" });
  if (run.error) throw run.error;
  return { status: run.status, out: `${run.stdout}${run.stderr}` };
}

describe("GeneralizedTime", () => {
  it("encodes UTC with milliseconds, trailing zeros dropped, and reads it back", () => {
    const cases: Array<[string, string]> = [
      ["2026-01-02T03:04:05.120Z", "20260102030405.12Z"],
      ["2026-01-02T03:04:05.000Z", "20260102030405Z"],
      ["2026-12-31T23:59:59.999Z", "20261231235959.999Z"],
    ];
    for (const [iso, text] of cases) {
      const der = encodeGeneralizedTime(new Date(iso));
      expect(der.subarray(2).toString("latin1")).toBe(text);
      expect(decodeGeneralizedTime(der, readTop(der, Tag.GENERALIZED_TIME)).toISOString()).toBe(iso);
    }
    const trailingZero = tlv(Tag.GENERALIZED_TIME, Buffer.from("20260102030405.10Z"));
    expect(() => decodeGeneralizedTime(trailingZero, readTop(trailingZero, Tag.GENERALIZED_TIME))).toThrow(/not a DER GeneralizedTime/);
  });
});

describe.each(SEAL_ALGORITHMS)("TSA %s", (algorithm) => {
  const data = Buffer.from(`量刑建议书 time-stamped with ${algorithm}\n`);
  const digest = hash("sha256", data, "buffer");

  it("issues a token: TSTInfo v1 under the platform policy, the imprint, a serial, genTime to the ms, the nonce, the TSA certificate on request", async () => {
    const pki = pkis.get(algorithm)!;
    const tsa = tsaOf(pki);
    const request = buildTimeStampRequest(digest, { nonce: Buffer.from("00c0ffee0123", "hex") });
    const response = parseTimeStampResponse(await tsa.respond(request.der));
    expect(response).toMatchObject({ status: PkiStatus.granted, failures: [] });
    const token = parseTimeStampToken(response.token!);
    expect(TimeStampOid.policy.startsWith(`${CASEBRIDGE_OID_ARC}.`)).toBe(true);
    expect(token).toMatchObject({ policy: TimeStampOid.policy, hashedMessage: digest, genTime: FIXED });
    expect(token.nonceDer).toEqual(Buffer.from("020600c0ffee0123", "hex"));
    expect(token.serial).toMatch(/^[0-9A-F]{32}$/);
    expect(token.certificates).toEqual([pki.tsa.certificate.der]);
    const noCert = parseTimeStampToken((await tsa.issue({ ...parseTimeStampRequest(request.der), certReq: false })));
    expect(noCert.certificates).toEqual([]);
    const verified = verifyTimeStampToken(response.token!, { expectedImprint: digest, nonceDer: request.nonceDer, roots: [pki.root.certificate], revocations: registryOf(pki), now: FIXED });
    expect(verified).toMatchObject({ genTime: FIXED, authority: { subject: "CN=CaseBridge Time-Stamp Authority,OU=platform,O=CaseBridge,C=CN" } });
    const serials = new Set<string>();
    for (let i = 0; i < 50; i++) serials.add(parseTimeStampToken(await tsa.issue(parseTimeStampRequest(request.der))).serial);
    expect(serials.size).toBe(50);
  });

  it("is standard RFC 3161: openssl ts -reply -text reads it, openssl ts -verify accepts it and refuses changed data", async () => {
    const pki = pkis.get(algorithm)!;
    const dir = join(work, algorithm);
    spawnSync("mkdir", ["-p", dir]);
    const [file, changed, query, resp, token, chain, tsaPem, noCertResp] = ["doc.txt", "changed.txt", "req.tsq", "resp.tsr", "token.der", "chain.pem", "tsa.pem", "nocert.tsr"].map((n) => join(dir, n)) as [string, string, string, string, string, string, string, string];
    writeFileSync(file, data);
    const altered = Buffer.from(data);
    altered[3] = altered[3]! ^ 0x01;
    writeFileSync(changed, altered);
    writeFileSync(chain, pki.root.certificate.x509.toString() + pki.tsa.certificate.x509.toString());
    writeFileSync(tsaPem, pki.tsa.certificate.x509.toString());
    // A request made by openssl, answered by our TSA (the TSA's clock is now, for openssl's validity checks).
    const tsa = tsaOf(pki, () => new Date());
    expect(openssl(["ts", "-query", "-data", file, "-sha256", "-cert", "-out", query]).status).toBe(0);
    const { readFileSync } = await import("node:fs");
    writeFileSync(resp, await tsa.respond(readFileSync(query)));
    const text = openssl(["ts", "-reply", "-in", resp, "-text"]);
    expect(text.status).toBe(0);
    expect(text.out).toContain("Status: Granted.");
    expect(text.out).toContain(`Policy OID: ${TimeStampOid.policy}`);
    expect(text.out).toMatch(/Nonce: 0x[0-9A-F]+/);
    expect(text.out).toMatch(/Time stamp: \w+ +\d+ \d\d:\d\d:\d\d(\.\d+)? \d{4} GMT/);

    // OpenSSL 3's `ts -verify` checks the signature with its PKCS7 code, which does not apply the SM2
    // signer ID (unlike `cms -verify`), so it refuses every SM2 token; our verifier checks those.
    if (algorithm === "sm2") return;
    const good = openssl(["ts", "-verify", "-in", resp, "-data", file, "-CAfile", chain, "-untrusted", tsaPem]);
    expect(good.out).toContain("Verification: OK");
    expect(openssl(["ts", "-verify", "-in", resp, "-queryfile", query, "-CAfile", chain]).out).toContain("Verification: OK");
    const bad = openssl(["ts", "-verify", "-in", resp, "-data", changed, "-CAfile", chain, "-untrusted", tsaPem]);
    expect(bad.status).not.toBe(0);
    expect(bad.out).toMatch(/message imprint mismatch|Verification: FAILED/);

    // The bare token (as a seal carries it), and a token without the certificate: -untrusted supplies it.
    writeFileSync(token, parseTimeStampResponse(readFileSync(resp)).token!);
    const viaDigest = openssl(["ts", "-verify", "-token_in", "-in", token, "-digest", hash("sha256", data, "hex"), "-CAfile", chain, "-untrusted", tsaPem]);
    expect(viaDigest.out).toContain("Verification: OK");
    writeFileSync(noCertResp, await tsa.respond(buildTimeStampRequest(hash("sha256", data, "buffer"), { certReq: false }).der));
    expect(openssl(["ts", "-verify", "-in", noCertResp, "-data", file, "-CAfile", chain, "-untrusted", tsaPem]).out).toContain("Verification: OK");
    expect(openssl(["ts", "-verify", "-in", noCertResp, "-data", changed, "-CAfile", chain, "-untrusted", tsaPem]).status).not.toBe(0);
  });
});

describe("TSA requests and tokens", () => {
  const digest = hash("sha256", Buffer.from("x"), "buffer");
  const request = (parts: Buffer[]): Buffer => tlv(Tag.SEQUENCE, ...parts);
  const imprint = (oid: string, bytes: Buffer): Buffer => tlv(Tag.SEQUENCE, tlv(Tag.SEQUENCE, encodeOid(oid)), tlv(Tag.OCTET_STRING, bytes));
  const v1 = tlv(Tag.INTEGER, Buffer.of(1));

  it("rejects bad requests with status rejection and the failInfo bit", async () => {
    const tsa = tsaOf(pkis.get("p-256")!);
    const cases: Array<[Buffer, string]> = [
      [Buffer.from("not DER at all"), "badDataFormat"],
      [request([v1]), "badDataFormat"],
      [request([v1, imprint("1.3.14.3.2.26", Buffer.alloc(20))]), "badAlg"],
      [request([v1, imprint("2.16.840.1.101.3.4.2.1", Buffer.alloc(20))]), "badDataFormat"],
      [request([tlv(Tag.INTEGER, Buffer.of(2)), imprint("2.16.840.1.101.3.4.2.1", digest)]), "badRequest"],
      [request([v1, imprint("2.16.840.1.101.3.4.2.1", digest), encodeOid("1.2.3.4")]), "unacceptedPolicy"],
      [request([v1, imprint("2.16.840.1.101.3.4.2.1", digest), tlv(Tag.CONTEXT_0, Buffer.alloc(0))]), "unacceptedExtension"],
      [request([v1, imprint("2.16.840.1.101.3.4.2.1", digest), tlv(Tag.INTEGER, Buffer.of(0, 1))]), "badDataFormat"],
    ];
    for (const [der, failure] of cases) {
      const response = parseTimeStampResponse(await tsa.respond(der));
      expect({ failure, response }).toMatchObject({ failure, response: { status: PkiStatus.rejection, failures: [failure], token: undefined } });
      expect(response.statusText).not.toBe("");
    }
    const rejection = join(work, "rejection.tsr");
    writeFileSync(rejection, await tsa.respond(request([v1, imprint("1.3.14.3.2.26", Buffer.alloc(20))])));
    const text = openssl(["ts", "-reply", "-in", rejection, "-text"]);
    expect(text.out).toContain("Status: Rejected");
    expect(text.out).toContain("unrecognized or unsupported algorithm identifier");
  });

  it("requestTimeStamp sends a nonce and certReq and checks what comes back", async () => {
    const pki = pkis.get("p-256")!;
    const tsa = tsaOf(pki);
    const sent: Buffer[] = [];
    const transport: TimeStampTransport = (der) => {
      sent.push(der);
      return tsa.respond(der);
    };
    const token = await requestTimeStamp(transport, digest);
    const asked = parseTimeStampRequest(sent[0]!);
    expect(asked).toMatchObject({ certReq: true, policy: TimeStampOid.policy, hashedMessage: digest });
    expect(asked.nonceDer).toBeDefined();
    expect(parseTimeStampToken(token).nonceDer).toEqual(asked.nonceDer);
    const other = await tsa.respond(buildTimeStampRequest(digest).der);
    await expect(requestTimeStamp(() => Promise.resolve(other), digest)).rejects.toThrow(/nonce/);
    const rejected = await tsa.respond(Buffer.from("junk"));
    await expect(requestTimeStamp(() => Promise.resolve(rejected), digest)).rejects.toThrow(/refused.*badDataFormat/);
  });

  it("refuses a token for another imprint, with a flipped byte, from an untrusted or revoked TSA", async () => {
    const pki = pkis.get("p-256")!;
    const other = pkis.get("rsa-2048")!;
    const token = await requestTimeStamp((der) => tsaOf(pki).respond(der), digest);
    const check = { expectedImprint: digest, roots: [pki.root.certificate], revocations: registryOf(pki), now: FIXED };
    expect(problemOf(() => verifyTimeStampToken(token, { ...check, expectedImprint: Buffer.alloc(32) }))).toBe("invalid");
    const accepted: number[] = [];
    for (let at = 0; at < token.length; at++) {
      const copy = Buffer.from(token);
      copy[at] = copy[at]! ^ 0x01;
      try {
        verifyTimeStampToken(copy, check);
        accepted.push(at);
      } catch {
        // refused, as it must be
      }
    }
    expect(accepted).toEqual([]);
    expect(problemOf(() => verifyTimeStampToken(token, { ...check, roots: [other.root.certificate] }))).toBe("untrusted");
    const revoked = registryOf(pki);
    revoked.apply(await issueCaCrl(pki.root, 2n, [{ serial: pki.tsa.certificate.serial, revokedAt: new Date(FIXED.getTime() + 1000) }], FIXED));
    expect(() => verifyTimeStampToken(token, { ...check, revocations: revoked })).toThrow(/revoked/);
    expect(problemOf(() => verifyTimeStampToken(token, { ...check, revocations: new RevocationRegistry([pki.root.certificate]) }))).toBe("revocation-unknown");
  });

  it("has a certificate with critical extendedKeyUsage id-kp-timeStamping only, and will not sign with any other", async () => {
    const pki = pkis.get("p-256")!;
    const tsaCertificate = pki.tsa.certificate;
    expect([...tsaCertificate.extendedKeyUsage]).toEqual([ExtendedKeyUsageOid.timeStamping]);
    expect(tsaCertificate.extendedKeyUsageCritical).toBe(true);
    expect(tsaCertificate.isCa).toBe(false);
    expect(tsaCertificate.x509.issuer).toBe(pki.root.certificate.x509.subject);
    const pem = join(work, "tsa-only.pem");
    writeFileSync(pem, tsaCertificate.x509.toString());
    const text = openssl(["x509", "-noout", "-ext", "extendedKeyUsage,keyUsage", "-in", pem]).out;
    expect(text).toMatch(/X509v3 Extended Key Usage: critical\s+Time Stamping/);
    expect(text).toMatch(/Key Usage: critical\s+Digital Signature, Non Repudiation/);
    const seal = pki.agencies.police.sealCertificate;
    expect(() => new TimeStampAuthority({ key: keySigner("p-256", seal.key), chain: [seal.certificate] })).toThrow(TimeStampConfigError);
    const plain = await issueSealCertificate(pki.agencies.police.ca, "police", { validFrom: FIXED, validTo: new Date(FIXED.getTime() + 1e10) });
    expect(plain.certificate.extendedKeyUsage.size).toBe(0);
    const tstInfo = parseTimeStampToken(await tsaOf(pki).issue(parseTimeStampRequest(buildTimeStampRequest(digest).der))).tstInfo;
    expect(childrenOf(tstInfo, readTop(tstInfo, Tag.SEQUENCE))[0]).toMatchObject({ tag: Tag.INTEGER });
  });
});
