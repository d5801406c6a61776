import { createHash } from "node:crypto";
import { common, deadline as dpb, transfer as tpb } from "@casebridge/proto";

const { DeadlineKind: Kind, AlertLevel: Level } = dpb;
const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const MONTH = 30 * DAY;

/** A statutory time limit: how long it runs and when to warn before it ends. */
export interface DeadlineRule {
  /** How long the measure may run when no end is set on it. */
  readonly limitMs: number;
  /** The longest any approved extension may make it (the end set on a measure may not go past its start plus this). */
  readonly maxMs?: number;
  /** Warning points, as time before the limit (configurable per rule). */
  readonly warnBeforeMs: readonly number[];
}

/**
 * The statutory limits watched, with their legal basis. The end set on a measure (an approved
 * extension, e.g. detention to 7 or 30 days) wins over the default limit.
 */
export const STATUTORY_RULES: Readonly<Record<string, DeadlineRule>> = {
  // 人民警察法第九条: 继续盘问 24 小时, 经批准可延长至 48 小时. Warn 2 h before.
  DEADLINE_KIND_CONTINUED_QUESTIONING: { limitMs: 24 * HOUR, maxMs: 48 * HOUR, warnBeforeMs: [2 * HOUR] },
  // 刑事诉讼法第九十一条: 拘留后 3 日内提请批准逮捕, 可延长 1 至 4 日, 流窜/多次/结伙作案的可延长至 30 日;
  // 检察院 7 日内决定: at most 37 days in all. Warn 12 h before.
  DEADLINE_KIND_CRIMINAL_DETENTION: { limitMs: 3 * DAY, maxMs: 37 * DAY, warnBeforeMs: [12 * HOUR] },
  // 刑事诉讼法第一百五十六条: 逮捕后的侦查羁押期限不得超过 2 个月 (第一百五十六至一百五十九条的延长: at most 7 months). Warn 7 days before.
  DEADLINE_KIND_INVESTIGATION_CUSTODY: { limitMs: 2 * MONTH, maxMs: 7 * MONTH, warnBeforeMs: [7 * DAY] },
  // 刑事诉讼法第七十九条: 取保候审最长不得超过 12 个月. Warn 15 days before.
  DEADLINE_KIND_BAIL: { limitMs: 12 * MONTH, maxMs: 12 * MONTH, warnBeforeMs: [15 * DAY] },
  // 刑事诉讼法第七十九条: 监视居住最长不得超过 6 个月. Warn 10 days before.
  DEADLINE_KIND_RESIDENTIAL_SURVEILLANCE: { limitMs: 6 * MONTH, maxMs: 6 * MONTH, warnBeforeMs: [10 * DAY] },
  // 刑事诉讼法第一百七十二条: 审查起诉一个月内作出决定. Warn 3 days before.
  DEADLINE_KIND_PROSECUTION_REVIEW: { limitMs: MONTH, warnBeforeMs: [3 * DAY] },
  // 刑事诉讼法第一百七十二条: 适用速裁程序的十日以内 (可能判处一年以上有期徒刑的十五日). Warn 2 days before.
  DEADLINE_KIND_PROSECUTION_REVIEW_FAST_TRACK: { limitMs: 10 * DAY, warnBeforeMs: [2 * DAY] },
  // 刑事诉讼法第一百七十五条: 补充侦查在一个月以内完毕. Warn 3 days before.
  DEADLINE_KIND_SUPPLEMENTARY_INVESTIGATION: { limitMs: MONTH, warnBeforeMs: [3 * DAY] },
  // 刑事诉讼法第二百零八条: 公诉案件二个月以内宣判. Warn 7 days before.
  DEADLINE_KIND_TRIAL: { limitMs: 2 * MONTH, warnBeforeMs: [7 * DAY] },
  // 刑事诉讼法第二百二十五条: 速裁案件十日以内审结 (可能判处一年以上的十五日). Warn 2 days before.
  DEADLINE_KIND_TRIAL_FAST_TRACK: { limitMs: 10 * DAY, warnBeforeMs: [2 * DAY] },
};

/** Who gets the alerts of a transfer's time limit at each agency, and who gets them once escalated. */
export const TRANSFER_DEADLINE_AUDIENCE: Readonly<Partial<Record<common.Agency, { roles: string[]; escalation: string[] }>>> = {
  [common.Agency.AGENCY_POLICE]: { roles: ["police-legal", "unit-leader"], escalation: [] },
  [common.Agency.AGENCY_PROSECUTION]: { roles: ["prosecutor"], escalation: [] },
  [common.Agency.AGENCY_COURT]: { roles: ["judge", "court-clerk"], escalation: [] },
};

