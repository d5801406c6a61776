import { AGENCY_ROLES, transferWithDeadlinesSetup, type ServiceSpec } from "@casebridge/kit";
import { common } from "@casebridge/proto";

// The police open cases; the legal unit (法制大队) approves and sends them on; the coercive
// measures of their cases and the returns for supplementary investigation run under statutory
// deadlines, watched by durable timers.
/** The police service: what main.ts runs and what tests start in-process. */
export const spec: ServiceSpec = {
  name: "police",
  agency: common.Agency.AGENCY_POLICE,
  defaultGrpcPort: 50051,
  setup: (deps) => transferWithDeadlinesSetup(deps, { agency: common.Agency.AGENCY_POLICE, requireApproval: true, roles: AGENCY_ROLES.police }),
};
