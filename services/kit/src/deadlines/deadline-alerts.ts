import { randomUUID } from "node:crypto";
import type { JetStreamClient } from "@nats-io/jetstream";
import type { Logger } from "pino";
import { type common, deadline as dpb, runtime as rpb, type transfer as tpb } from "@casebridge/proto";
import type { Actor } from "../actor";
import { FailedPreconditionError, InvalidArgumentError, NotFoundError } from "../errors";
import { consumeEvents, ensureConsumer, type RunningConsumer } from "../jetstream";
import type { AggregateCodec, AggregateStore, OutboxItem } from "../runtime/aggregate-store";
import { auditOutboxItem } from "../runtime/outbox-items";
import type { DurableRuntime } from "../runtime/durable-runtime";
import { timerStream, timerFiredSubject, timerScheduleSubject } from "../runtime/timers";
import type { ViewCollection } from "../runtime/view-collection";
import { visibleUnits } from "../units/units";
import { transferUnit } from "../transfer/domain";
import { alertIdOf, alertRoles, isAcknowledgedBy, isAudience, isCurrent, measureTimers, timerChanges, transferTimers, type DeadlineRules, type PlannedTimer } from "./domain";

const ALERT_CODEC: AggregateCodec<dpb.Alert> = { encode: (a) => dpb.Alert.encode(a).finish(), decode: (b) => dpb.Alert.decode(b) };

/** Registers the notification centre's read model (alerts by audience, newest first) with a runtime's projector. */
export function registerAlertView(runtime: DurableRuntime, changed?: (alert: dpb.Alert) => void): ViewCollection {
  return runtime.view({
    kind: "alert",
    codec: ALERT_CODEC,
    indexes: [{ firedAt: -1 }],
    fields: (a) => ({ recipients: a.recipients, roles: a.roles, unit: a.unitId, acknowledgedBy: a.acknowledgements.map((ack) => ack.user), firedAt: a.firedAt ?? new Date(0), caseId: a.timer?.caseId ?? "" }),
    changed,
  });
}

/** What the deadline module of an agency needs. */
export interface DeadlineAlertsDeps {
  /** The agency's short name (subjects and consumers). */
  readonly agency: string;
  readonly runtime: DurableRuntime;
  readonly js: JetStreamClient;
  readonly agencyEnum: common.Agency;
  /** The agency's case files and transfers (the system of record the timers are checked against). */
  readonly cases: AggregateStore<tpb.CaseFile>;
  readonly transfers: AggregateStore<tpb.Transfer>;
  readonly rules: DeadlineRules;
  readonly logger: Logger;
  /** Live views hear of each alert fired or acknowledged. */
  readonly changed?: (alert: dpb.Alert) => void;
  readonly clock?: () => Date;
}

/**
 * Statutory deadlines as durable timers: the case's running deadlines become server-side scheduled
 * messages (ADR-51) committed with the case change that causes them (set, moved or cancelled by the
 * relay); when one fires, the agency's consumer turns it into an alert, once, after checking it
 * against the case as it is now; the notification centre lists and acknowledges alerts, and a limit
 * reached with its warning unacknowledged is escalated to the legal unit.
 */
export class DeadlineAlerts {
  readonly alerts: AggregateStore<dpb.Alert>;
  readonly view: ViewCollection;
  private consumer: RunningConsumer | undefined;
  private readonly clock: () => Date;

  constructor(private readonly deps: DeadlineAlertsDeps) {
    this.clock = deps.clock ?? (() => new Date());
    this.alerts = deps.runtime.store("alert", ALERT_CODEC);
    this.view = registerAlertView(deps.runtime, deps.changed);
  }

  private get durable(): string {
    return `timers-${this.deps.agency}`;
  }

  /** Commits the timers of every case file and transfer with each of their changes: set, moved or cancelled in the same write. */
  watch(): void {
    this.deps.cases.onChange((before, after) => this.timerItems(before ? this.ofCase(before) : [], this.ofCase(after)));
    this.deps.transfers.onChange((before, after) => this.timerItems(before ? this.ofTransfer(before) : [], this.ofTransfer(after)));
  }