/** Who gets the alerts of a coercive measure: the unit leaders, and the legal unit once escalated (the officer in charge by name). */
export const MEASURE_DEADLINE_AUDIENCE = { roles: ["unit-leader"], escalation: ["police-legal"] };

/** The deadline a coercive measure runs under. */
export function deadlineKindOf(measure: tpb.MeasureType): dpb.DeadlineKind {
  switch (measure) {
    case tpb.MeasureType.MEASURE_TYPE_CONTINUED_QUESTIONING:
      return Kind.DEADLINE_KIND_CONTINUED_QUESTIONING;
    case tpb.MeasureType.MEASURE_TYPE_CRIMINAL_DETENTION:
      return Kind.DEADLINE_KIND_CRIMINAL_DETENTION;
    case tpb.MeasureType.MEASURE_TYPE_ARREST:
      return Kind.DEADLINE_KIND_INVESTIGATION_CUSTODY;
    case tpb.MeasureType.MEASURE_TYPE_BAIL:
      return Kind.DEADLINE_KIND_BAIL;
    case tpb.MeasureType.MEASURE_TYPE_RESIDENTIAL_SURVEILLANCE:
      return Kind.DEADLINE_KIND_RESIDENTIAL_SURVEILLANCE;
    default:
      return Kind.DEADLINE_KIND_UNSPECIFIED;
  }
}

/** When a running measure must end: its set end, else its start plus the statutory limit; undefined for a lifted measure or one without a rule. */
export function measureDueAt(measure: tpb.CoerciveMeasure, rules: DeadlineRules = STATUTORY_RULES): Date | undefined {
  const rule = rules[dpb.deadlineKindToJSON(deadlineKindOf(measure.type))];
  if (!rule || measure.releasedAt || !measure.startsAt) return undefined;
  return measure.endsAt ?? new Date(measure.startsAt.getTime() + rule.limitMs);
}

/**
 * What is wrong with `endsAt` as a measure's new end: it must be in the future (a measure that has
 * ended is released instead) and within the statutory maximum from the measure's start.
 */
export function measureEndViolation(measure: tpb.CoerciveMeasure, endsAt: Date, now: Date, rules: DeadlineRules = STATUTORY_RULES): string | undefined {
  if (measure.startsAt && endsAt <= measure.startsAt) return "must be after the measure's start";
  if (endsAt <= now) return "must be in the future (release a measure that has ended)";
  const rule = rules[dpb.deadlineKindToJSON(deadlineKindOf(measure.type))];
  if (rule?.maxMs && measure.startsAt && endsAt.getTime() > measure.startsAt.getTime() + rule.maxMs) {
    return `may not go past the statutory maximum of ${formatDuration(rule.maxMs)} from the measure's start`;
  }
  return undefined;
}

function formatDuration(ms: number): string {
  return ms % DAY === 0 && ms >= 3 * DAY ? `${ms / DAY} days` : `${Math.round(ms / HOUR)} hours`;
}

/** The rules in force: the statutory ones with overrides (e.g. short rules in tests), by kind name. */
export type DeadlineRules = Readonly<Record<string, DeadlineRule>>;

/**
 * Parses overrides of the rules, e.g. `{"DEADLINE_KIND_CRIMINAL_DETENTION": {"limit": "6s",
 * "warnBefore": ["3s"]}}` (durations in ms, s, m, h or d); returns the rules or the problems found.
 */
