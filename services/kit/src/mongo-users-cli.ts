import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { runCliMain } from "./cli-main";
import { ensureServiceUsers } from "./mongo-users";

const USAGE = "Usage: node services/kit/dist/mongo-users-cli.js <state.json> <admin mongodb:// URL> <host:port,…>";

/**
 * Makes one user per agency service (see mongo-users.ts) and writes their MONGO_URLs and passwords to
 * `<state.json>` (mode 0600; passwords kept from an earlier run). `npm start` with MONGO_AUTH=on runs it.
 */
export async function runMongoUsersCli(argv: string[], _env: NodeJS.ProcessEnv, out: (line: string) => void, err: (line: string) => void): Promise<number> {
  const [file, adminUrl, hosts] = argv;
  if (!file || !adminUrl || !hosts) {
    err(USAGE);
    return 2;
  }
  const known = existsSync(file) ? (JSON.parse(readFileSync(file, "utf8")) as { passwords?: Record<string, string> }).passwords : undefined;
  const users = await ensureServiceUsers(adminUrl, hosts, known);
  writeFileSync(file, `${JSON.stringify(users, null, 2)}\n`, { mode: 0o600 });
  out(`one database user per service in ${file}${users.rolesEnforced ? " (readWrite on its own database only)" : " (the server enforces no roles: every signed-in user reaches every database)"}`);
  return 0;
}

if (require.main === module) runCliMain(runMongoUsersCli);
