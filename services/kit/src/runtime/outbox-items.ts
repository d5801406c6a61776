import { runtime as rpb, transfer as pb } from "@casebridge/proto";
import type { OutboxItem } from "./aggregate-store";
import { encodeAuditRecord, type AuditRecord } from "./audit-log";

/** A timeline entry as an outbox item (appended to the agency's ledger by the relay). */
export function timelineOutboxItem(entry: pb.TimelineEntry): OutboxItem {
  return rpb.OutboxItem.fromPartial({ id: entry.entryId, kind: rpb.OutboxKind.OUTBOX_KIND_TIMELINE, data: pb.TimelineEntry.encode(entry).finish() });
}

/** An audit record as an outbox item (appended to the agency's audit stream by the relay). */
export function auditOutboxItem(record: AuditRecord): OutboxItem {
  return rpb.OutboxItem.fromPartial({ id: record.entryId, kind: rpb.OutboxKind.OUTBOX_KIND_AUDIT, data: encodeAuditRecord(record) });
}
