import { natsClient, SEAL_AGENCIES, type ContractClient } from "@casebridge/kit";
import type { NatsConnection } from "@nats-io/transport-node";
import { common, system } from "@casebridge/proto";

type SystemClient = ContractClient<typeof system.SystemServiceDefinition>;

/** Asks every agency service (over NATS) for its version and health; an unreachable one is reported, not thrown. */
export function systemStatus(nc: NatsConnection, timeoutMs: number): () => Promise<{ services: unknown[] }> {
  const clients: Array<[string, SystemClient]> = SEAL_AGENCIES.map((name) => [name, natsClient(nc, name, system.SystemServiceDefinition, timeoutMs)]);
  return async () => ({
    services: await Promise.all(
      clients.map(async ([name, client]) => {
        try {
          const [info, health] = await Promise.all([client.getInfo({}), client.checkHealth({})]);
          return {
            name,
            agency: common.agencyToJSON(info.agency),
            version: info.version,
            startedAt: info.startedAt?.toISOString(),
            status: system.servingStatusToJSON(health.status),
            dependencies: health.dependencies.map((d) => ({ name: d.name, status: system.servingStatusToJSON(d.status), detail: d.detail })),
          };
        } catch (err) {
          return { name, status: "UNREACHABLE", detail: (err as Error).message };
        }
      }),
    ),
  });
}
