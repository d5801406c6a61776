import { createHash } from "node:crypto";
import { deadline as dpb, transfer as tpb } from "@casebridge/proto";

const { DeadlineKind: Kind, AlertLevel: Level } = dpb;
const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const MONTH = 30 * DAY;

/** A statutory time limit: how long it runs and when to warn before it ends. */
export interface DeadlineRule {
  /** How long the measure may run when no end is set on it. */
  readonly limitMs: number;
  /** Warning points, as time before the limit (configurable per rule). */
  readonly warnBeforeMs: readonly number[];
}

/**
 * The statutory limits watched, with their legal basis. The end set on a measure (an approved
 * extension, e.g. detention to 7 or 30 days) wins over the default limit.
 */
export const STATUTORY_RULES: Readonly<Record<string, DeadlineRule>> = {
  // 人民警察法第九条: 继续盘问 24 小时, 经批准可延长至 48 小时. Warn 2 h before.
  DEADLINE_KIND_CONTINUED_QUESTIONING: { limitMs: 24 * HOUR, warnBeforeMs: [2 * HOUR] },
  // 刑事诉讼法第九十一条: 拘留后 3 日内提请批准逮捕, 可延长 1 至 4 日, 流窜/多次/结伙作案的可延长至 30 日. Warn 12 h before.
  DEADLINE_KIND_CRIMINAL_DETENTION: { limitMs: 3 * DAY, warnBeforeMs: [12 * HOUR] },
  // 刑事诉讼法第一百五十六条: 逮捕后的侦查羁押期限不得超过 2 个月. Warn 7 days before.
  DEADLINE_KIND_INVESTIGATION_CUSTODY: { limitMs: 2 * MONTH, warnBeforeMs: [7 * DAY] },
  // 刑事诉讼法第七十九条: 取保候审最长不得超过 12 个月. Warn 15 days before.
  DEADLINE_KIND_BAIL: { limitMs: 12 * MONTH, warnBeforeMs: [15 * DAY] },
  // 刑事诉讼法第七十九条: 监视居住最长不得超过 6 个月. Warn 10 days before.
  DEADLINE_KIND_RESIDENTIAL_SURVEILLANCE: { limitMs: 6 * MONTH, warnBeforeMs: [10 * DAY] },
};

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
    if (problems.length === 0) rules[kind] = { limitMs: limitMs!, warnBeforeMs: warnings as number[] };
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
export function plannedTimers(file: tpb.CaseFile, rules: DeadlineRules): PlannedTimer[] {
  const kase = file.case;
  if (!kase) return [];
  const timers: PlannedTimer[] = [];
  for (const measure of kase.measures) {
    const kind = deadlineKindOf(measure.type);
    const rule = rules[dpb.deadlineKindToJSON(kind)];
    if (!rule || measure.releasedAt || !measure.startsAt) continue;
    const dueAt = measureDueAt(measure, rules)!;
    const party = kase.parties.find((p) => p.partyId === measure.partyId)?.name ?? "";
    const timer = (level: dpb.AlertLevel, point: string, fireAt: Date): PlannedTimer => ({
      timerId: timerIdOf(kase.caseId, measure.measureId, point),
      caseId: kase.caseId,
      caseNumber: kase.caseNumber,
      kind,
      level,
      measureId: measure.measureId,
      partyName: party,
      dueAt,
      fireAt,
      officer: file.openedBy,
    });
    rule.warnBeforeMs.forEach((before, i) => timers.push(timer(Level.ALERT_LEVEL_WARNING, `warning-${i}`, new Date(dueAt.getTime() - before))));
    timers.push(timer(Level.ALERT_LEVEL_EXPIRED, "limit", dueAt));
  }
  return timers;
}

/** A timer id safe as a NATS subject token: the same case, measure and point always give the same id. */
export function timerIdOf(caseId: string, measureId: string, point: string): string {
  return createHash("sha256").update(`${caseId}\n${measureId}\n${point}`).digest("hex").slice(0, 32);
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
 * Whether a fired timer still stands against the case as it is now (the system of record): a
 * schedule replaced or cancelled a moment too late must not alert.
 */
export function isCurrent(fired: PlannedTimer, file: tpb.CaseFile | undefined, rules: DeadlineRules): boolean {
  if (!file) return false;
  return plannedTimers(file, rules).some((t) => t.timerId === fired.timerId && t.fireAt?.getTime() === fired.fireAt?.getTime());
}

/** Roles that get an alert: unit leaders always, the legal unit once it is escalated (a warning nobody acknowledged by the limit). */
export function alertRoles(escalated: boolean): string[] {
  return escalated ? ["unit-leader", "police-legal"] : ["unit-leader"];
}

/** Whether `user` with `roles` gets `alert`. */
export function isAudience(alert: dpb.Alert, user: string, roles: readonly string[]): boolean {
  return alert.recipients.includes(user) || alert.roles.some((role) => roles.includes(role));
}

/** Whether `user` has acknowledged `alert` (each recipient acknowledges for themselves). */
export function isAcknowledgedBy(alert: dpb.Alert, user: string): boolean {
  return alert.acknowledgements.some((ack) => ack.user === user);
}
