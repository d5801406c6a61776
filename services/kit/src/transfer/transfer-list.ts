import { transfer as pb } from "@casebridge/proto";
import { InvalidArgumentError } from "../errors";
import { visibleUnits, type UnitMember } from "../units/units";

/** The text a transfer is found by: its case number and its parties' names, lowercased. */
export function transferSearchText(transfer: pb.Transfer): string {
  const kase = transfer.case;
  return [kase?.caseNumber ?? "", ...(kase?.parties ?? []).map((party) => party.name)].join("\n").toLowerCase();
}

/** The view fields a transfer list filters on, beside box, unit, state and case id. */
export function transferListFields(transfer: pb.Transfer): { caseKind: number; fastTrack: boolean; search: string } {
  return { caseKind: transfer.case?.kind ?? 0, fastTrack: transfer.case?.fastTrack ?? false, search: transferSearchText(transfer) };
}

/**
 * The view filter of a transfer list request of `member`: the box, the units the member sees (or the
 * one asked for, if the member sees it), states, case, kind, fast-track, last change in
 * [updated_from, updated_to), and a case number or party name (part of it). Throws
 * InvalidArgumentError naming the field for a box, unit or time range that cannot be.
 */
export function transferListFilter(member: UnitMember, request: pb.ListTransfersRequest): Record<string, unknown> {
  if (request.box !== pb.Box.BOX_INBOX && request.box !== pb.Box.BOX_OUTBOX) {
    throw new InvalidArgumentError("invalid box", [{ field: "box", description: "must be INBOX or OUTBOX" }]);
  }
  const units = visibleUnits(member);
  if (request.unitId && !units.includes(request.unitId)) {
    throw new InvalidArgumentError("invalid unit", [{ field: "unit_id", description: "must be a unit you see (yours or one it supervises)" }]);
  }
  const filter: Record<string, unknown> = { box: request.box === pb.Box.BOX_INBOX ? "inbox" : "outbox", unit: request.unitId ? request.unitId : { $in: units } };
  if (request.states.length > 0) filter.state = { $in: request.states };
  if (request.caseId) filter.caseId = request.caseId;
  if (request.caseKind !== pb.CaseKind.CASE_KIND_UNSPECIFIED) filter.caseKind = request.caseKind;
  if (request.fastTrackOnly) filter.fastTrack = true;
  const { updatedFrom: from, updatedTo: to } = request;
  if (from && to && from.getTime() >= to.getTime()) {
    throw new InvalidArgumentError("invalid time range", [{ field: "updated_to", description: "must be after updated_from" }]);
  }
  if (from || to) filter.updatedAt = { ...(from ? { $gte: from } : {}), ...(to ? { $lt: to } : {}) };
  const query = request.query.trim().toLowerCase();
  if (query) filter.search = { $regex: escapeRegExp(query) };
  return filter;
}

/** The order of a list request: last changed first unless asked otherwise. */
export function transferListOrder(request: pb.ListTransfersRequest): "asc" | "desc" {
  return request.sort === pb.TransferSort.TRANSFER_SORT_UPDATED_ASC ? "asc" : "desc";
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}
