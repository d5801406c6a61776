import { parseArgs } from "node:util";
import { jetstreamManager } from "@nats-io/jetstream";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import mongoose from "mongoose";
import { auditStream } from "../runtime/ledger";
import { redactUrl } from "../mongo";
import { AuditLog } from "../runtime/audit-log";
import { runCliMain } from "../cli-main";
import { natsAuthOptions } from "../nats-auth/credentials";

const USAGE = `Usage: npm run audit -- verify <service> [--mongo <url>] [--db <database>] [--nats <url>]

Recomputes the hash chain of a service's audit log and compares its length with the service's audit
stream in JetStream (a log missing its newest entries is broken too). Exit 0 when intact, 1 when
broken (with the first bad entry), 2 on bad usage. Defaults: --mongo $MONGO_URL or
mongodb://127.0.0.1:27017, --db casebridge_<service>, --nats $NATS_URL or nats://127.0.0.1:4222.`;

/** Runs the audit CLI with `argv` (without node and script); returns the exit code. */
export async function runAuditCli(argv: string[], env: NodeJS.ProcessEnv, out: (line: string) => void, err: (line: string) => void): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({ args: argv, allowPositionals: true, options: { mongo: { type: "string" }, db: { type: "string" }, nats: { type: "string" }, help: { type: "boolean", short: "h" } } });
  } catch (error) {
    err(`${(error as Error).message}\n\n${USAGE}`);
    return 2;
  }
  const [command, service, ...rest] = parsed.positionals;
  if (parsed.values.help) {
    out(USAGE);
    return 0;
  }
  if (command !== "verify" || !service || rest.length > 0 || !/^[a-z]+$/.test(service)) {
    err(USAGE);
    return 2;
  }
  const url = parsed.values.mongo ?? env.MONGO_URL ?? "mongodb://127.0.0.1:27017";
  const dbName = parsed.values.db ?? `casebridge_${service}`;
  let connection: mongoose.Connection | undefined;
  try {
    connection = await mongoose.createConnection(url, { dbName, serverSelectionTimeoutMS: 3000 }).asPromise();
    const recorded = await recordedInStream(parsed.values.nats ?? env.NATS_URL ?? "nats://127.0.0.1:4222", service);
    const result = await new AuditLog(connection).verify(recorded);
    if (result.intact) {
      out(`audit log of ${dbName}: ${result.entries} entries, chain intact${recorded === undefined ? " (not compared with the audit stream: NATS unreachable)" : `, as many as the audit stream holds`}`);
      return 0;
    }
    out(`audit log of ${dbName}: BROKEN at entry ${result.brokenAt}: ${result.reason} (${result.entries} entries before it verify)`);
    return 1;
  } catch (error) {
    err(`cannot read the audit log of ${dbName} at ${redactUrl(url)}: ${(error as Error).message}`);
    return 1;
  } finally {
    await connection?.close();
  }
}

/** How many records the service's audit stream holds, or undefined when NATS cannot be reached. */
async function recordedInStream(natsUrl: string, service: string): Promise<number | undefined> {
  let nc: NatsConnection | undefined;
  try {
    nc = await connect({ ...natsAuthOptions("operator"), servers: natsUrl, timeout: 2000, reconnect: false });
    const info = await (await jetstreamManager(nc)).streams.info(auditStream(service));
    return info.state.last_seq;
  } catch {
    return undefined;
  } finally {
    await nc?.close();
  }
}

if (require.main === module) runCliMain(runAuditCli);
