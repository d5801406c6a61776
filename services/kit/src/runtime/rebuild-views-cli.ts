import { parseArgs } from "node:util";
import { jetstream } from "@nats-io/jetstream";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import mongoose from "mongoose";
import { pino } from "pino";
import { runCliMain } from "../cli-main";
import { redactUrl } from "../mongo";
import { agencyEnumOf, parseSealAgency, SEAL_AGENCIES } from "../seal/pki";
import { registerAlertView } from "../deadlines/deadline-alerts";
import { registerCaseView } from "../transfer/case-files";
import { registerTransferView } from "../transfer/transfer-engine";
import { DurableRuntime } from "./durable-runtime";
import { natsAuthOptions } from "../nats-auth/credentials";

const USAGE = `Usage: npm run rebuild-views -- <service> [--nats <url>] [--mongo <url>] [--db <database>]

Drops a service's MongoDB read models (transfer and case lists, deadline alerts, timeline, audit log) and projects
them again from its JetStream history (the aggregate bucket and the ledger). The service may keep
running: what its own projector writes again is ignored. Exit 0 when done, 1 on failure, 2 on bad
usage. Services: ${SEAL_AGENCIES.join(", ")}. Defaults: --nats $NATS_URL or nats://127.0.0.1:4222,
--mongo $MONGO_URL or mongodb://127.0.0.1:27017, --db $MONGO_DB or casebridge_<service>.`;

/** Runs the rebuild-views CLI with `argv` (without node and script); returns the exit code. */
export async function runRebuildViewsCli(argv: string[], env: NodeJS.ProcessEnv, out: (line: string) => void, err: (line: string) => void): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({ args: argv, allowPositionals: true, options: { nats: { type: "string" }, mongo: { type: "string" }, db: { type: "string" }, help: { type: "boolean", short: "h" } } });
  } catch (error) {
    err(`${(error as Error).message}\n\n${USAGE}`);
    return 2;
  }
  if (parsed.values.help) {
    out(USAGE);
    return 0;
  }
  const [service, ...rest] = parsed.positionals;
  const agency = service ? parseSealAgency(service) : undefined;
  if (!agency || rest.length > 0) {
    err(service && !agency ? `unknown service '${service}'\n\n${USAGE}` : USAGE);
    return 2;
  }
  const natsUrl = parsed.values.nats ?? env.NATS_URL ?? "nats://127.0.0.1:4222";
  const mongoUrl = parsed.values.mongo ?? env.MONGO_URL ?? "mongodb://127.0.0.1:27017";
  const dbName = parsed.values.db ?? env.MONGO_DB ?? `casebridge_${agency}`;
  let nc: NatsConnection | undefined;
  let connection: mongoose.Connection | undefined;
  try {
    nc = await connect({ ...natsAuthOptions("operator"), servers: natsUrl, name: `rebuild-views-${agency}`, timeout: 5000 });
    connection = await mongoose.createConnection(mongoUrl, { dbName, serverSelectionTimeoutMS: 5000 }).asPromise();
    const runtime = await DurableRuntime.open({ agency, nc, js: jetstream(nc), mongo: connection, logger: pino({ level: "silent" }) });
    registerTransferView(runtime, agencyEnumOf(agency));
    registerCaseView(runtime);
    if (agency === "police" || agency === "prosecution" || agency === "court") registerAlertView(runtime);
    const started = Date.now();
    const replayed = await runtime.projector.rebuild((done) => out(`… ${done} messages replayed`));
    out(`views of ${dbName} rebuilt from JetStream: ${replayed} messages replayed in ${((Date.now() - started) / 1000).toFixed(1)} s`);
    return 0;
  } catch (error) {
    err(`cannot rebuild the views of ${dbName} (NATS ${natsUrl}, MongoDB ${redactUrl(mongoUrl)}): ${(error as Error).message}`);
    return 1;
  } finally {
    await connection?.close();
    await nc?.close();
  }
}

if (require.main === module) runCliMain(runRebuildViewsCli);
