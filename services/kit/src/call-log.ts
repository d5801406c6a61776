import type { Logger } from "pino";
import { asCaseBridgeError, errorCodeName } from "./errors";

/** Logs a failed call once: expected errors at info, internal ones at error with the cause. */
export function logCallFailure(logger: Logger, err: unknown, durationMs: number): void {
  const e = asCaseBridgeError(err);
  const code = errorCodeName(e.code);
  if (code === "INTERNAL") logger.error({ err: e.cause ?? e, code, durationMs }, "call failed");
  else logger.info({ code, reason: e.message, durationMs }, "call rejected");
}
