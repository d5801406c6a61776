import { EnvReader, type Env } from "@casebridge/kit";

/** Settings of the gateway. */
export interface GatewayConfig {
  host: string;
  port: number;
  natsUrl: string;
  logLevel: string;
  rpcTimeoutMs: number;
}

/** Parses the gateway settings from the environment; throws ConfigError listing every problem. */
export function loadGatewayConfig(env: Env): GatewayConfig {
  const read = new EnvReader(env);
  const config: GatewayConfig = {
    host: read.string("GATEWAY_HOST", "127.0.0.1"),
    port: read.int("GATEWAY_PORT", { default: 8088, min: 0, max: 65535 }),
    natsUrl: read.url("NATS_URL", ["nats:", "tls:"]),
    logLevel: read.oneOf("LOG_LEVEL", ["fatal", "error", "warn", "info", "debug", "trace", "silent"], "info"),
    rpcTimeoutMs: read.int("RPC_TIMEOUT_MS", { default: 3000, min: 1, max: 600_000 }),
  };
  read.done();
  return config;
}
