import { serve, transferSetup, type ServiceSpec } from "@casebridge/kit";
import { common, transfer as pb } from "@casebridge/proto";
import { createCourtHandlers } from "./court.service";

const COURT_STAFF = ["judge", "court-clerk"];

// The court receives indictments, registers them, and sends the sealed judgment back down the path.
/** The court service: what main.ts runs and what tests start in-process. */
export const spec: ServiceSpec = {
  name: "court",
  agency: common.Agency.AGENCY_COURT,
  defaultGrpcPort: 50053,
  setup: (deps) =>
    transferSetup(deps, {
      agency: common.Agency.AGENCY_COURT,
      requireApproval: false,
      roles: { send: ["judge"], decide: COURT_STAFF, read: COURT_STAFF, openCases: COURT_STAFF, approveCases: ["judge"] },
      extra: (engine, auth) => [serve(pb.CourtServiceDefinition, createCourtHandlers(engine, auth))],
    }),
};
