import type { common, transfer as pb } from "@casebridge/proto";
import type { TokenVerifier } from "../actor";
import type { CallContext, ContractHandlers } from "../contract";
import { FailedPreconditionError, InvalidArgumentError } from "../errors";
import { dwellTimes } from "./domain";
import { approvalHolds } from "../trust/binding";
import type { TransferRoles } from "./roles";
import type { TransferEngine } from "./transfer-engine";


/** The TransferService of one agency. */
export function createTransferHandlers(
  engine: TransferEngine,
  auth: TokenVerifier,
  agency: common.Agency,
  roles: TransferRoles,
  options: { requireApproval: boolean },
): ContractHandlers<typeof pb.TransferServiceDefinition> {
  const requireActor = (ctx: CallContext, allowed: readonly string[]) => auth.requireActor(ctx, agency, allowed);
  const id = (value: string, field = "transfer_id"): string => {
    if (!value.trim()) throw new InvalidArgumentError(`${field} is required`, [{ field, description: "must not be empty" }]);
    return value;
  };
  return {
    submitTransfer: async (request, ctx) => {
      const actor = await requireActor(ctx, roles.send);
      const approved = (file: pb.CaseFile): pb.CaseFile => {
        if (options.requireApproval && !approvalHolds(file)) {
          throw new FailedPreconditionError(`case ${file.case?.caseId ?? ""} needs the legal unit's approval of its current content before it can leave`);
        }
        return file;
      };
      if (request.transferId) {
        const current = await engine.outgoing(actor, request.transferId);
        const file = approved(await engine.caseFiles.caseFile(actor, current.value.case?.caseId ?? ""));
        return { transfer: await engine.resubmit(actor, request.transferId, file.documents, file.case) };
      }
      const file = approved(await engine.caseFiles.caseFile(actor, id(request.caseId, "case_id")));
      // The case leaves from the unit that holds it (its issuer), to the unit named or the one with jurisdiction.
      return {
        transfer: await engine.send({ actor, kase: file.case!, documents: file.documents, senderUnit: file.case!.issuer!, recipient: request.recipient, recipientUnitId: request.recipientUnitId, purpose: request.purpose }),
      };
    },
    withdrawTransfer: async (request, ctx) => {
      const actor = await requireActor(ctx, roles.send);
      return { transfer: await engine.withdraw(actor, id(request.transferId), request.reason) };
    },
    acceptTransfer: async (request, ctx) => {
      const actor = await requireActor(ctx, roles.decide);
      return { transfer: await engine.accept(actor, id(request.transferId)) };
    },
    returnTransfer: async (request, ctx) => {
      const actor = await requireActor(ctx, roles.decide);
      return { transfer: await engine.giveBack(actor, id(request.transferId), request.reason, request.note) };
    },
    getTransfer: async (request, ctx) => {
      const actor = await requireActor(ctx, roles.read);
      return { transfer: await engine.visibleTransfer(actor, id(request.transferId)) };
    },
    listTransfers: async (request, ctx) => {
      const actor = await requireActor(ctx, roles.read);
      return engine.list(actor, request);
    },
    getCaseTimeline: async (request, ctx) => {
      const actor = await requireActor(ctx, roles.read);
      await engine.assertCaseVisible(actor, id(request.caseId, "case_id"));
      const entries = await engine.timeline.ofCase(request.caseId);
      return { entries, dwell: dwellTimes(entries, new Date()) };
    },
    getDocument: async (request, ctx) => {
      const actor = await requireActor(ctx, roles.read);
      return engine.document(actor, { ...request, transferId: id(request.transferId), documentId: id(request.documentId, "document_id") });
    },
    exportEvidence: async (request, ctx) => {
      const actor = await requireActor(ctx, roles.read);
      return engine.exportEvidence(actor, id(request.transferId));
    },
    verifyAuditLog: async (_request, ctx) => {
      await requireActor(ctx, roles.audit);
      const result = await engine.audit.verify();
      return result.intact ? { intact: true, entries: result.entries, brokenAt: 0, reason: "" } : { intact: false, entries: result.entries, brokenAt: result.brokenAt, reason: result.reason };
    },
  };
}

/** The CaseFileService of an agency that opens cases. */
export function createCaseFileHandlers(engine: TransferEngine, auth: TokenVerifier, agency: common.Agency, roles: TransferRoles): ContractHandlers<typeof pb.CaseFileServiceDefinition> {
  const requireActor = (ctx: CallContext, allowed: readonly string[]) => auth.requireActor(ctx, agency, allowed);
  return {
    openCase: async (request, ctx) => ({ caseFile: await engine.caseFiles.openCase(await requireActor(ctx, roles.openCases), request.case, request.documents) }),
    approveCase: async (request, ctx) => ({ caseFile: await engine.caseFiles.approveCase(await requireActor(ctx, roles.approveCases), request.caseId, request.decision, request.opinion) }),
    addDocuments: async (request, ctx) => ({ caseFile: await engine.caseFiles.addDocuments(await requireActor(ctx, roles.openCases), request.caseId, request.documents) }),
    getCase: async (request, ctx) => {
      const actor = await requireActor(ctx, roles.read);
      return { caseFile: await engine.caseFiles.caseFile(actor, request.caseId) };
    },
    listCases: async (request, ctx) => {
      const actor = await requireActor(ctx, roles.read);
      return engine.caseFiles.listCases(actor, request);
    },
    changeMeasure: async (request, ctx) => ({ caseFile: await engine.caseFiles.changeMeasure(await requireActor(ctx, roles.openCases), request) }),
  };
}
