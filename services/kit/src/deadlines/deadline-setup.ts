import { type common, deadline as dpb } from "@casebridge/proto";
import type { TokenVerifier } from "../actor";
import type { CallContext, ContractHandlers } from "../contract";
import { serve } from "../contract";
import { sealAgencyOf } from "../seal";
import { composeSetups, type ServiceDeps, type ServiceSetup } from "../service";
import { transferSetup, type TransferServiceSetup, type TransferSetupOptions } from "../transfer/transfer-setup";
import type { TransferRoles } from "../transfer/roles";
import type { TransferEngine } from "../transfer/transfer-engine";
import { DeadlineAlerts } from "./deadline-alerts";

/** How an agency service watches statutory deadlines: on the case files and transfers of its transfer engine. */
export interface DeadlineSetupOptions {
  readonly engine: TransferEngine;
  readonly roles: TransferRoles;
}

/** The ServiceSetup of the statutory-deadline module: timers committed with case changes, alerts, the AlertService. */
export async function deadlineSetup(deps: ServiceDeps, options: DeadlineSetupOptions): Promise<ServiceSetup & { readonly alerts: DeadlineAlerts }> {
  const { engine } = options;
  const alerts = new DeadlineAlerts({
    agency: sealAgencyOf(engine.agency)!,
    agencyEnum: engine.agency,
    runtime: deps.runtime,
    js: deps.js,
    cases: engine.caseFiles.cases,
    transfers: engine.transfers,
    rules: deps.config.deadlineRules,
    logger: deps.logger.child({ component: "deadlines" }),
    changed: (alert) => engine.notify({ alertId: alert.alertId, caseId: alert.timer?.caseId ?? "", unitId: alert.unitId }),
  });
  alerts.watch();
  await alerts.ensure();
  return {
    alerts,
    contracts: [serve(dpb.AlertServiceDefinition, createAlertHandlers(alerts, deps.auth, engine.agency, options.roles))],
    start: () => alerts.start(),
    stop: () => alerts.stop(),
  };
}

/** The AlertService (notification centre) of one agency. */
export function createAlertHandlers(alerts: DeadlineAlerts, auth: TokenVerifier, agency: common.Agency, roles: TransferRoles): ContractHandlers<typeof dpb.AlertServiceDefinition> {
  const requireActor = (ctx: CallContext) => auth.requireActor(ctx, agency, roles.alerts);
  return {
    listAlerts: async (request, ctx) => alerts.list(await requireActor(ctx), request),
    acknowledgeAlert: async (request, ctx) => ({ alert: await alerts.acknowledge(await requireActor(ctx), request.alertId) }),
  };
}

/** The ServiceSetup of an agency that moves cases and watches their statutory deadlines: the transfer workflow with the deadline module on it. */
export async function transferWithDeadlinesSetup(deps: ServiceDeps, options: TransferSetupOptions): Promise<TransferServiceSetup & { readonly alerts: DeadlineAlerts }> {
  const transfer = await transferSetup(deps, options);
  const deadlines = await deadlineSetup(deps, { engine: transfer.engine, roles: options.roles });
  return { ...composeSetups(transfer, deadlines), engine: transfer.engine, alerts: deadlines.alerts };
}
