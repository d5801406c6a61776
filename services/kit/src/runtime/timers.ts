import type { JetStreamManager } from "@nats-io/jetstream";
import { ensureStream } from "../jetstream";

/**
 * The JetStream stream of durable timers (ADR-51 message schedules, nats-server ≥ 2.12): a schedule
 * is a message on `cb.timer.<agency>.set.<timer id>` that the server itself delivers on its target
 * `cb.timer.<agency>.fired.<timer id>` at the time it names, across restarts of services and servers.
 */
export const TIMER_STREAM = "CB_TIMERS";

/** The subject a timer's schedule is stored on (one schedule per subject). */
export function timerScheduleSubject(agency: string, timerId: string): string {
  return `cb.timer.${agency}.set.${timerId}`;
}

/** The subject a timer fires on. */
export function timerFiredSubject(agency: string, timerId: string): string {
  return `cb.timer.${agency}.fired.${timerId}`;
}

/** Creates (or updates) the timer stream: schedules allowed, and per-message TTL for the fired messages. */
export async function ensureTimerStream(jsm: JetStreamManager, replicas = 1): Promise<void> {
  await ensureStream(jsm, { name: TIMER_STREAM, subjects: ["cb.timer.>"], allow_msg_schedules: true, allow_msg_ttl: true, num_replicas: replicas });
}
