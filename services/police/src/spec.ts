import { AGENCY_ROLES, transferSetup, type ServiceSpec } from "@casebridge/kit";
import { common } from "@casebridge/proto";

// The police open cases; the legal unit (法制大队) approves and sends them on.
/** The police service: what main.ts runs and what tests start in-process. */
export const spec: ServiceSpec = {
  name: "police",
  agency: common.Agency.AGENCY_POLICE,
  defaultGrpcPort: 50051,
  setup: (deps) =>
    transferSetup(deps, {
      agency: common.Agency.AGENCY_POLICE,
      requireApproval: true,
      roles: AGENCY_ROLES.police,
    }),
};
