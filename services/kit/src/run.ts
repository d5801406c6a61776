import { ConfigError } from "./config";
import { startService, type RunningService, type ServiceSpec } from "./service";
import { StartupError } from "./startup-error";

/** Exit code for a configuration error (sysexits EX_CONFIG). */
export const EXIT_CONFIG = 78;
/** Exit code for a dependency that could not be reached at start (sysexits EX_UNAVAILABLE). */
export const EXIT_UNAVAILABLE = 69;

/** How a failed start ends the process: one clear line on stderr and an exit code that says why. */
export function describeStartFailure(service: string, err: unknown): { line: string; exitCode: number } {
  if (err instanceof ConfigError) return { line: `${service}: ${err.message}`, exitCode: EXIT_CONFIG };
  if (err instanceof StartupError) return { line: `${service}: ${err.message}`, exitCode: EXIT_UNAVAILABLE };
  return { line: `${service}: failed to start: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`, exitCode: 1 };
}

/** The whole main() of a service: start it from process.env, stop it cleanly on SIGTERM/SIGINT (also one that arrives during start-up). */
export function runService(spec: ServiceSpec): void {
  let service: RunningService | undefined;
  let stopRequested = false;
  const stop = () => {
    if (!service) return;
    service.stop().then(
      () => process.exit(0),
      (err: unknown) => {
        service?.deps.logger.fatal({ err }, "unclean shutdown");
        process.exit(1);
      },
    );
  };
  const onSignal = (signal: NodeJS.Signals) => {
    if (stopRequested) return;
    stopRequested = true;
    service?.deps.logger.info({ signal }, "signal received");
    stop();
  };
  process.once("SIGTERM", onSignal);
  process.once("SIGINT", onSignal);
  startService(spec, process.env).then(
    (started) => {
      service = started;
      if (stopRequested) stop();
    },
    (err: unknown) => {
      const { line, exitCode } = describeStartFailure(spec.name, err);
      process.stderr.write(`${line}\n`);
      process.exit(exitCode);
    },
  );
}
