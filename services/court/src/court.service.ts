import { CASE_ROLES, FailedPreconditionError, InvalidArgumentError, type Actor, type ContractHandlers, type TokenVerifier, type TransferEngine } from "@casebridge/kit";
import { common, transfer as pb } from "@casebridge/proto";

/** CourtService: register an accepted indictment, record the sealed judgment and send the outcome back. */
export function createCourtHandlers(engine: TransferEngine, auth: TokenVerifier, clock: () => Date = () => new Date()): ContractHandlers<typeof pb.CourtServiceDefinition> {
  const accepted = async (actor: Actor, transferId: string): Promise<pb.Transfer> => {
    const transfer = (await engine.incoming(actor, transferId)).value;
    if (transfer.state !== pb.TransferState.TRANSFER_STATE_ACCEPTED) throw new FailedPreconditionError(`transfer ${transferId} must be accepted first`);
    return transfer;
  };
  return {
    registerCase: async (request, ctx) => {
      const actor = await auth.requireActor(ctx, common.Agency.AGENCY_COURT, CASE_ROLES.registerCase);
      const transfer = await accepted(actor, request.transferId);
      const courtCaseNumber = `(${clock().getUTCFullYear()}) 刑初 ${transfer.transferId.slice(0, 8).toUpperCase()}`;
      await engine.announce(actor, transfer.transferId, "registered", `court case ${courtCaseNumber}`);
      return { courtCaseNumber };
    },
    recordJudgment: async (request, ctx) => {
      const actor = await auth.requireActor(ctx, common.Agency.AGENCY_COURT, CASE_ROLES.recordJudgment);
      if (!request.judgment) throw new InvalidArgumentError("a judgment document is required", [{ field: "judgment", description: "is required" }]);
      if (!request.outcome.trim()) throw new InvalidArgumentError("the outcome is required", [{ field: "outcome", description: "must not be empty" }]);
      const transfer = await accepted(actor, request.transferId);
      const [judgment] = await engine.sealDocuments([request.judgment], "judgment");
      await engine.announce(actor, transfer.transferId, "judgment", request.outcome, judgment, true);
      return { judgment };
    },
  };
}
