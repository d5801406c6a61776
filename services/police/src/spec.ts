import { AGENCY_ROLES, composeSetups, deadlineSetup, transferSetup, type ServiceSpec, type TransferServiceSetup } from "@casebridge/kit";
import { common } from "@casebridge/proto";

// The police open cases; the legal unit (法制大队) approves and sends them on; the coercive
// measures of their cases run under statutory deadlines, watched by durable timers.
/** The police service: what main.ts runs and what tests start in-process. */
export const spec: ServiceSpec = {
  name: "police",
  agency: common.Agency.AGENCY_POLICE,
  defaultGrpcPort: 50051,
  setup: async (deps) => {
    const transfer = await transferSetup(deps, { agency: common.Agency.AGENCY_POLICE, requireApproval: true, roles: AGENCY_ROLES.police });
    const deadlines = await deadlineSetup(deps, { engine: transfer.engine, roles: AGENCY_ROLES.police });
    return { ...composeSetups(transfer, deadlines), engine: transfer.engine, alerts: deadlines.alerts } as TransferServiceSetup;
  },
};
