import type { JetStreamManager } from "@nats-io/jetstream";
import { ensureStream } from "../jetstream";

/**
 * The JetStream stream of an agency's durable timers (ADR-51 message schedules, nats-server ≥ 2.12):
 * a schedule is a message on `cb.timer.<agency>.set.<timer id>` that the server itself delivers on
 * its target `cb.timer.<agency>.fired.<timer id>` at the time it names, across restarts of services
 * and servers. One stream per agency, so that its NATS user may purge (replace, cancel) its own
 * schedules and nobody else's.
 */
export function timerStream(agency: string): string {
  return `CB_TIMERS_${agency.toUpperCase()}`;
}

/** The timer stream a schedule subject (`cb.timer.<agency>.…`) belongs to. */
export function timerStreamOfSubject(subject: string): string {
  const agency = /^cb\.timer\.([^.]+)\./.exec(subject)?.[1];
  if (!agency) throw new Error(`${subject} is not a timer subject`);
  return timerStream(agency);
}

/** The subject a timer's schedule is stored on (one schedule per subject). */
export function timerScheduleSubject(agency: string, timerId: string): string {
  return `cb.timer.${agency}.set.${timerId}`;
}

/** The subject a timer fires on. */
export function timerFiredSubject(agency: string, timerId: string): string {
  return `cb.timer.${agency}.fired.${timerId}`;
}

/** Creates (or updates) an agency's timer stream: schedules allowed, and per-message TTL for the fired messages. */
export async function ensureTimerStream(jsm: JetStreamManager, agency: string, replicas = 1): Promise<void> {
  await ensureStream(jsm, { name: timerStream(agency), subjects: [`cb.timer.${agency}.>`], allow_msg_schedules: true, allow_msg_ttl: true, num_replicas: replicas });
}
