import { randomBytes, randomUUID } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { AckPolicy, jetstream, jetstreamManager } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import { Kvm } from "@nats-io/kv";
import { aggregateBucket, bearerMetadata, decodeRecord, devUserToken, natsClient, runSealCli, startService, type TransferServiceSetup } from "@casebridge/kit";
import { common, transfer as pb } from "@casebridge/proto";
import { spec as policeSpec } from "@casebridge/police/spec";
import { spec as prosecutionSpec } from "@casebridge/prosecution/spec";
import { startTimeStampService } from "@casebridge/tsa/service";
import { asOperator, natsEnv } from "../integration/support";

/**
 * `npm run bench:transfer`: bundles of 10 sealed documents (10 KiB each) from police to
 * prosecution, each counted when prosecution has verified every seal and stored the bundle and the
 * police side has recorded RECEIVED (in their JetStream bucket). In the same run, a baseline: raw
 * JetStream publish + consume + one KV write of the same bytes, without seals or logic. Prints one JSON line.
 */
const natsUrl = process.env.BENCH_NATS_URL ?? "nats://127.0.0.1:24222";
const mongoUrl = process.env.BENCH_MONGO_URL ?? "mongodb://127.0.0.1:47017";
const BUNDLES = Number(process.env.BENCH_BUNDLES ?? 300);
const IN_FLIGHT = Number(process.env.BENCH_IN_FLIGHT ?? 64);
const DOCUMENTS = 10;
const DOCUMENT_BYTES = 10 * 1024;

const authIssuer = process.env.BENCH_AUTH_ISSUER ?? "http://127.0.0.1:38180/realms/casebridge";

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? 0;
}

/** Runs `count` tasks with at most `inFlight` at a time; returns each task's latency in ms and the total seconds. */
async function drive(count: number, inFlight: number, task: (i: number) => Promise<void>): Promise<{ latencies: number[]; seconds: number }> {
  const latencies: number[] = [];
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: inFlight }, async () => {
      while (next < count) {
        const i = next++;
        const t = performance.now();
        await task(i);
        latencies.push(performance.now() - t);
      }
    }),
  );
  return { latencies: latencies.sort((a, b) => a - b), seconds: (performance.now() - started) / 1000 };
}

async function benchTransfers(run: string, pkiDir: string): Promise<{ latencies: number[]; seconds: number }> {
  const env = (agency: string) => ({ ...natsEnv(natsUrl), MONGO_URL: mongoUrl, MONGO_DB: `bench_${agency}_${run}`, PKI_DIR: pkiDir, LOG_LEVEL: "warn", GRPC_PORT: "0", AUTH_ISSUER: authIssuer });
  // The police officer opens the cases and the legal unit sends them, each with a real Keycloak token.
  const officer = { metadata: bearerMetadata(await devUserToken(authIssuer, "officer.wang")), timeoutMs: 60_000 };
  const legal = { metadata: bearerMetadata(await devUserToken(authIssuer, "legal.li")), timeoutMs: 60_000 };
  // The platform TSA first: every seal the services make carries its time-stamp.
  const tsa = await startTimeStampService({ ...natsEnv(natsUrl), PKI_DIR: pkiDir, LOG_LEVEL: "warn" });
  const [police, prosecution] = await Promise.all([startService(policeSpec, env("police")), startService(prosecutionSpec, env("prosecution"))]);
  const nc = await connect({ ...asOperator(), servers: natsUrl });
  const cases = natsClient(nc, "police", pb.CaseFileServiceDefinition, 60_000);
  const transfers = natsClient(nc, "police", pb.TransferServiceDefinition, 60_000);
  try {
    process.stderr.write(`[bench] opening ${BUNDLES} cases of ${DOCUMENTS} sealed documents\n`);
    const caseIds = Array.from({ length: BUNDLES }, () => `bench-${randomUUID()}`);
    await drive(BUNDLES, 4, async (i) => {
      const caseId = caseIds[i]!;
      await cases.openCase(
        {
          case: pb.Case.fromPartial({
            caseId,
            caseNumber: `B-${caseId.slice(6)}`,
            kind: pb.CaseKind.CASE_KIND_CRIMINAL,
            offence: "盗窃",
            parties: [{ partyId: "s", role: common.PartyRole.PARTY_ROLE_SUSPECT, name: "某" }],
          }),
          documents: Array.from({ length: DOCUMENTS }, (_, d) => ({ documentId: `doc-${d}`, title: `文书 ${d}`, documentType: "record", mediaType: "application/pdf", content: randomBytes(DOCUMENT_BYTES) })),
        },
        officer,
      );
      await cases.approveCase(pb.ApproveCaseRequest.fromPartial({ caseId }), legal);
    });
    process.stderr.write(`[bench] transferring ${BUNDLES} bundles, ${IN_FLIGHT} in flight\n`);
    const waiting = new Map<string, () => void>();
    const received = new Set<string>();
    // RECEIVED as the police system of record (their JetStream bucket) holds it.
    const watch = await (await new Kvm(nc).open(aggregateBucket("police"))).watch({ key: "transfer.>", include: "updates" });
    void (async () => {
      for await (const entry of watch) {
        if (entry.operation !== "PUT" || entry.length === 0) continue;
        const transfer = pb.Transfer.decode(decodeRecord(entry.value).value);
        if (transfer.state !== pb.TransferState.TRANSFER_STATE_RECEIVED) continue;
        received.add(transfer.transferId);
        waiting.get(transfer.transferId)?.();
      }
    })();
    const result = await drive(BUNDLES, IN_FLIGHT, async (i) => {
      const { transfer } = await transfers.submitTransfer({ caseId: caseIds[i]!, recipient: common.Agency.AGENCY_PROSECUTION, purpose: pb.TransferPurpose.TRANSFER_PURPOSE_PROSECUTION_REVIEW, transferId: "" }, legal);
      const id = transfer!.transferId;
      if (!received.has(id)) await new Promise<void>((resolve) => waiting.set(id, resolve));
    });
    watch.stop();
    const engine = (prosecution.setup as TransferServiceSetup).engine;
    const sample = await Promise.all(caseIds.slice(0, 20).map(async (caseId) => (await engine.list({ agency: common.Agency.AGENCY_PROSECUTION, unit: "320582-PRO" }, pb.ListTransfersRequest.fromPartial({ box: pb.Box.BOX_INBOX, caseId, states: [], pageSize: 1, pageToken: "" }))).transfers[0]));
    if (sample.some((t) => t && t.state === pb.TransferState.TRANSFER_STATE_REJECTED)) throw new Error("bundles were rejected: the benchmark measures valid bundles only");
    return result;
  } finally {
    await nc.close();
    await Promise.all([police.stop(), prosecution.stop()]);
    await tsa.stop();
  }
}