  private ofCase(file: tpb.CaseFile): PlannedTimer[] {
    return measureTimers(file, this.deps.rules);
  }

  private ofTransfer(transfer: tpb.Transfer): PlannedTimer[] {
    return transferTimers(transfer, this.deps.agencyEnum, this.deps.rules);
  }

  /** The outbox items that set, move or cancel timers when a record's timers go from `before` to `after`. */
  timerItems(before: readonly PlannedTimer[], after: readonly PlannedTimer[]): OutboxItem[] {
    const { set, cancel } = timerChanges(before, after);
    return [
      ...set.map((timer) =>
        rpb.OutboxItem.fromPartial({
          id: `timer-${alertIdOf(timer)}`,
          kind: rpb.OutboxKind.OUTBOX_KIND_TIMER,
          subject: timerScheduleSubject(this.deps.agency, timer.timerId),
          target: timerFiredSubject(this.deps.agency, timer.timerId),
          fireAt: timer.fireAt,
          data: dpb.DeadlineTimer.encode(timer).finish(),
        }),
      ),
      ...cancel.map((timer) =>
        rpb.OutboxItem.fromPartial({ id: `timer-cancel-${randomUUID()}`, kind: rpb.OutboxKind.OUTBOX_KIND_TIMER, subject: timerScheduleSubject(this.deps.agency, timer.timerId), cancel: true }),
      ),
    ];
  }

  /** Creates the consumer of fired timers (idempotent). */
  async ensure(): Promise<void> {
    await ensureConsumer(this.deps.runtime.jsm, timerStream(this.deps.agency), {
      durable_name: this.durable,
      filter_subject: timerFiredSubject(this.deps.agency, "*"),
      ack_wait: 10_000_000_000,
      max_ack_pending: 1000,
    });
  }

  /** Starts turning fired timers into alerts. */
  async start(): Promise<void> {
    this.consumer = await consumeEvents(this.deps.js, timerStream(this.deps.agency), this.durable, (event) => this.fired(dpb.DeadlineTimer.decode(event.data)), {
      concurrency: 8,
      backoffMs: [200, 1000, 5000],
      maxDeliver: 20,
      logger: this.deps.logger,
    });
  }

  /** Stops after the alerts in progress. */
  async stop(): Promise<void> {
    await this.consumer?.stop();
  }

  /** A fired timer: an alert, once, if it still stands against the case as it is now. */
  async fired(timer: PlannedTimer): Promise<void> {
    const { timers: now, unit } = await this.timersNow(timer);
    if (!isCurrent(timer, now)) {
      this.deps.logger.info({ timer: timer.timerId, caseId: timer.caseId, transferId: timer.transferId }, "a timer fired that its case or transfer no longer has (moved or cancelled); no alert");
      return;
    }
    const escalated = timer.level === dpb.AlertLevel.ALERT_LEVEL_EXPIRED && timer.escalationRoles.length > 0 && (await this.warningUnacknowledged(timer, now));
    const alert: dpb.Alert = {
      alertId: alertIdOf(timer),
      timer,
      firedAt: this.clock(),
      recipients: timer.officer ? [timer.officer] : [],
      roles: alertRoles(timer, escalated),
      escalated,
      acknowledgements: [],
      unitId: unit,
    };
    // Inserted under its id: a second delivery of the same firing finds it there and changes nothing.
    await this.alerts.insert(alert.alertId, { value: alert, outbox: [this.auditItem("system", escalated ? "deadline.escalated" : "deadline.alerted", alert)] });
  }

