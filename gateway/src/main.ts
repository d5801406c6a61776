import { connectNats, createLogger, describeStartFailure, natsClient } from "@casebridge/kit";
import { system } from "@casebridge/proto";
import { createApp, type SystemClients } from "./app";
import { loadGatewayConfig } from "./config";

const AGENCY_SERVICES = ["police", "prosecution", "court", "judicial", "notary"];

async function main(): Promise<void> {
  const config = loadGatewayConfig(process.env);
  const logger = createLogger("gateway", config.logLevel);
  const { nc } = await connectNats(config.natsUrl, "gateway", 5, logger);
  const clients: SystemClients = Object.fromEntries(AGENCY_SERVICES.map((s) => [s, natsClient(nc, s, system.SystemServiceDefinition, config.rpcTimeoutMs)]));
  const server = createApp(clients, logger).listen(config.port, config.host, () => logger.info({ url: `http://${config.host}:${config.port}` }, "gateway listening"));
  const stop = () => {
    server.close(() => void nc.drain().finally(() => process.exit(0)));
  };
  process.once("SIGTERM", stop);
  process.once("SIGINT", stop);
}

main().catch((err: unknown) => {
  const { line, exitCode } = describeStartFailure("gateway", err);
  process.stderr.write(`${line}\n`);
  process.exit(exitCode);
});
