import { randomUUID } from "node:crypto";
import { SEAL_AGENCIES, startService, type RunningService, type SealAgency, type ServiceSpec } from "@casebridge/kit";
import { spec as courtSpec } from "@casebridge/court/spec";
import { spec as judicialSpec } from "@casebridge/judicial/spec";
import { spec as notarySpec } from "@casebridge/notary/spec";
import { spec as policeSpec } from "@casebridge/police/spec";
import { spec as prosecutionSpec } from "@casebridge/prosecution/spec";
import { loadGatewayConfig } from "../../gateway/src/config";
import { startGateway, type RunningGateway } from "../../gateway/src/gateway";
import { authIssuer, infra, natsEnv, quietLogger, resetRuntimeStreams, startTsa } from "./support";

const SPECS: Record<SealAgency, ServiceSpec> = { police: policeSpec, prosecution: prosecutionSpec, court: courtSpec, judicial: judicialSpec, notary: notarySpec };

/** The five agency services (in-process, databases of their own) behind a gateway, on the real NATS, FerretDB and Keycloak. */
export interface Platform {
  readonly gateway: RunningGateway;
  readonly services: Record<SealAgency, RunningService>;
  /** Another gateway in front of the same services, e.g. with other limits. */
  gatewayWith(env: Record<string, string>): Promise<RunningGateway>;
  stop(): Promise<void>;
}

/** Starts the platform; `gatewayPort` 0 picks a free port (the browser tests need the one registered in the realm); `serviceEnv` is added to every service's settings. */
export async function startPlatform(name: string, gatewayPort = 0, serviceEnv: Record<string, string> = {}): Promise<Platform> {
  const run = randomUUID().slice(0, 8);
  await resetRuntimeStreams();
  const tsa = await startTsa();
  const services = {} as Record<SealAgency, RunningService>;
  for (const agency of SEAL_AGENCIES) {
    services[agency] = await startService(SPECS[agency], {
      ...natsEnv(infra.natsUrl),
      MONGO_URL: infra.mongoUrl,
      MONGO_DB: `it_${name}_${agency}_${run}`,
      LOG_LEVEL: "silent",
      PKI_DIR: infra.pkiDir,
      GRPC_PORT: "0",
      AUTH_ISSUER: authIssuer,
      ...serviceEnv,
    });
  }
  const gateways: RunningGateway[] = [];
  const gatewayWith = async (env: Record<string, string>) => {
    const config = loadGatewayConfig({
      ...natsEnv(infra.natsUrl),
      AUTH_ISSUER: authIssuer,
      GATEWAY_PORT: "0",
      SERVICE_ADDRESSES: SEAL_AGENCIES.map((agency) => `${agency}=127.0.0.1:${services[agency].grpcPort}`).join(","),
      ...env,
    });
    const gateway = await startGateway(config, quietLogger);
    gateways.push(gateway);
    return gateway;
  };
  const gateway = await gatewayWith({ GATEWAY_PORT: String(gatewayPort) });
  return {
    gateway,
    services,
    gatewayWith,
    stop: async () => {
      await Promise.all(gateways.map((g) => g.stop()));
      await Promise.all(Object.values(services).map((s) => s.stop()));
      await tsa.stop();
    },
  };
}
