import { AGENCY_ROLES, serve, transferWithDeadlinesSetup, type ServiceSpec } from "@casebridge/kit";
import { common, transfer as pb } from "@casebridge/proto";
import { createCourtHandlers } from "./court.service";


// The court receives indictments, registers them, and sends the sealed judgment back down the path, within the trial limit (deadline alerts).
/** The court service: what main.ts runs and what tests start in-process. */
export const spec: ServiceSpec = {
  name: "court",
  agency: common.Agency.AGENCY_COURT,
  defaultGrpcPort: 50053,
  setup: (deps) =>
    transferWithDeadlinesSetup(deps, {
      agency: common.Agency.AGENCY_COURT,
      requireApproval: false,
      roles: AGENCY_ROLES.court,
      extra: (engine, auth) => [serve(pb.CourtServiceDefinition, createCourtHandlers(engine, auth))],
    }),
};
