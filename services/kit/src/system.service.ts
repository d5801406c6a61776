import { type common, system } from "@casebridge/proto";
import type { ContractHandlers } from "./contract";

const { ServingStatus } = system;

/** A probe of one dependency: resolves to a detail string when it is down, undefined when it is up. */
export type DependencyProbe = () => Promise<string | undefined>;

/** Who the service is, for GetInfo. */
export interface ServiceIdentity {
  service: string;
  agency: common.Agency;
  version: string;
  instanceId: string;
  startedAt: Date;
}

/** The handlers of the SystemService contract that every service serves. */
export function createSystemHandlers(identity: ServiceIdentity, probes: Record<string, DependencyProbe>): ContractHandlers<typeof system.SystemServiceDefinition> {
  return {
    getInfo: () => Promise.resolve({ ...identity }),
    checkHealth: async () => {
      const dependencies = await Promise.all(
        Object.entries(probes).map(async ([name, probe]) => {
          const detail = await probe().catch((err: Error) => err.message || "probe failed");
          return { name, status: detail ? ServingStatus.SERVING_STATUS_NOT_SERVING : ServingStatus.SERVING_STATUS_SERVING, detail: detail ?? "" };
        }),
      );
      const allUp = dependencies.every((d) => d.status === ServingStatus.SERVING_STATUS_SERVING);
      return { status: allUp ? ServingStatus.SERVING_STATUS_SERVING : ServingStatus.SERVING_STATUS_NOT_SERVING, dependencies };
    },
  };
}
