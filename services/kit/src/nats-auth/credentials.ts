import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { EnvReader, type Env } from "../config";
import { nkeyAuthenticator, nkeys, type ConnectionOptions } from "@nats-io/transport-node";
import { inboxPrefixOf, NATS_PRINCIPALS, publicKeyVariable, type NatsPrincipal } from "./permissions";

/** A problem with NATS credentials (none configured, unreadable, not an nkey user seed). */
export class NatsCredentialsError extends Error {}

/**
 * The seed file of `principal`: NATS_NKEY_FILE if set (a Kubernetes pod mounts only its own), else
 * `<NATS_CREDENTIALS_DIR>/<principal>.nk` (npm start and the tests, where `nats-auth init` made them).
 */
export function natsSeedFile(principal: NatsPrincipal, env: Env = process.env): string {
  const read = new EnvReader(env);
  const file = read.natsSeedFile(principal);
  read.done();
  return file;
}

/** Reads an nkey user seed from `file`, checking it is one. */
export function readUserSeed(file: string): Uint8Array {
  let text: string;
  try {
    text = readFileSync(file, "utf8").trim();
  } catch (error) {
    throw new NatsCredentialsError(`cannot read the NATS nkey seed ${file}: ${(error as Error).message}`);
  }
  const seed = new TextEncoder().encode(text);
  try {
    if (!nkeys.fromSeed(seed).getPublicKey().startsWith("U")) throw new Error("not a user key");
  } catch (error) {
    throw new NatsCredentialsError(`${file} is not an nkey user seed (${(error as Error).message})`);
  }
  return seed;
}

/**
 * Connection options that authenticate as `principal` (nkey challenge/response; the seed is read
 * again at every reconnect, so a rotated key file takes effect) and keep its replies under its own
 * inbox prefix, the only replies its permissions let it receive.
 */
export function natsAuthOptions(principal: NatsPrincipal, file: string = natsSeedFile(principal)): Partial<ConnectionOptions> {
  readUserSeed(file); // fail at start-up, with the file's name, rather than at the first handshake
  return { authenticator: nkeyAuthenticator(() => readUserSeed(file)), inboxPrefix: inboxPrefixOf(principal) };
}

/** Creates a seed for every principal that has none in `dir` (mode 0600), and returns every public key. */
export function initCredentials(dir: string): Map<NatsPrincipal, string> {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const keys = new Map<NatsPrincipal, string>();
  for (const principal of NATS_PRINCIPALS) {
    const file = join(dir, `${principal}.nk`);
    if (!existsSync(file)) {
      writeFileSync(file, `${new TextDecoder().decode(nkeys.createUser().getSeed())}\n`, { mode: 0o600 });
      chmodSync(file, 0o600);
    }
    keys.set(principal, nkeys.fromSeed(readUserSeed(file)).getPublicKey());
  }
  return keys;
}

/** The public keys as the environment nats-server reads them from (`CB_NKEY_<PRINCIPAL>=U…`, one per line). */
export function publicKeysEnv(keys: Map<NatsPrincipal, string>): string {
  return [...keys].map(([principal, key]) => `${publicKeyVariable(principal)}=${key}\n`).join("");
}
