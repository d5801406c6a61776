import { createLogger, describeStartFailure } from "@casebridge/kit";
import { loadGatewayConfig } from "./config";
import { startGateway } from "./gateway";

async function main(): Promise<void> {
  const config = loadGatewayConfig(process.env);
  const logger = createLogger("gateway", config.logLevel);
  const gateway = await startGateway(config, logger);
  const stop = () => void gateway.stop().finally(() => process.exit(0));
  process.once("SIGTERM", stop);
  process.once("SIGINT", stop);
}

main().catch((err: unknown) => {
  const { line, exitCode } = describeStartFailure("gateway", err);
  process.stderr.write(`${line}\n`);
  process.exit(exitCode);
});
