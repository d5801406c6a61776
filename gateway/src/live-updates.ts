import type { Response } from "express";
import type { NatsConnection, Subscription } from "@nats-io/transport-node";
import { sealAgencyOf, type Logger, type SealAgency } from "@casebridge/kit";
import { transfer as pb } from "@casebridge/proto";

const HEARTBEAT_MS = 15_000;

/**
 * Live updates for the web UI: one NATS subscription to every agency's ChangeNotices
 * (cb.changes.*), fanned out as server-sent events to the browsers of that agency's users.
 */
export class LiveUpdates {
  private readonly streams = new Map<SealAgency, Set<Response>>();
  private readonly subscription: Subscription;

  constructor(nc: NatsConnection, private readonly logger: Logger) {
    this.subscription = nc.subscribe("cb.changes.*", {
      callback: (error, message) => {
        if (error) return;
        try {
          const notice = pb.ChangeNotice.decode(message.data);
          this.publish(sealAgencyOf(notice.agency), `event: change\ndata: ${JSON.stringify(pb.ChangeNotice.toJSON(notice))}\n\n`);
        } catch (decodeError) {
          this.logger.warn({ err: decodeError, subject: message.subject }, "ignored a malformed change notice");
        }
      },
    });
  }

  /** Streams the changes of `agency` to `res` until the client goes away. */
  stream(agency: SealAgency, res: Response): Promise<void> {
    res.status(200).set({ "content-type": "text/event-stream; charset=utf-8", "cache-control": "no-cache, no-transform", "x-accel-buffering": "no", connection: "keep-alive" });
    res.flushHeaders();
    res.write("retry: 3000\n: connected\n\n");
    const set = this.streams.get(agency) ?? new Set<Response>();
    this.streams.set(agency, set);
    set.add(res);
    const heartbeat = setInterval(() => res.write(": heartbeat\n\n"), HEARTBEAT_MS);
    return new Promise((resolve) => {
      res.on("close", () => {
        clearInterval(heartbeat);
        set.delete(res);
        resolve();
      });
    });
  }

  /** Ends every stream and the subscription. */
  close(): void {
    this.subscription.unsubscribe();
    for (const set of this.streams.values()) for (const res of set) res.end();
  }

  private publish(agency: SealAgency | undefined, frame: string): void {
    if (!agency) return;
    for (const res of this.streams.get(agency) ?? []) res.write(frame);
  }
}