/** The same bytes through JetStream with nothing else: publish, consume, one KV write, ack. */
async function benchBaseline(run: string): Promise<{ latencies: number[]; seconds: number }> {
  const nc = await connect({ ...asOperator(), servers: natsUrl });
  const js = jetstream(nc);
  const jsm = await jetstreamManager(nc);
  const stream = `BENCH_BASELINE_${run}`;
  await jsm.streams.add({ name: stream, subjects: [`bench.${run}.>`] });
  await jsm.consumers.add(stream, { durable_name: "baseline", ack_policy: AckPolicy.Explicit, max_ack_pending: 1000 });
  const kv = await new Kvm(js).create(`bench_baseline_${run}`, { history: 1 });
  const payload = randomBytes(DOCUMENTS * DOCUMENT_BYTES);
  const waiting = new Map<string, () => void>();
  const messages = await (await js.consumers.get(stream, "baseline")).consume({ max_messages: 128 });
  const inFlight = new Set<Promise<void>>();
  const consumer = (async () => {
    for await (const m of messages) {
      while (inFlight.size >= 8) await Promise.race(inFlight);
      const task = (async () => {
        const id = m.headers?.get("Nats-Msg-Id") ?? "";
        await kv.create(`bundle.${id}`, m.data);
        m.ack();
        waiting.get(id)?.();
      })().finally(() => inFlight.delete(task));
      inFlight.add(task);
    }
  })();
  try {
    return await drive(BUNDLES, IN_FLIGHT, async () => {
      const id = randomUUID();
      const received = new Promise<void>((resolve) => waiting.set(id, resolve));
      await js.publish(`bench.${run}.bundle`, payload, { msgID: id });
      await received;
    });
  } finally {
    await messages.close();
    await consumer;
    await jsm.streams.delete(stream);
    await kv.destroy();
    await nc.close();
  }
}

async function main(): Promise<void> {
  const run = randomUUID().slice(0, 8);
  const work = mkdtempSync(path.join(tmpdir(), "cb-bench-"));
  const pkiDir = path.join(work, "pki");
  try {
    if ((await runSealCli(["init", "--dir", pkiDir], {}, () => undefined, (line) => process.stderr.write(`${line}\n`))) !== 0) throw new Error("cannot create the bench PKI");
    const baseline = await benchBaseline(run);
    const transfers = await benchTransfers(run, pkiDir);
    const rate = (r: { latencies: number[]; seconds: number }): number => Math.round((r.latencies.length / r.seconds) * 10) / 10;
    const ms = (n: number): number => Math.round(n * 10) / 10;
    console.log(
      JSON.stringify({
        bundles: BUNDLES,
        documents_per_bundle: DOCUMENTS,
        document_bytes: DOCUMENT_BYTES,
        in_flight: IN_FLIGHT,
        bundles_per_s: rate(transfers),
        p50_ms: ms(percentile(transfers.latencies, 50)),
        p99_ms: ms(percentile(transfers.latencies, 99)),
        baseline_per_s: rate(baseline),
        baseline_p50_ms: ms(percentile(baseline.latencies, 50)),
        baseline_p99_ms: ms(percentile(baseline.latencies, 99)),
        ratio: Math.round((rate(transfers) / rate(baseline)) * 1000) / 1000,
        targets: { bundles_per_s: 300, p99_ms: 250, ratio: 0.333 },
      }),
    );
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    console.error(error);
    process.exit(1);
  },
);
