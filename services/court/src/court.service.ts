import { CASE_ROLES, courtCaseNumber, CRIMINAL_FIRST_INSTANCE, FailedPreconditionError, InvalidArgumentError, sequenceKey, yearInChina, type Actor, type ContractHandlers, type TokenVerifier, type TransferEngine } from "@casebridge/kit";
import { common, transfer as pb } from "@casebridge/proto";

/** CourtService: register an accepted indictment, record the sealed judgment and send the outcome back. */
export function createCourtHandlers(engine: TransferEngine, auth: TokenVerifier, clock: () => Date = () => new Date()): ContractHandlers<typeof pb.CourtServiceDefinition> {
  const accepted = async (actor: Actor, transferId: string): Promise<pb.Transfer> => {
    const transfer = (await engine.incoming(actor, transferId)).value;
    if (transfer.state !== pb.TransferState.TRANSFER_STATE_ACCEPTED) throw new FailedPreconditionError(`transfer ${transferId} must be accepted first`);
    return transfer;
  };
  return {
    // Once per case: a second registration answers the same number (刑初, a sequence per court and year).
    registerCase: async (request, ctx) => {
      const actor = await auth.requireActor(ctx, common.Agency.AGENCY_COURT, CASE_ROLES.registerCase);
      const transfer = await accepted(actor, request.transferId);
      const registered = await engine.registerOnce(actor, transfer.transferId, async (held) => {
        const court = held.recipientUnit?.unitId ?? "";
        const year = yearInChina(clock());
        return courtCaseNumber(court, year, await engine.sequences.next(sequenceKey(court, CRIMINAL_FIRST_INSTANCE, year)));
      });
      return { courtCaseNumber: registered };
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
