import { AGENCY_ROLES, transferSetup, type ServiceSpec } from "@casebridge/kit";
import { common } from "@casebridge/proto";


// Notary offices send and receive transfers like any agency (mediation agreements build on this).
/** The notary service: what main.ts runs and what tests start in-process. */
export const spec: ServiceSpec = {
  name: "notary",
  agency: common.Agency.AGENCY_NOTARY,
  defaultGrpcPort: 50055,
  setup: (deps) =>
    transferSetup(deps, {
      agency: common.Agency.AGENCY_NOTARY,
      requireApproval: false,
      roles: AGENCY_ROLES.notary,
    }),
};
