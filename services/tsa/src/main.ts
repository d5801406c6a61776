import { describeStartFailure } from "@casebridge/kit";
import { startTimeStampService, type RunningTimeStampService } from "./service";

/** The TSA process: start from the environment, stop cleanly on SIGTERM/SIGINT (also one that arrives during start-up). */
function main(): void {
  let service: RunningTimeStampService | undefined;
  let stopRequested = false;
  const stop = (): void => {
    if (!service) return;
    service.stop().then(
      () => process.exit(0),
      (err: unknown) => {
        service?.logger.fatal({ err }, "unclean shutdown");
        process.exit(1);
      },
    );
  };
  const onSignal = (signal: NodeJS.Signals): void => {
    if (stopRequested) return;
    stopRequested = true;
    service?.logger.info({ signal }, "signal received");
    stop();
  };
  process.once("SIGTERM", onSignal);
  process.once("SIGINT", onSignal);
  startTimeStampService(process.env).then(
    (started) => {
      service = started;
      if (stopRequested) stop();
    },
    (err: unknown) => {
      const { line, exitCode } = describeStartFailure("tsa", err);
      process.stderr.write(`${line}\n`);
      process.exit(exitCode);
    },
  );
}

main();
