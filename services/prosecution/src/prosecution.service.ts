import { CASE_ROLES, FailedPreconditionError, InvalidArgumentError, type ContractHandlers, type TokenVerifier, type TransferEngine } from "@casebridge/kit";
import { common, transfer as pb } from "@casebridge/proto";

/** ProsecutionService: indict an accepted case to court with the sealed indictment added to the bundle. */
export function createProsecutionHandlers(engine: TransferEngine, auth: TokenVerifier): ContractHandlers<typeof pb.ProsecutionServiceDefinition> {
  return {
    indict: async (request, ctx) => {
      const actor = await auth.requireActor(ctx, common.Agency.AGENCY_PROSECUTION, CASE_ROLES.indict);
      if (!request.indictment) throw new InvalidArgumentError("an indictment is required", [{ field: "indictment", description: "is required" }]);
      const review = (await engine.incoming(actor, request.transferId)).value;
      if (review.state !== pb.TransferState.TRANSFER_STATE_ACCEPTED) {
        throw new FailedPreconditionError(`transfer ${request.transferId} must be accepted before the case is indicted`);
      }
      const [indictment] = await engine.sealDocuments([request.indictment], "indictment");
      const transfer = await engine.send({
        actor,
        kase: review.case!,
        documents: [...(review.bundle?.documents ?? []), indictment!],
        // The office that reviewed the case indicts it, to the court with jurisdiction over that office.
        senderUnit: review.recipientUnit!,
        recipient: common.Agency.AGENCY_COURT,
        purpose: pb.TransferPurpose.TRANSFER_PURPOSE_INDICTMENT,
        parentTransferId: review.transferId,
        path: [...review.path, review.sender],
        pathTransferIds: [...review.pathTransferIds, review.transferId],
      });
      await engine.announce(actor, review.transferId, "indicted", `indictment sent to court as transfer ${transfer.transferId}`, indictment, true);
      return { transfer };
    },
  };
}
