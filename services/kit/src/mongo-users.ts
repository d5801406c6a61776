import { randomBytes } from "node:crypto";
import mongoose from "mongoose";
import { SEAL_AGENCIES } from "./seal/pki";

/**
 * One database user per agency service (user <agency> in database casebridge_<agency>), for the local
 * FerretDB and for any MongoDB an operator points at (the Helm chart makes its own in a hook job).
 *
 * MongoDB: the user gets readWrite on its own database only. FerretDB v1.24 (SQLite handler, started
 * with --test-enable-new-auth) stores SCRAM-SHA-1/-256 users and refuses every command without
 * authentication, but answers createUser with any role "NotImplemented" and enforces no role at
 * all: an authenticated user can read, write and drop every database and create users. Then the user
 * is made with no role and `rolesEnforced` is false.
 */
export interface ServiceUsers {
  /** MONGO_URL of each service, with its own credentials (authSource: its own database). */
  urls: Record<string, string>;
  /** Passwords by service, to keep them stable on the next run. */
  passwords: Record<string, string>;
  /** False when the server does not enforce roles (FerretDB v1): any signed-in user reaches every database. */
  rolesEnforced: boolean;
}

/** Makes (or re-makes with the same password) the user of each service; `adminUrl` signs in as an administrator; `hosts` is host:port,… for the URLs. */
export async function ensureServiceUsers(adminUrl: string, hosts: string, known: Record<string, string> = {}, services: readonly string[] = SEAL_AGENCIES, urlOptions = ""): Promise<ServiceUsers> {
  const client = await new mongoose.mongo.MongoClient(adminUrl, { serverSelectionTimeoutMS: 5000 }).connect();
  const passwords: Record<string, string> = {};
  const urls: Record<string, string> = {};
  let rolesEnforced = true;
  try {
    for (const service of services) {
      const dbName = `casebridge_${service}`;
      const db = client.db(dbName);
      const password = known[service] ?? randomBytes(24).toString("base64url");
      passwords[service] = password;
      const existing = (await db.command({ usersInfo: service })) as { users: unknown[] };
      if (existing.users.length > 0) await db.command({ dropUser: service });
      try {
        await db.command({ createUser: service, pwd: password, roles: [{ role: "readWrite", db: dbName }] });
      } catch (error) {
        // FerretDB v1: "support for field "roles" with non-default value … is not implemented yet".
        if (!(error instanceof mongoose.mongo.MongoServerError) || error.codeName !== "NotImplemented") throw error;
        await db.command({ createUser: service, pwd: password, roles: [] });
        rolesEnforced = false;
      }
      urls[service] = `mongodb://${service}:${encodeURIComponent(password)}@${hosts}/${dbName}?authSource=${dbName}${urlOptions}`;
    }
  } finally {
    await client.close();
  }
  return { urls, passwords, rolesEnforced };
}
