import { AGENCY_ROLES, serve, transferWithDeadlinesSetup, type ServiceSpec } from "@casebridge/kit";
import { common, transfer as pb } from "@casebridge/proto";
import { createProsecutionHandlers } from "./prosecution.service";


// The procuratorate reviews cases from the police and indicts them to court, within the review limit (deadline alerts).
/** The prosecution service: what main.ts runs and what tests start in-process. */
export const spec: ServiceSpec = {
  name: "prosecution",
  agency: common.Agency.AGENCY_PROSECUTION,
  defaultGrpcPort: 50052,
  setup: (deps) =>
    transferWithDeadlinesSetup(deps, {
      agency: common.Agency.AGENCY_PROSECUTION,
      requireApproval: false,
      roles: AGENCY_ROLES.prosecution,
      extra: (engine, auth) => [serve(pb.ProsecutionServiceDefinition, createProsecutionHandlers(engine, auth))],
    }),
};
