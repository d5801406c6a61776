import { pino, type Logger } from "pino";

export type { Logger } from "pino";

/** A JSON logger whose every line names the service; `destination` defaults to stdout. */
export function createLogger(service: string, level: string, destination?: pino.DestinationStream): Logger {
  return pino(
    {
      level,
      base: { service },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    destination,
  );
}