export function parseDeadlineRules(json: string): { rules: DeadlineRules } | { problems: string[] } {
  if (!json.trim()) return { rules: STATUTORY_RULES };
  let raw: unknown;
  try {
    raw = JSON.parse(json);
  } catch {
    return { problems: ["DEADLINE_RULES is not JSON"] };
  }
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) return { problems: ["DEADLINE_RULES must be an object keyed by deadline kind"] };
  const rules: Record<string, DeadlineRule> = { ...STATUTORY_RULES };
  const problems: string[] = [];
  for (const [kind, value] of Object.entries(raw as Record<string, unknown>)) {
    if (!(kind in STATUTORY_RULES)) {
      problems.push(`DEADLINE_RULES: unknown kind ${kind} (one of ${Object.keys(STATUTORY_RULES).join(", ")})`);
      continue;
    }
    const { limit, warnBefore } = (value ?? {}) as { limit?: unknown; warnBefore?: unknown };
    const limitMs = limit === undefined ? STATUTORY_RULES[kind]!.limitMs : parseDuration(limit);
    const warnings = warnBefore === undefined ? STATUTORY_RULES[kind]!.warnBeforeMs : Array.isArray(warnBefore) ? warnBefore.map(parseDuration) : [undefined];
    if (limitMs === undefined || limitMs <= 0) problems.push(`DEADLINE_RULES.${kind}.limit must be a duration such as "3d" or "6s"`);
    if (warnings.some((w) => w === undefined || w <= 0 || (limitMs !== undefined && w >= limitMs))) {
      problems.push(`DEADLINE_RULES.${kind}.warnBefore must be a list of durations shorter than the limit`);
    }
    if (problems.length === 0) rules[kind] = { limitMs: limitMs!, maxMs: Math.max(limitMs!, STATUTORY_RULES[kind]!.maxMs ?? limitMs!), warnBeforeMs: warnings as number[] };
  }
  return problems.length > 0 ? { problems } : { rules };
}

function parseDuration(value: unknown): number | undefined {
  if (typeof value !== "string") return undefined;
  const match = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)$/.exec(value.trim());
  if (!match) return undefined;
  const unit = { ms: 1, s: 1000, m: 60_000, h: HOUR, d: DAY }[match[2] as "ms" | "s" | "m" | "h" | "d"];
  return Math.round(Number(match[1]) * unit);
}

/** One durable timer a case needs now: a warning point or the limit of one of its deadlines. */
export type PlannedTimer = dpb.DeadlineTimer;

/**
 * The timers of a case's running deadlines: for each coercive measure not lifted, one per warning
 * point and one at the limit (its set end, else its start plus the rule's limit). A point already
 * past is kept (it fires at once): nobody may miss a deadline because it was entered late.
 */
export function measureTimers(file: tpb.CaseFile, rules: DeadlineRules): PlannedTimer[] {
  const kase = file.case;
  if (!kase) return [];
  const timers: PlannedTimer[] = [];
  for (const measure of kase.measures) {
    const kind = deadlineKindOf(measure.type);
    const rule = rules[dpb.deadlineKindToJSON(kind)];
    if (!rule || measure.releasedAt || !measure.startsAt) continue;
    const dueAt = measureDueAt(measure, rules)!;
    const party = kase.parties.find((p) => p.partyId === measure.partyId)?.name ?? "";
    const base = { caseId: kase.caseId, caseNumber: kase.caseNumber, kind, measureId: measure.measureId, transferId: "", partyName: party, officer: file.openedBy };
    timers.push(...pointsOf(base, `${kase.caseId}\n${measure.measureId}`, rule, dueAt, MEASURE_DEADLINE_AUDIENCE));
  }
  return timers;
}

/** A warning timer per warning point and one at the limit. */
function pointsOf(
  base: Pick<PlannedTimer, "caseId" | "caseNumber" | "kind" | "measureId" | "transferId" | "partyName" | "officer">,
  subject: string,
  rule: DeadlineRule,
  dueAt: Date,
  audience: { roles: string[]; escalation: string[] },
): PlannedTimer[] {
  const timer = (level: dpb.AlertLevel, point: string, fireAt: Date): PlannedTimer => ({
    ...base,
    timerId: timerIdOf(subject, point),
    level,
    dueAt,
    fireAt,
    roles: audience.roles,
    escalationRoles: audience.escalation,
  });
  return [...rule.warnBeforeMs.map((before, i) => timer(Level.ALERT_LEVEL_WARNING, `warning-${i}`, new Date(dueAt.getTime() - before))), timer(Level.ALERT_LEVEL_EXPIRED, "limit", dueAt)];
}

/**
 * The timers of a transfer's statutory limit at `agency`: supplementary investigation at the sender
 * of a case returned for it (from the return); prosecution review or trial at the receiver while the
 * transfer is received or accepted and no step has concluded it (indictment, judgment), counted from
 * receipt, 10 days on the fast track. Limits end with the state that made them: a resubmission,
 * a withdrawal, a return.
 */
