import type { common } from "@casebridge/proto";
import { transfer as pb, trust as tpb } from "@casebridge/proto";
import type { TokenVerifier } from "../actor";
import { serve, type ServedContract } from "../contract";
import type { ServiceDeps, ServiceSetup } from "../service";
import { TransferEngine } from "./transfer-engine";
import { PLATFORM_ROLES, type TransferRoles } from "./roles";
import { createCaseFileHandlers, createTransferHandlers } from "./transfer.handlers";

/** How an agency service takes part in transfers. */
export interface TransferSetupOptions {
  readonly agency: common.Agency;
  readonly roles: TransferRoles;
  /** Cases must be approved (法制审核) before they leave. */
  readonly requireApproval: boolean;
  /** The agency's own contracts, built on the engine. */
  readonly extra?: (engine: TransferEngine, auth: TokenVerifier) => ServedContract[];
}

/** A ServiceSetup that also gives access to its transfer engine. */
export interface TransferServiceSetup extends ServiceSetup {
  readonly engine: TransferEngine;
}

/** The ServiceSetup of an agency service that sends and receives transfers. */
export async function transferSetup(deps: ServiceDeps, options: TransferSetupOptions): Promise<TransferServiceSetup> {
  const engine = await TransferEngine.create({
    agency: options.agency,
    runtime: deps.runtime,
    nc: deps.nats.nc,
    js: deps.js,
    seals: deps.seals,
    logger: deps.logger.child({ component: "transfer" }),
    deadlineRules: deps.config.deadlineRules,
  });
  return {
    engine,
    contracts: [
      serve(pb.TransferServiceDefinition, createTransferHandlers(engine, deps.auth, options.agency, options.roles, { requireApproval: options.requireApproval })),
      serve(pb.CaseFileServiceDefinition, createCaseFileHandlers(engine, deps.auth, options.agency, options.roles)),
      serve(tpb.IncidentServiceDefinition, {
        listIncidents: async (request, ctx) => {
          await deps.auth.requirePlatformActor(ctx, PLATFORM_ROLES.incidents);
          return engine.incidents.list(request);
        },
      }),
      ...(options.extra?.(engine, deps.auth) ?? []),
    ],
    start: () => engine.start(),
    stop: () => engine.stop(),
  };
}
