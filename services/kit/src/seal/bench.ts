import { rate } from "../bench-rate";
import { hash, randomBytes, sign, verify } from "node:crypto";
import { seal as sealPb } from "@casebridge/proto";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { pino } from "pino";
import { SEAL_ALGORITHMS, suiteOf, type SealAlgorithm } from "./algorithms";
import { parseSeal, Sealer } from "./cms";
import { createPki, credentialOf, keySigner, type Pki } from "./pki";
import { RevocationRegistry } from "./revocation";
import { TimeStampAuthority, timeStamperOf, type TimeStampTransport } from "./timestamp";
import { natsTimeStampTransport, serveTimeStamps } from "./timestamp-nats";
import { SealVerifier } from "./verifier";
import { natsAuthOptions } from "../nats-auth/credentials";

/**
 * `npm run bench:seal`: for each algorithm, seals and verifies one document in a loop and, in the
 * same run and on the same key and document, times bare crypto.sign / crypto.verify as the baseline.
 * Prints one JSON line per algorithm. Targets: seal ≥ 0.9 × raw sign, verify ≥ 0.5 × raw verify.
 * seal_per_s times Sealer.sealSync (like the synchronous crypto.sign it is compared with);
 * seal_async_per_s times Sealer.seal, which also serves asynchronous (KMS) keys. cms_floor_per_s is
 * what any CMS signer with signed attributes must do at least: hash the document, then sign the
 * signed attributes (same size as ours) with native crypto.
 * seal_timestamped_per_s times Sealer.seal with a time-stamper (CAdES-B-T), one at a time, and
 * seal_timestamped_c16_per_s with 16 in flight: through the real NATS round trip to a TSA when
 * BENCH_NATS_URL or NATS_URL is set (the TSA runs in this process, subscribed on that server), else
 * an in-process TSA; `timestamp_transport` says which. verify_timestamped_per_s verifies such a seal.
 */
const DOCUMENT_BYTES = Number(process.env.BENCH_DOCUMENT_BYTES ?? 4096);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 4);
const ROUNDS = 16;

/** Runs `op` with `concurrency` calls in flight for `seconds`; returns completions per second. */
async function rateConcurrent(op: () => Promise<unknown>, seconds: number, concurrency: number): Promise<number> {
  const end = Date.now() + seconds * 1000;
  const start = process.hrtime.bigint();
  let count = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (Date.now() < end) {
        await op();
        count++;
      }
    }),
  );
  return count / (Number(process.hrtime.bigint() - start) / 1e9);
}