export function transferTimers(transfer: tpb.Transfer, agency: common.Agency, rules: DeadlineRules): PlannedTimer[] {
  const kase = transfer.case;
  const audience = TRANSFER_DEADLINE_AUDIENCE[agency];
  if (!kase || !audience) return [];
  const suspect = kase.parties.find((p) => p.role === common.PartyRole.PARTY_ROLE_SUSPECT)?.name ?? "";
  const base = { caseId: kase.caseId, caseNumber: kase.caseNumber, measureId: "", transferId: transfer.transferId, partyName: suspect, officer: "" };
  const limit = (kind: dpb.DeadlineKind, startedAt: Date | undefined): PlannedTimer[] => {
    const rule = rules[dpb.deadlineKindToJSON(kind)];
    if (!rule || !startedAt) return [];
    return pointsOf({ ...base, kind }, `${transfer.transferId}\n${dpb.deadlineKindToJSON(kind)}`, rule, new Date(startedAt.getTime() + rule.limitMs), audience);
  };
  const returned = transfer.state === tpb.TransferState.TRANSFER_STATE_RETURNED && transfer.returnReason === tpb.ReturnReason.RETURN_REASON_SUPPLEMENTARY_INVESTIGATION;
  if (transfer.sender === agency) return returned ? limit(Kind.DEADLINE_KIND_SUPPLEMENTARY_INVESTIGATION, transfer.updatedAt) : [];
  const running = (transfer.state === tpb.TransferState.TRANSFER_STATE_RECEIVED || transfer.state === tpb.TransferState.TRANSFER_STATE_ACCEPTED) && !transfer.concludedBy;
  if (transfer.recipient !== agency || !running) return [];
  if (transfer.purpose === tpb.TransferPurpose.TRANSFER_PURPOSE_PROSECUTION_REVIEW) {
    return limit(kase.fastTrack ? Kind.DEADLINE_KIND_PROSECUTION_REVIEW_FAST_TRACK : Kind.DEADLINE_KIND_PROSECUTION_REVIEW, transfer.receivedAt);
  }
  if (transfer.purpose === tpb.TransferPurpose.TRANSFER_PURPOSE_INDICTMENT) {
    return limit(kase.fastTrack ? Kind.DEADLINE_KIND_TRIAL_FAST_TRACK : Kind.DEADLINE_KIND_TRIAL, transfer.receivedAt);
  }
  return [];
}

/** A timer id safe as a NATS subject token: the same deadline and point always give the same id. */
export function timerIdOf(subject: string, point: string): string {
  return createHash("sha256").update(`${subject}\n${point}`).digest("hex").slice(0, 32);
}

/** What to do to the timers when a case goes from `before` to `after`: set the new and moved ones, cancel the ones gone. */
export function timerChanges(before: readonly PlannedTimer[], after: readonly PlannedTimer[]): { set: PlannedTimer[]; cancel: PlannedTimer[] } {
  const old = new Map(before.map((t) => [t.timerId, t]));
  const next = new Map(after.map((t) => [t.timerId, t]));
  return {
    set: after.filter((t) => old.get(t.timerId)?.fireAt?.getTime() !== t.fireAt?.getTime()),
    cancel: before.filter((t) => !next.has(t.timerId)),
  };
}

/** The alert a fired timer makes: one per timer and fire time, so a rescheduled point alerts again and a redelivery does not. */
export function alertIdOf(timer: PlannedTimer): string {
  return `${timer.timerId}-${timer.fireAt?.getTime() ?? 0}`;
}

/**
 * Whether a fired timer is among the timers the case or transfer has now (the system of record): a
 * schedule replaced or cancelled a moment too late must not alert.
 */
export function isCurrent(fired: PlannedTimer, now: readonly PlannedTimer[]): boolean {
  return now.some((t) => t.timerId === fired.timerId && t.fireAt?.getTime() === fired.fireAt?.getTime());
}

/** Roles that get an alert: the timer's audience, and its escalation roles once escalated (a warning nobody acknowledged by the limit). */
export function alertRoles(timer: PlannedTimer, escalated: boolean): string[] {
  return escalated ? [...timer.roles, ...timer.escalationRoles] : [...timer.roles];
}

/** Whether `user` with `roles` gets `alert`. */
export function isAudience(alert: dpb.Alert, user: string, roles: readonly string[], units: readonly string[]): boolean {
  return alert.recipients.includes(user) || (alert.roles.some((role) => roles.includes(role)) && units.includes(alert.unitId));
}

/** Whether `user` has acknowledged `alert` (each recipient acknowledges for themselves). */
export function isAcknowledgedBy(alert: dpb.Alert, user: string): boolean {
  return alert.acknowledgements.some((ack) => ack.user === user);
}
