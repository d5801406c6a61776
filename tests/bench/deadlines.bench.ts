import type { ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { AckPolicy, DeliverPolicy, jetstream, jetstreamManager, type JetStreamClient } from "@nats-io/jetstream";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { ensureTimerStream, setSchedule, timerStream, timerFiredSubject, timerScheduleSubject } from "@casebridge/kit";
import { asOperator, startNats } from "../integration/support";

/**
 * `npm run bench:deadlines`: 100,000 statutory-deadline timers as server-side schedules (ADR-51,
 * the runtime's own `setSchedule`), fired into the timer stream by nats-server and consumed by a
 * durable consumer; nats-server is killed (-9) and restarted while they fire. Reports the firing
 * delay (consumed - due), and how many were lost or fired twice. Baseline in the same run: the same
 * count of messages published by an in-process timer (setTimeout) at their due time, no restart.
 */
const TIMERS = Number(process.env.BENCH_TIMERS ?? 100_000);
const WINDOW_MS = Number(process.env.BENCH_WINDOW_MS ?? 30_000);
const LEAD_MS = Number(process.env.BENCH_LEAD_MS ?? 45_000);
const port = Number(process.env.BENCH_NATS_PORT ?? 24322);
const url = `nats://127.0.0.1:${port}`;

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? 0;
}

/** The platform's nats-server, with its authorization (tests/integration/support.ts startNats). */
function startServer(storeDir: string): Promise<ChildProcess> {
  return startNats(port, storeDir);
}

async function stopServer(server: ChildProcess): Promise<void> {
  if (server.exitCode !== null) return;
  const exited = new Promise((resolve) => server.once("exit", resolve));
  server.kill("SIGTERM");
  await exited;
}

/** Consumes `filter` durably, recording per timer id the stream sequences that carried it and the delay after its due time. */
async function collect(js: JetStreamClient, stream: string, durable: string, filter: string) {
  const jsm = await js.jetstreamManager();
  await jsm.consumers.add(stream, { durable_name: durable, filter_subject: filter, ack_policy: AckPolicy.Explicit, deliver_policy: DeliverPolicy.All, max_ack_pending: 20_000, ack_wait: 30_000_000_000 });
  const sequences = new Map<string, Set<number>>();
  const delays: number[] = [];
  const messages = await (await js.consumers.get(stream, durable)).consume({ max_messages: 2000 });
  const loop = (async () => {
    for await (const m of messages) {
      const [id, due] = new TextDecoder().decode(m.data).split(" ");
      let seen = sequences.get(id!);
      if (!seen) {
        seen = new Set();
        sequences.set(id!, seen);
        delays.push(Date.now() - Number(due));
      }
      seen.add(m.seq);
      m.ack();
    }
  })();
  return {
    sequences,
    delays,
    stop: async () => {
      await messages.close();
      await loop;
    },
  };
}

function summary(delays: number[], sequences: Map<string, Set<number>>) {
  const sorted = [...delays].sort((a, b) => a - b);
  return {
    fired: sequences.size,
    lost: TIMERS - sequences.size,
    doubled: [...sequences.values()].filter((s) => s.size > 1).length,
    early: sorted.filter((d) => d < 0).length,
    delay_p50_ms: Math.round(percentile(sorted, 50)),
    delay_p99_ms: Math.round(percentile(sorted, 99)),
    delay_max_ms: Math.round(sorted.at(-1) ?? 0),
  };
}

async function waitFor(done: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!done() && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 250));
}

async function scheduled(storeDir: string): Promise<ReturnType<typeof summary> & { schedule_per_s: number; restarted_at_fired: number }> {
  let server = await startServer(storeDir);
  const nc: NatsConnection = await connect({ ...asOperator(), servers: url, maxReconnectAttempts: -1, reconnectTimeWait: 100 });
  try {
    const js = jetstream(nc);
    await ensureTimerStream(await jetstreamManager(nc), "bench");
    const fired = await collect(js, timerStream("bench"), "bench-fired", timerFiredSubject("bench", "*"));
    const start = Date.now() + LEAD_MS;
    const began = performance.now();
    let next = 0;
    await Promise.all(
      Array.from({ length: 256 }, async () => {
        while (next < TIMERS) {
          const i = next++;
          const due = start + Math.floor((i / TIMERS) * WINDOW_MS);
          const id = `t${i}`;
          await setSchedule(js, timerScheduleSubject("bench", id), new TextEncoder().encode(`${id} ${due}`), `bench-${id}`, new Date(due), timerFiredSubject("bench", id));
        }
      }),
    );
    const schedulePerS = Math.round(TIMERS / ((performance.now() - began) / 1000));
    process.stderr.write(`[bench] ${TIMERS} schedules set (${schedulePerS}/s); they fire from +${Math.round((start - Date.now()) / 1000)} s over ${WINDOW_MS / 1000} s\n`);
    if (Date.now() > start) process.stderr.write("[bench] warning: scheduling took longer than the lead time; raise BENCH_LEAD_MS\n");
    // Kill -9 nats-server half-way through the firing window, restart it at once.
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, start + WINDOW_MS / 2 - Date.now())));
    const restartedAt = fired.sequences.size;
    server.kill("SIGKILL");
    await new Promise((resolve) => server.once("exit", resolve));
    server = await startServer(storeDir);
    process.stderr.write(`[bench] nats-server killed and restarted after ${restartedAt} had fired\n`);
    await waitFor(() => fired.sequences.size >= TIMERS, start + WINDOW_MS + 60_000 - Date.now());
    await new Promise((resolve) => setTimeout(resolve, 3000)); // anything fired twice would show up now
    await fired.stop();
    return { ...summary(fired.delays, fired.sequences), schedule_per_s: schedulePerS, restarted_at_fired: restartedAt };
  } finally {
    await nc.close().catch(() => undefined);
    await stopServer(server);
  }
}

async function inProcessTimers(storeDir: string): Promise<ReturnType<typeof summary>> {
  const server = await startServer(storeDir);
  const nc = await connect({ ...asOperator(), servers: url });
  try {
    const js = jetstream(nc);
    const jsm = await jetstreamManager(nc);
    await jsm.streams.add({ name: "BENCH_BASELINE", subjects: ["bench.baseline.>"] });
    const fired = await collect(js, "BENCH_BASELINE", "baseline", "bench.baseline.>");
    const start = Date.now() + 2000;
    for (let i = 0; i < TIMERS; i++) {
      const due = start + Math.floor((i / TIMERS) * WINDOW_MS);
      setTimeout(() => void js.publish("bench.baseline.fired", `b${i} ${due}`).catch(() => undefined), due - Date.now());
    }
    await waitFor(() => fired.sequences.size >= TIMERS, WINDOW_MS + 60_000);
    await fired.stop();
    return summary(fired.delays, fired.sequences);
  } finally {
    await nc.close();
    await stopServer(server);
  }
}

async function main(): Promise<void> {
  const dirs = [mkdtempSync(path.join(tmpdir(), "cb-bench-deadlines-")), mkdtempSync(path.join(tmpdir(), "cb-bench-baseline-"))];
  try {
    const timers = await scheduled(dirs[0]!);
    const baseline = await inProcessTimers(dirs[1]!);
    console.log(JSON.stringify({ timers: TIMERS, window_s: WINDOW_MS / 1000, scheduled: timers, baseline_in_process_timers: baseline, targets: { delay_p99_ms: 2000, lost: 0, doubled: 0 } }));
  } finally {
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  }
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    console.error(error);
    process.exit(1);
  },
);
