import type { Response } from "express";
import type { NatsConnection, Subscription } from "@nats-io/transport-node";
import { ResourceExhaustedError, sealAgencyOf, type Logger, type SealAgency } from "@casebridge/kit";
import { transfer as pb } from "@casebridge/proto";
import type { SessionClaims } from "./auth/logouts";

const HEARTBEAT_MS = 15_000;
/** How often a stream checks that its holder's session still exists. */
const SESSION_CHECK_MS = 2_000;

/** Who holds a stream: the user, the units whose changes they see, and when their access token ends (the stream ends with it). */
export interface StreamHolder {
  readonly user: string;
  /** The units the user sees (their own and those it supervises): notices of other units are not sent. */
  readonly units: readonly string[];
  readonly expiresAt: Date;
  /** The holder's Keycloak session (sid, sub, iat): when it is logged out, the stream ends too. */
  readonly session: SessionClaims;
}

/** Longest a stream lives whatever its token says, so that a stream is re-authorised at least this often. */
const MAX_STREAM_MS = 60 * 60_000;

/**
 * Live updates for the web UI: one NATS subscription to every agency's ChangeNotices
 * (cb.changes.*), fanned out as server-sent events to the browsers of that agency's users who
 * see the unit that holds what changed.
 * A stream ends when its access token does or its Keycloak session is logged out (the browser
 * reconnects and is authorised again, or sent to sign in), and a user holds at most `maxPerUser`
 * streams at once.
 */
export class LiveUpdates {
  private readonly streams = new Map<SealAgency, Map<Response, ReadonlySet<string>>>();
  private readonly perUser = new Map<string, number>();
  private readonly subscription: Subscription;

  constructor(
    nc: NatsConnection,
    private readonly logger: Logger,
    private readonly maxPerUser = 5,
    /** Whether a Keycloak session has been logged out over the back channel (GatewayAuth's answer). */
    private readonly signedOut: (session: SessionClaims) => boolean = () => false,
  ) {
    this.subscription = nc.subscribe("cb.changes.*", {
      callback: (error, message) => {
        if (error) return;
        try {
          const notice = pb.ChangeNotice.decode(message.data);
          // The subject says who sent it (NATS lets each agency publish only on its own): a notice naming another agency is forged.
          const sender = message.subject.slice("cb.changes.".length);
          if (sealAgencyOf(notice.agency) !== sender) {
            this.logger.warn({ subject: message.subject, claimed: notice.agency }, "ignored a change notice naming another agency than its sender");
            return;
          }
          this.publish(sealAgencyOf(notice.agency), notice.unitId, `event: change\ndata: ${JSON.stringify(pb.ChangeNotice.toJSON(notice))}\n\n`);
        } catch (decodeError) {
          this.logger.warn({ err: decodeError, subject: message.subject }, "ignored a malformed change notice");
        }
      },
    });
  }

  /**
   * Streams the changes of `agency` to `res` until the client goes away or the holder's token ends;
   * throws ResourceExhaustedError (429) when the holder has `maxPerUser` streams open already.
   */
  stream(agency: SealAgency, holder: StreamHolder, res: Response): Promise<void> {
    const open = this.perUser.get(holder.user) ?? 0;
    if (open >= this.maxPerUser) {
      throw new ResourceExhaustedError(`${holder.user} has ${open} live-update streams open already, the most one user may hold; close one (another tab or device) first`);
    }
    const lifetime = Math.min(holder.expiresAt.getTime() - Date.now(), MAX_STREAM_MS);
    if (lifetime <= 0) throw new ResourceExhaustedError("the access token has expired; sign in again");
    this.perUser.set(holder.user, open + 1);
    res.status(200).set({ "content-type": "text/event-stream; charset=utf-8", "cache-control": "no-cache, no-transform", "x-accel-buffering": "no", connection: "keep-alive" });
    res.flushHeaders();
    res.write("retry: 3000\n: connected\n\n");
    const set = this.streams.get(agency) ?? new Map<Response, ReadonlySet<string>>();
    this.streams.set(agency, set);
    set.set(res, new Set(holder.units));
    const heartbeat = setInterval(() => res.write(": heartbeat\n\n"), HEARTBEAT_MS);
    const end = () => {
      res.write("event: expired\ndata: {}\n\n");
      res.end();
    };
    // When the token ends, so does the stream: the browser reconnects, and its session is checked (and refreshed) again.
    const expiry = setTimeout(end, lifetime);
    // A logout over the back channel ends it at once (within a check).
    const session = setInterval(() => this.signedOut(holder.session) && end(), SESSION_CHECK_MS);
    return new Promise((resolve) => {
      res.on("close", () => {
        clearInterval(heartbeat);
        clearInterval(session);
        clearTimeout(expiry);
        set.delete(res);
        const left = (this.perUser.get(holder.user) ?? 1) - 1;
        if (left > 0) this.perUser.set(holder.user, left);
        else this.perUser.delete(holder.user);
        resolve();
      });
    });
  }

  /** Ends every stream and the subscription. */
  close(): void {
    this.subscription.unsubscribe();
    for (const set of this.streams.values()) for (const res of set.keys()) res.end();
  }

  private publish(agency: SealAgency | undefined, unit: string, frame: string): void {
    if (!agency) return;
    for (const [res, units] of this.streams.get(agency) ?? []) if (units.has(unit)) res.write(frame);
  }
}
