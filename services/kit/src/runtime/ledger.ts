/** The JetStream stream of every agency's ledger: timeline entries and audit records, in the order they were committed. */
export const LEDGER_STREAM = "CB_LEDGER";

/** What a ledger entry is. */
export type LedgerKind = "timeline" | "audit";

/** The subject of an agency's ledger entries of one kind. */
export function ledgerSubject(agency: string, kind: LedgerKind): string {
  return `cb.ledger.${agency}.${kind}`;
}

/** The Nats-Msg-Id of a ledger entry: entry ids are shared across agencies (a progress entry is on both sides), dedup is per stream. */
export function ledgerMessageId(agency: string, entryId: string): string {
  return `${agency}:${entryId}`;
}