  /** The timers the fired one's case or transfer has now, and the unit that holds it. */
  private async timersNow(timer: PlannedTimer): Promise<{ timers: PlannedTimer[]; unit: string }> {
    if (timer.transferId) {
      const transfer = await this.deps.transfers.get(timer.transferId);
      return transfer ? { timers: this.ofTransfer(transfer.value), unit: transferUnit(transfer.value, this.deps.agencyEnum) } : { timers: [], unit: "" };
    }
    const file = await this.deps.cases.get(timer.caseId);
    return file ? { timers: this.ofCase(file.value), unit: file.value.case?.issuer?.unitId ?? "" } : { timers: [], unit: "" };
  }

  private async warningUnacknowledged(expired: PlannedTimer, now: readonly PlannedTimer[]): Promise<boolean> {
    const warnings = now.filter((t) => t.kind === expired.kind && t.measureId === expired.measureId && t.transferId === expired.transferId && t.level === dpb.AlertLevel.ALERT_LEVEL_WARNING);
    for (const warning of warnings) {
      const alert = await this.alerts.get(alertIdOf(warning));
      if (!alert || alert.value.acknowledgements.length === 0) return true;
    }
    return false;
  }

  /** The alerts `actor` gets, newest first, and how many of them nobody acknowledged. */
  async list(actor: Actor, request: dpb.ListAlertsRequest): Promise<dpb.ListAlertsResponse> {
    const pageSize = request.pageSize === 0 ? 50 : request.pageSize;
    if (pageSize < 1 || pageSize > 200) throw new InvalidArgumentError("invalid page size", [{ field: "page_size", description: "must be 1..200" }]);
    const offset = request.pageToken ? Number.parseInt(request.pageToken, 10) : 0;
    if (!Number.isInteger(offset) || offset < 0) throw new InvalidArgumentError("invalid page token", [{ field: "page_token", description: "use the next_page_token of the previous page" }]);
    // By name (the officer in charge), or by role within the units the caller sees (their leaders, their legal unit).
    const audience = { $or: [{ recipients: actor.user }, { roles: { $in: [...actor.roles] }, unit: { $in: visibleUnits(actor) } }] };
    const unacknowledged = { ...audience, acknowledgedBy: { $nin: [actor.user] } };
    const rows = await this.view.find(request.unacknowledgedOnly ? unacknowledged : audience, { firedAt: -1, _id: -1 }, offset + pageSize + 1);
    const unread = request.unacknowledgedOnly ? rows.length : await this.view.count(unacknowledged, 1000);
    const page = rows.slice(offset, offset + pageSize);
    return {
      alerts: page.map((row) => dpb.Alert.decode(row.pb)),
      unacknowledged: Math.min(unread, 1000),
      nextPageToken: rows.length > offset + pageSize ? String(offset + pageSize) : "",
    };
  }

  /** Records that `actor` has seen the alert and acts on it; each user acknowledges for themselves, once. */
  async acknowledge(actor: Actor, alertId: string): Promise<dpb.Alert> {
    if (!alertId.trim()) throw new InvalidArgumentError("alert_id is required", [{ field: "alert_id", description: "must not be empty" }]);
    const current = await this.alerts.get(alertId);
    if (!current || !isAudience(current.value, actor.user, actor.roles, visibleUnits(actor))) throw new NotFoundError(`no alert ${alertId}`);
    const stored = await this.alerts.mutate(alertId, ({ value }) => {
      if (isAcknowledgedBy(value, actor.user)) return undefined;
      const next = { ...value, acknowledgements: [...value.acknowledgements, { user: actor.user, at: this.clock() }] };
      return { value: next, outbox: [this.auditItem(actor.user, "deadline.acknowledged", next)] };
    });
    if (stored) return stored.value;
    const now = await this.alerts.get(alertId);
    if (!now) throw new FailedPreconditionError(`alert ${alertId} is gone`);
    return now.value;
  }

  private auditItem(actor: string, action: string, alert: dpb.Alert): OutboxItem {
    return auditOutboxItem({ entryId: randomUUID(), at: this.clock(), actor, action, subject: `alert:${alert.alertId}`, digests: [] });
  }
}
