import { randomUUID } from "node:crypto";
import * as grpc from "@grpc/grpc-js";
import type { Logger } from "pino";
import { TRACE_ID_HEADER, type CallOptions, type ContractClient, type ContractDefinition, type ServedContract } from "./contract";
import { fromGrpcError, PermissionDeniedError, toGrpcError } from "./errors";
import type { GrpcPeerCheck } from "./grpc-tls";
import { logCallFailure } from "./call-log";

/**
 * The grpc-js service definition of a contract, derived from its generic definition so that one
 * object drives both transports; its paths equal those of ts-proto's grpc-js output.
 */
export function grpcServiceDefinition(definition: ContractDefinition): grpc.ServiceDefinition {
  const service: Record<string, grpc.MethodDefinition<unknown, unknown>> = {};
  for (const [key, method] of Object.entries(definition.methods)) {
    service[key] = {
      path: `/${definition.fullName}/${method.name}`,
      requestStream: false,
      responseStream: false,
      requestSerialize: (value: unknown) => Buffer.from(method.requestType.encode(value).finish()),
      requestDeserialize: (bytes: Buffer): unknown => method.requestType.decode(bytes) as unknown,
      responseSerialize: (value: unknown) => Buffer.from(method.responseType.encode(value).finish()),
      responseDeserialize: (bytes: Buffer): unknown => method.responseType.decode(bytes) as unknown,
    };
  }
  return service;
}

function metadataOf(metadata: grpc.Metadata): Record<string, string> {
  const plain: Record<string, string> = {};
  for (const [name, value] of Object.entries(metadata.getMap())) if (typeof value === "string") plain[name] = value;
  return plain;
}

/**
 * Adds contracts to a grpc-js server; each call runs the same handlers the NATS transport uses.
 * `checkPeer` (mutual TLS) refuses a call whose client certificate may not call, with PERMISSION_DENIED.
 */
export function serveOnGrpc(server: grpc.Server, contracts: ServedContract[], logger: Logger, checkPeer?: GrpcPeerCheck): void {
  for (const { definition, handlers } of contracts) {
    const implementation: grpc.UntypedServiceImplementation = {};
    for (const [key, method] of Object.entries(definition.methods)) {
      const handler = handlers[key];
      if (!handler) throw new Error(`no handler for ${definition.fullName}.${method.name}`);
      const unary: grpc.handleUnaryCall<unknown, unknown> = (call, callback) => {
        const started = performance.now();
        const metadata = metadataOf(call.metadata);
        const traceId = metadata[TRACE_ID_HEADER] || randomUUID();
        const log = logger.child({ traceId, rpc: `${definition.name}.${method.name}`, transport: "grpc" });
        const refused = checkPeer?.(call.getAuthContext());
        if (refused) {
          log.warn({ peer: call.getPeer(), reason: refused }, "gRPC call refused: client certificate not allowed");
          callback(toGrpcError(new PermissionDeniedError(refused)));
          return;
        }
        handler(call.request, { traceId, metadata, logger: log, transport: "grpc" }).then(
          (response) => callback(null, response),
          (err: unknown) => {
            logCallFailure(log, err, performance.now() - started);
            callback(toGrpcError(err));
          },
        );
      };
      implementation[key] = unary;
    }
    server.addService(grpcServiceDefinition(definition), implementation);
  }
}

/** Channel options of every gRPC server and client: messages up to 32 MiB (documents are up to 20 MiB). */
export const GRPC_CHANNEL_OPTIONS: grpc.ChannelOptions = { "grpc.max_receive_message_length": 32 * 1024 * 1024, "grpc.max_send_message_length": 32 * 1024 * 1024 };

/** A typed client of a contract over gRPC (plaintext unless `credentials`, e.g. grpcClientCredentials); `close()` releases its channel. */
export function grpcClient<D extends ContractDefinition>(
  address: string,
  definition: D,
  defaultTimeoutMs = 5000,
  credentials: grpc.ChannelCredentials = grpc.credentials.createInsecure(),
): ContractClient<D> & { close(): void } {
  const channel = new grpc.Client(address, credentials, GRPC_CHANNEL_OPTIONS);
  const service = grpcServiceDefinition(definition);
  const client: Record<string, unknown> = { close: () => channel.close() };
  for (const [key, method] of Object.entries(service)) {
    client[key] = (request: unknown, options: CallOptions = {}) =>
      new Promise((resolve, reject) => {
        const metadata = new grpc.Metadata();
        metadata.set(TRACE_ID_HEADER, options.traceId ?? randomUUID());
        for (const [name, value] of Object.entries(options.metadata ?? {})) metadata.set(name, value);
        const deadline = Date.now() + (options.timeoutMs ?? defaultTimeoutMs);
        channel.makeUnaryRequest(method.path, method.requestSerialize, method.responseDeserialize, request, metadata, { deadline }, (err, response) => {
          if (err) reject(fromGrpcError(err));
          else resolve(response);
        });
      });
  }
  return client as ContractClient<D> & { close(): void };
}