async function benchAlgorithm(algorithm: SealAlgorithm, pki: Pki, nc: NatsConnection | undefined): Promise<Record<string, number | string>> {
  const credential = credentialOf(pki, "police");
  const key = pki.agencies.police.sealCertificate.key;
  const publicKey = pki.agencies.police.sealCertificate.certificate.publicKey;
  const digest = suiteOf(algorithm).digest;
  const document = randomBytes(DOCUMENT_BYTES);
  const sealer = new Sealer(credential);
  const revocations = new RevocationRegistry([pki.root.certificate, ...Object.values(pki.agencies).map((a) => a.ca.certificate)]);
  for (const crl of pki.crls) revocations.apply(crl);
  const verifier = new SealVerifier({ roots: [pki.root.certificate], revocations });
  const p7s = await sealer.seal(document);
  const tsa = new TimeStampAuthority({ key: keySigner(algorithm, pki.tsa.key), chain: [pki.tsa.certificate, pki.root.certificate] });
  const server = nc ? serveTimeStamps(nc, tsa, pino({ level: "silent" })) : undefined;
  const transport: TimeStampTransport = nc ? natsTimeStampTransport(nc) : (der) => tsa.respond(der);
  const stamped = new Sealer(credential, undefined, timeStamperOf(transport));
  const stampedP7s = await stamped.seal(document);
  const stampedReport = verifier.verify(document, stampedP7s);
  if (!stampedReport.timeStampTime || stampedReport.status !== sealPb.VerificationStatus.VERIFICATION_STATUS_VALID) {
    throw new Error(`time-stamped benchmark seal does not verify: ${stampedReport.message}`);
  }
  const rawSignature = sign(digest, document, key);
  const report = verifier.verify(document, p7s);
  if (report.status !== sealPb.VerificationStatus.VERIFICATION_STATUS_VALID) throw new Error(`benchmark seal does not verify: ${report.message}`);

  // Interleave rounds so that both sides see the same machine state; keep the best of each.
  const attributesSize = parseSeal(p7s).signedAttributes.length;
  const floorInput = document.subarray(0, attributesSize);
  const best = { seal: 0, sealAsync: 0, rawSign: 0, floor: 0, verify: 0, rawVerify: 0, stamped: 0, stampedC16: 0, verifyStamped: 0 };
  for (let round = 0; round < ROUNDS; round++) {
    best.rawSign = Math.max(best.rawSign, await rate(() => sign(digest, document, key), SECONDS / ROUNDS));
    best.floor = Math.max(best.floor, await rate(() => sign(digest, floorInput, key) && hash(digest, document, "buffer"), SECONDS / ROUNDS));
    best.seal = Math.max(best.seal, await rate(() => sealer.sealSync(document), SECONDS / ROUNDS));
    best.sealAsync = Math.max(best.sealAsync, await rate(() => sealer.seal(document), SECONDS / ROUNDS));
    best.rawVerify = Math.max(best.rawVerify, await rate(() => verify(digest, document, publicKey, rawSignature), SECONDS / ROUNDS));
    best.verify = Math.max(best.verify, await rate(() => verifier.verify(document, p7s), SECONDS / ROUNDS));
    best.stamped = Math.max(best.stamped, await rate(() => stamped.seal(document), SECONDS / ROUNDS));
    best.stampedC16 = Math.max(best.stampedC16, await rateConcurrent(() => stamped.seal(document), SECONDS / ROUNDS, 16));
    best.verifyStamped = Math.max(best.verifyStamped, await rate(() => verifier.verify(document, stampedP7s), SECONDS / ROUNDS));
  }
  await server?.stop();
  const round1 = (n: number): number => Math.round(n);
  const ratio = (a: number, b: number): number => Math.round((a / b) * 1000) / 1000;
  return {
    algorithm,
    document_bytes: DOCUMENT_BYTES,
    seal_bytes: p7s.length,
    seal_per_s: round1(best.seal),
    raw_sign_per_s: round1(best.rawSign),
    sign_ratio: ratio(best.seal, best.rawSign),
    sign_target: 0.9,
    seal_async_per_s: round1(best.sealAsync),
    cms_floor_per_s: round1(best.floor),
    verify_per_s: round1(best.verify),
    raw_verify_per_s: round1(best.rawVerify),
    verify_ratio: ratio(best.verify, best.rawVerify),
    verify_target: 0.5,
    timestamp_transport: nc ? `nats (${nc.getServer()})` : "in-process",
    seal_timestamped_bytes: stampedP7s.length,
    seal_timestamped_per_s: round1(best.stamped),
    seal_timestamped_c16_per_s: round1(best.stampedC16),
    verify_timestamped_per_s: round1(best.verifyStamped),
  };
}

async function main(): Promise<void> {
  const only = process.argv.slice(2);
  const natsUrl = process.env.BENCH_NATS_URL ?? process.env.NATS_URL;
  const nc = natsUrl ? await connect({ ...natsAuthOptions("operator"), servers: natsUrl, timeout: 3000 }) : undefined;
  try {
    for (const algorithm of SEAL_ALGORITHMS) {
      if (only.length > 0 && !only.includes(algorithm)) continue;
      const pki = await createPki(algorithm);
      console.log(JSON.stringify(await benchAlgorithm(algorithm, pki, nc)));
    }
  } finally {
    await nc?.close();
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
