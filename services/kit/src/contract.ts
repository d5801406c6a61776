import type { Logger } from "pino";

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

/** Pairs a contract definition with its handlers, checking their types against each other. */
export function serve<D extends ContractDefinition>(definition: D, handlers: ContractHandlers<D>): ServedContract {
  return { definition, handlers: handlers as ServedContract["handlers"] };
}

/** Header/metadata name of the trace id on both transports. */
export const TRACE_ID_HEADER = "cb-trace-id";
