import mongoose from "mongoose";
import type { Logger } from "pino";
import { retry } from "./retry";
import { StartupError } from "./startup-error";

/** A MongoDB URL with any password replaced by ***, fit for logs and error messages. */
export function redactUrl(url: string): string {
  return url.replace(/\/\/([^:/@]+):[^@]*@/, "//$1:***@");
}

/** Options of a Mongo connection. */
export interface MongoConnectOptions {
  attempts: number;
  timeoutMs: number;
  logger: Logger;
}

/** Opens a Mongoose connection to the service's own database, retrying; throws StartupError when it cannot. */
export async function connectMongo(url: string, dbName: string, { attempts, timeoutMs, logger }: MongoConnectOptions): Promise<mongoose.Connection> {
  try {
    return await retry(
      attempts,
      async () => {
        const connection = mongoose.createConnection(url, { dbName, serverSelectionTimeoutMS: timeoutMs, connectTimeoutMS: timeoutMs });
        try {
          return await connection.asPromise();
        } catch (err) {
          await connection.close(true).catch(() => undefined);
          throw err;
        }
      },
      (err, n, delayMs) => logger.warn({ attempt: n, retryInMs: delayMs, reason: (err as Error).message }, "MongoDB not reachable yet"),
    );
  } catch (err) {
    throw new StartupError(`cannot reach MongoDB at ${redactUrl(url)} after ${attempts} attempt(s): ${(err as Error).message}`, { cause: err });
  }
}

/** The bytes of a stored buffer, which the driver returns as BSON Binary. */
export function bytesOf(value: unknown): Buffer {
  if (Buffer.isBuffer(value)) return value;
  const binary = value as { buffer?: Uint8Array };
  if (binary.buffer instanceof Uint8Array) return Buffer.from(binary.buffer.buffer, binary.buffer.byteOffset, binary.buffer.byteLength);
  throw new Error("stored value is not binary");
}

