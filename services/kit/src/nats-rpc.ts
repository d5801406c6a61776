import { randomUUID } from "node:crypto";
import { headers as natsHeaders, errors as natsErrors, Empty, type Msg, type NatsConnection, type Subscription } from "@nats-io/transport-node";
import type { Logger } from "pino";
import { TRACE_ID_HEADER, type CallOptions, type ContractClient, type ContractDefinition, type ServedContract, type UnaryMethodDefinition } from "./contract";
import { DeadlineExceededError, InvalidArgumentError, UnavailableError, fromNatsErrorHeaders, toNatsErrorHeaders } from "./errors";
import { logCallFailure } from "./call-log";

/** The NATS subject of one method of a contract served by `service`, e.g. cb.rpc.police.casebridge.system.v1.SystemService.GetInfo. */
export function rpcSubject(service: string, definition: ContractDefinition, method: UnaryMethodDefinition): string {
  return `cb.rpc.${service}.${definition.fullName}.${method.name}`;
}

function metadataOf(msg: Msg): Record<string, string> {
  const metadata: Record<string, string> = {};
  for (const [name, values] of msg.headers ?? []) metadata[name.toLowerCase()] = values[0] ?? "";
  return metadata;
}

/** Serves contracts over NATS request/reply: one queue-group subscription per method, protobuf bytes, errors in headers. */
export function serveOnNats(nc: NatsConnection, service: string, contracts: ServedContract[], logger: Logger): Subscription[] {
  const subscriptions: Subscription[] = [];
  for (const { definition, handlers } of contracts) {
    for (const [key, method] of Object.entries(definition.methods)) {
      const handler = handlers[key];
      if (!handler) throw new Error(`no handler for ${definition.fullName}.${method.name}`);
      const subject = rpcSubject(service, definition, method);
      const answer = async (msg: Msg): Promise<void> => {
        const started = performance.now();
        const metadata = metadataOf(msg);
        const traceId = metadata[TRACE_ID_HEADER] || randomUUID();
        const log = logger.child({ traceId, rpc: `${definition.name}.${method.name}`, transport: "nats" });
        const replyHeaders = natsHeaders();
        replyHeaders.set(TRACE_ID_HEADER, traceId);
        try {
          let request: unknown;
          try {
            request = method.requestType.decode(msg.data);
          } catch (err) {
            throw new InvalidArgumentError(`the request is not a valid ${method.name} message: ${(err as Error).message}`);
          }
          const response = await handler(request, { traceId, metadata, logger: log, transport: "nats" });
          msg.respond(method.responseType.encode(response).finish(), { headers: replyHeaders });
        } catch (err) {
          logCallFailure(log, err, performance.now() - started);
          for (const [name, value] of Object.entries(toNatsErrorHeaders(err))) replyHeaders.set(name, value);
          msg.respond(Empty, { headers: replyHeaders });
        }
      };
      subscriptions.push(
        nc.subscribe(subject, {
          queue: service,
          callback: (err, msg) => {
            if (err) logger.error({ err, subject }, "subscription failed");
            else void answer(msg);
          },
        }),
      );
    }
  }
  return subscriptions;
}

/** A typed client that calls a contract served by `service` over NATS request/reply. */
export function natsClient<D extends ContractDefinition>(nc: NatsConnection, service: string, definition: D, defaultTimeoutMs = 5000): ContractClient<D> {
  const client: Record<string, (request: unknown, options?: CallOptions) => Promise<unknown>> = {};
  for (const [key, method] of Object.entries(definition.methods)) {
    const subject = rpcSubject(service, definition, method);
    client[key] = async (request, options = {}) => {
      const requestHeaders = natsHeaders();
      requestHeaders.set(TRACE_ID_HEADER, options.traceId ?? randomUUID());
      for (const [name, value] of Object.entries(options.metadata ?? {})) requestHeaders.set(name, value);
      const timeout = options.timeoutMs ?? defaultTimeoutMs;
      let reply: Msg;
      try {
        reply = await nc.request(subject, method.requestType.encode(request).finish(), { timeout, headers: requestHeaders });
      } catch (err) {
        if (err instanceof natsErrors.TimeoutError) throw new DeadlineExceededError(`${service} did not answer ${method.name} within ${timeout} ms`);
        if (err instanceof natsErrors.RequestError && err.isNoResponders()) throw new UnavailableError(`no ${service} instance is serving ${method.name} on NATS`);
        throw new UnavailableError(`NATS request to ${service} failed: ${(err as Error).message}`, { cause: err });
      }
      const failure = fromNatsErrorHeaders((name) => reply.headers?.get(name) ?? "");
      if (failure) throw failure;
      return method.responseType.decode(reply.data) as unknown;
    };
  }
  return client as ContractClient<D>;
}
