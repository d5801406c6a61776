/** The JetStream stream of every agency's timeline entries (projected into each agency's timeline view). */
export const LEDGER_STREAM = "CB_LEDGER";

/** The subject of an agency's timeline entries. */
export function timelineSubject(agency: string): string {
  return `cb.ledger.${agency}.timeline`;
}

/** The Nats-Msg-Id of a timeline entry: entry ids are shared across agencies (a progress entry is on both sides), dedup is per stream. */
export function ledgerMessageId(agency: string, entryId: string): string {
  return `${agency}:${entryId}`;
}

/**
 * The JetStream stream of one agency's audit records. JetStream gives each record its position
 * (the stream sequence, without gaps: one subject per stream), which the hash-chained log keeps,
 * so the log can be rebuilt identically and a truncated log is seen against the stream.
 */
export function auditStream(agency: string): string {
  return `CB_AUDIT_${agency.toUpperCase()}`;
}

/** The subject of an agency's audit records. */
export function auditSubject(agency: string): string {
  return `cb.audit.${agency}`;
}
