import type { Logger } from "pino";
import { InvalidArgumentError } from "./errors";
import { requestTypeOf, violationsOf } from "./limits";

/** Encoder/decoder of one protobuf message type, as ts-proto generates it. */
export interface MessageCodec<T> {
  encode(message: T): { finish(): Uint8Array };
  decode(input: Uint8Array): T;
}

/** One unary method of a ts-proto generic service definition. */
export interface UnaryMethodDefinition<Req = unknown, Res = unknown> {
  readonly name: string;
  readonly requestType: MessageCodec<Req>;
  readonly responseType: MessageCodec<Res>;
  readonly requestStream: false;
  readonly responseStream: false;
}

/** A ts-proto generic service definition (`outputServices=generic-definitions`): the contract. */
export interface ContractDefinition {
  readonly name: string;
  readonly fullName: string;
  readonly methods: { readonly [method: string]: UnaryMethodDefinition<any, any> }; // eslint-disable-line @typescript-eslint/no-explicit-any
}

type RequestOf<M> = M extends UnaryMethodDefinition<infer Req, unknown> ? Req : never;
type ResponseOf<M> = M extends UnaryMethodDefinition<unknown, infer Res> ? Res : never;

/** What a handler knows about the call it serves, whichever transport carried it. */
export interface CallContext {
  /** Correlates the logs of every service the request touched. */
  traceId: string;
  /** Request metadata (gRPC metadata or NATS headers), names lower-cased. */
  metadata: Record<string, string>;
  /** A logger bound to this call's trace id and method. */
  logger: Logger;
  transport: "grpc" | "nats";
}

/** The one handler object that serves a contract over gRPC and over NATS. */
export type ContractHandlers<D extends ContractDefinition> = {
  [K in keyof D["methods"]]: (request: RequestOf<D["methods"][K]>, ctx: CallContext) => Promise<ResponseOf<D["methods"][K]>>;
};

/** Per-call options of a contract client. */
export interface CallOptions {
  timeoutMs?: number;
  traceId?: string;
  /** Extra metadata to send, e.g. `authorization`. */
  metadata?: Record<string, string>;
}

/** A promise-based client of a contract; the same shape over gRPC and over NATS. */
export type ContractClient<D extends ContractDefinition> = {
  [K in keyof D["methods"]]: (request: RequestOf<D["methods"][K]>, options?: CallOptions) => Promise<ResponseOf<D["methods"][K]>>;
};

/** A contract together with the handlers that serve it. */
export interface ServedContract {
  definition: ContractDefinition;
  handlers: Record<string, (request: unknown, ctx: CallContext) => Promise<unknown>>;
}

/**
 * Pairs a contract definition with its handlers, checking their types against each other; every
 * request is checked against the field limits its contract declares before its handler runs
 * (INVALID_ARGUMENT naming the fields), whichever transport carried it.
 */
export function serve<D extends ContractDefinition>(definition: D, handlers: ContractHandlers<D>): ServedContract {
  const served: ServedContract["handlers"] = {};
  for (const [key, handler] of Object.entries(handlers as ServedContract["handlers"])) {
    const method = definition.methods[key];
    // A contract outside the descriptor set (none today) is served unchecked rather than refused.
    const requestType = method ? requestTypeOf(definition.fullName, method.name) : undefined;
    served[key] = !requestType
      ? handler
      : (request, ctx) => {
          // Checked before authentication: the limits are public, and an oversized request costs no token check.
          const violations = violationsOf(requestType, request);
          if (violations.length > 0) return Promise.reject(new InvalidArgumentError(`${violations.map((v) => v.field).join(", ")}: over the limits of the contract`, violations));
          return handler(request, ctx);
        };
  }
  return { definition, handlers: served };
}

/** Header/metadata name of the trace id on both transports. */
export const TRACE_ID_HEADER = "cb-trace-id";
