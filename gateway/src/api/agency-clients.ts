import { grpcClient, SEAL_AGENCIES, type ContractClient, type SealAgency } from "@casebridge/kit";
import { deadline as dpb, transfer as pb, trust as tpb } from "@casebridge/proto";

/** The contracts the gateway calls on one agency service. */
export interface AgencyClients {
  readonly transfers: ContractClient<typeof pb.TransferServiceDefinition>;
  readonly cases: ContractClient<typeof pb.CaseFileServiceDefinition>;
  readonly prosecution: ContractClient<typeof pb.ProsecutionServiceDefinition>;
  readonly court: ContractClient<typeof pb.CourtServiceDefinition>;
  readonly alerts: ContractClient<typeof dpb.AlertServiceDefinition>;
  readonly incidents: ContractClient<typeof tpb.IncidentServiceDefinition>;
}

/**
 * gRPC clients of every agency service (documents up to 20 MiB fit in a gRPC message); `close()`
 * releases them. With `credentials` (grpcClientCredentials of the gateway's TLS material) every
 * channel presents the gateway's certificate and checks the service's name against its SANs.
 */
export function agencyClients(
  addresses: Record<SealAgency, string>,
  timeoutMs: number,
  credentials?: Parameters<typeof grpcClient>[3],
): { of: (agency: SealAgency) => AgencyClients; close: () => void } {
  const clients = Object.fromEntries(
    SEAL_AGENCIES.map((agency) => {
      const address = addresses[agency];
      return [
        agency,
        {
          transfers: grpcClient(address, pb.TransferServiceDefinition, timeoutMs, credentials),
          cases: grpcClient(address, pb.CaseFileServiceDefinition, timeoutMs, credentials),
          prosecution: grpcClient(address, pb.ProsecutionServiceDefinition, timeoutMs, credentials),
          court: grpcClient(address, pb.CourtServiceDefinition, timeoutMs, credentials),
          alerts: grpcClient(address, dpb.AlertServiceDefinition, timeoutMs, credentials),
          incidents: grpcClient(address, tpb.IncidentServiceDefinition, timeoutMs, credentials),
        },
      ];
    }),
  ) as Record<SealAgency, { [K in keyof AgencyClients]: AgencyClients[K] & { close(): void } }>;
  return {
    of: (agency) => clients[agency],
    close: () => {
      for (const set of Object.values(clients)) for (const client of Object.values(set)) client.close();
    },
  };
}
