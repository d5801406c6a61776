import { AGENCY_ROLES, transferSetup, type ServiceSpec } from "@casebridge/kit";
import { common } from "@casebridge/proto";


// The justice bureau (legal aid, duty lawyers, mediators) sends and receives transfers like any agency.
/** The judicial service: what main.ts runs and what tests start in-process. */
export const spec: ServiceSpec = {
  name: "judicial",
  agency: common.Agency.AGENCY_JUDICIAL,
  defaultGrpcPort: 50054,
  setup: (deps) =>
    transferSetup(deps, {
      agency: common.Agency.AGENCY_JUDICIAL,
      requireApproval: false,
      roles: AGENCY_ROLES.judicial,
    }),
};
