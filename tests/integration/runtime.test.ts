import type { ChildProcess } from "node:child_process";
import { randomUUID } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { jetstreamManager } from "@nats-io/jetstream";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import mongoose from "mongoose";
import { auditStream, bearerMetadata, CaseBridgeError, grpcClient, LEDGER_STREAM, natsClient, runRebuildViewsCli } from "@casebridge/kit";
import { common, transfer as pb } from "@casebridge/proto";
import { asOperator, authIssuer, eventually, freePort, infra, natsEnv, type Spawned, spawnNode, startNats, tokenFor } from "./support";

const { Agency } = common;
const { TransferState: State } = pb;
const run = randomUUID().slice(0, 8);
const db = (agency: string): string => `it_runtime_${agency}_${run}`;

/** Two instances each of police and prosecution, as separate processes, on a nats-server of this test's own. */
describe("durable runtime: two instances of police and prosecution at once", () => {
  let natsPort: number;
  let natsUrl: string;
  let storeDir: string;
  let natsServer: ChildProcess;
  let nc: NatsConnection;
  let tsa: Spawned | undefined;
  const instances = new Map<string, { spawned: Spawned; grpcPort: number }>();
  const tokens = new Map<string, string>();
  const as = (user: string) => ({ metadata: bearerMetadata(tokens.get(user)!), timeoutMs: 20_000 });

  async function startInstance(name: string): Promise<void> {
    const agency = name.replace(/-[ab]$/, "");
    const grpcPort = await freePort();
    const spawned = spawnNode(`services/${agency}/dist/main.js`, {
      ...natsEnv(natsUrl),
      MONGO_URL: infra.mongoUrl,
      MONGO_DB: db(agency),
      LOG_LEVEL: "info",
      GRPC_PORT: String(grpcPort),
      AUTH_ISSUER: authIssuer,
    });
    instances.set(name, { spawned, grpcPort });
    await spawned.waitForOutput(/service started/, 30_000);
  }

  function kill(name: string, signal: NodeJS.Signals): Promise<unknown> {
    const instance = instances.get(name)!;
    instance.spawned.child.kill(signal);
    return instance.spawned.exited;
  }

  const clients = () => ({
    policeCases: natsClient(nc, "police", pb.CaseFileServiceDefinition, 20_000),
    policeTransfers: natsClient(nc, "police", pb.TransferServiceDefinition, 20_000),
    prosecutionTransfers: natsClient(nc, "prosecution", pb.TransferServiceDefinition, 20_000),
  });

  async function openApprovedCase(): Promise<string> {
    const caseId = `rt-${randomUUID()}`;
    await clients().policeCases.openCase(
      {
        case: pb.Case.fromPartial({
          caseId,
          caseNumber: `320582-2026-${caseId.slice(-12)}`,
          kind: pb.CaseKind.CASE_KIND_CRIMINAL,
          offence: "盗窃",
          parties: [{ partyId: "p1", role: common.PartyRole.PARTY_ROLE_SUSPECT, name: "李某" }],
        }),
        documents: [{ documentId: "recommendation-1", title: "起诉意见书", documentType: "recommendation", mediaType: "application/pdf", content: Buffer.from(`recommendation ${caseId}`) }],
      },
      as("officer.wang"),
    );
    await clients().policeCases.approveCase(pb.ApproveCaseRequest.fromPartial({ caseId }), as("legal.li"));
    return caseId;
  }

  function submit(caseId: string): Promise<string> {
    return clients()
      .policeTransfers.submitTransfer({ caseId, recipient: Agency.AGENCY_PROSECUTION, purpose: pb.TransferPurpose.TRANSFER_PURPOSE_PROSECUTION_REVIEW, transferId: "" }, as("legal.li"))
      .then(({ transfer }) => transfer!.transferId);
  }

  async function stateAtPolice(transferId: string, state: pb.TransferState, timeoutMs = 60_000): Promise<void> {
    await eventually(async () => {
      const { transfer } = await clients().policeTransfers.getTransfer({ transferId }, as("legal.li"));
      if (transfer?.state !== state) throw new Error(`transfer ${transferId} is ${pb.transferStateToJSON(transfer?.state ?? 0)}`);
    }, timeoutMs, 200);
  }

  beforeAll(async () => {
    for (const user of ["officer.wang", "legal.li", "prosecutor.zhao"]) tokens.set(user, await tokenFor(user));
    natsPort = await freePort();
    natsUrl = `nats://127.0.0.1:${natsPort}`;
    storeDir = mkdtempSync(path.join(tmpdir(), "cb-runtime-nats-"));
    natsServer = await startNats(natsPort, storeDir);
    nc = await connect({ ...asOperator(), servers: natsUrl, maxReconnectAttempts: -1, reconnectTimeWait: 250 });
    tsa = spawnNode("services/tsa/dist/main.js", { ...natsEnv(natsUrl), LOG_LEVEL: "info" });
    await tsa.waitForOutput(/time-stamp authority ready/, 30_000);
    await Promise.all(["police-a", "police-b", "prosecution-a", "prosecution-b"].map((name) => startInstance(name)));
  }, 120_000);

  afterAll(async () => {
    await Promise.all([...instances.keys()].map((name) => kill(name, "SIGTERM")));
    tsa?.child.kill("SIGTERM");
    await tsa?.exited;
    await nc?.close();
    natsServer?.kill("SIGTERM");
    rmSync(storeDir, { recursive: true, force: true });
  }, 60_000);

  it("delivers every transfer exactly once across kill -9 of an instance and a restart of nats-server under load", async () => {
    const caseIds = await Promise.all(Array.from({ length: 24 }, () => openApprovedCase()));
    const transferIds: string[] = [];
    // A third of the submissions, then prosecution instance a dies with events in flight.
    transferIds.push(...(await Promise.all(caseIds.slice(0, 8).map(submit))));
    await kill("prosecution-a", "SIGKILL");
    transferIds.push(...(await Promise.all(caseIds.slice(8, 16).map(submit))));
    // nats-server itself dies (kill -9) while those are relayed, verified and answered, and comes back.
    natsServer.kill("SIGKILL");
    await new Promise((resolve) => natsServer.once("exit", resolve));
    natsServer = await startNats(natsPort, storeDir);
    await eventually(() => clients().policeTransfers.listTransfers(pb.ListTransfersRequest.fromPartial({ box: pb.Box.BOX_OUTBOX, states: [], caseId: "", pageSize: 1, pageToken: "" }), as("legal.li")), 30_000, 250);
    transferIds.push(...(await Promise.all(caseIds.slice(16).map(submit))));
    await startInstance("prosecution-a");

    for (const transferId of transferIds) await stateAtPolice(transferId, State.TRANSFER_STATE_RECEIVED);
    for (const [i, caseId] of caseIds.entries()) {
      const inbox = await eventually(async () => {
        const page = await clients().prosecutionTransfers.listTransfers(pb.ListTransfersRequest.fromPartial({ box: pb.Box.BOX_INBOX, states: [], caseId, pageSize: 10, pageToken: "" }), as("prosecutor.zhao"));
        if (page.transfers.length === 0) throw new Error(`case ${caseId} is not in the prosecution's inbox view yet`);
        return page.transfers;
      }, 30_000);
      expect(inbox.map((t) => t.transferId)).toEqual([transferIds[i]]);
      const prosecutionTimeline = await eventually(async () => {
        const { entries } = await clients().prosecutionTransfers.getCaseTimeline({ caseId }, as("prosecutor.zhao"));
        if (!entries.some((e) => e.action === "received")) throw new Error("no received entry yet");
        return entries;
      }, 30_000);
      expect(prosecutionTimeline.filter((e) => e.action === "received")).toHaveLength(1);
      const policeTimeline = await eventually(async () => {
        const { entries } = await clients().policeTransfers.getCaseTimeline({ caseId }, as("legal.li"));
        if (!entries.some((e) => e.action === "received")) throw new Error("no received entry yet");
        return entries;
      }, 30_000);
      expect(policeTimeline.map((e) => e.action).sort()).toEqual(["approved", "opened", "received", "submitted"]);
    }
  }, 240_000);

  it("lets exactly one of two concurrent decisions on a transfer win; the other gets a clear conflict error", async () => {
    const accept = grpcClient(`127.0.0.1:${instances.get("prosecution-a")!.grpcPort}`, pb.TransferServiceDefinition, 20_000);
    const giveBack = grpcClient(`127.0.0.1:${instances.get("prosecution-b")!.grpcPort}`, pb.TransferServiceDefinition, 20_000);
    try {
      for (let round = 0; round < 4; round++) {
        const transferId = await submit(await openApprovedCase());
        await stateAtPolice(transferId, State.TRANSFER_STATE_RECEIVED);
        const [accepted, returned] = await Promise.allSettled([
          accept.acceptTransfer({ transferId }, as("prosecutor.zhao")),
          giveBack.returnTransfer({ transferId, reason: pb.ReturnReason.RETURN_REASON_SUPPLEMENTARY_INVESTIGATION, note: "证据不足，请补充侦查" }, as("prosecutor.zhao")),
        ]);
        const outcomes = [accepted, returned];
        expect(outcomes.filter((o) => o.status === "fulfilled")).toHaveLength(1);
        const loser = outcomes.find((o) => o.status === "rejected")!.reason as CaseBridgeError;
        expect(loser).toBeInstanceOf(CaseBridgeError);
        expect([common.ErrorCode.ERROR_CODE_FAILED_PRECONDITION, common.ErrorCode.ERROR_CODE_ABORTED]).toContain(loser.code);
        expect(loser.message).toMatch(/accepted|returned|changed by others/);
        const winner = accepted.status === "fulfilled" ? State.TRANSFER_STATE_ACCEPTED : State.TRANSFER_STATE_RETURNED;
        await stateAtPolice(transferId, winner);
        const { transfer } = await clients().prosecutionTransfers.getTransfer({ transferId }, as("prosecutor.zhao"));
        expect(transfer!.state).toBe(winner);
      }
    } finally {
      accept.close();
      giveBack.close();
    }
  }, 120_000);

  it("rebuilds the prosecution's views from JetStream, equal to the views it replaced", async () => {
    const jsm = await jetstreamManager(nc);
    // The projector has caught up when its consumers have nothing pending or unacknowledged.
    await eventually(async () => {
      for (const [stream, consumer] of [["KV_cb_prosecution", "views-prosecution-transfer"], ["KV_cb_prosecution", "views-prosecution-case"], ["KV_cb_prosecution", "views-prosecution-alert"], [LEDGER_STREAM, "timeline-prosecution"], [auditStream("prosecution"), "audit-prosecution"]] as const) {
        const info = await jsm.consumers.info(stream, consumer);
        if (info.num_pending > 0 || info.num_ack_pending > 0) throw new Error(`${consumer}: ${info.num_pending} pending, ${info.num_ack_pending} unacknowledged`);
      }
    }, 30_000);
    const connection = await mongoose.createConnection(infra.mongoUrl, { dbName: db("prosecution") }).asPromise();
    try {
      const dump = async () =>
        Object.fromEntries(
          await Promise.all(["transfer_view", "case_view", "alert_view", "timeline", "audit"].map(async (name) => [name, await connection.collection(name).find({}).sort({ _id: 1 }).toArray()] as const)),
        );
      const before = await dump();
      expect(before.transfer_view!.length).toBeGreaterThanOrEqual(28);
      expect(before.audit!.length).toBeGreaterThan(28);
      const lines: string[] = [];
      const code = await runRebuildViewsCli(["prosecution", "--nats", natsUrl, "--mongo", infra.mongoUrl, "--db", db("prosecution")], {}, (line) => lines.push(line), (line) => lines.push(line));
      expect({ code, out: lines.at(-1) }).toEqual({ code: 0, out: expect.stringMatching(/^views of .* rebuilt from JetStream: \d+ messages replayed/) as string });
      expect(await dump()).toEqual(before);
    } finally {
      await connection.close();
    }
  }, 120_000);
});
