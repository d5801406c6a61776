import { randomUUID } from "node:crypto";
import * as grpc from "@grpc/grpc-js";
import { HealthImplementation } from "grpc-health-check";
import { jetstream, type JetStreamClient } from "@nats-io/jetstream";
import type mongoose from "mongoose";
import type { Logger } from "pino";
import { type common, system } from "@casebridge/proto";
import { TokenVerifier } from "./actor";
import { ConfigError, loadServiceConfig, type Env, type ServiceConfig } from "./config";
import { createLogger } from "./logger";
import { connectNats, type NatsLink } from "./nats";
import { natsPrincipalOf } from "./nats-auth/permissions";
import { natsTlsOptions } from "./nats-tls";
import { connectMongo } from "./mongo";
import { serve, type ServedContract } from "./contract";
import { GRPC_CHANNEL_OPTIONS, serveOnGrpc } from "./grpc-rpc";
import { grpcServerCredentials, readGrpcTlsMaterial, tlsPeerCheck, type GrpcTlsMaterial } from "./grpc-tls";
import { serveOnNats } from "./nats-rpc";
import { createSystemHandlers } from "./system.service";
import { StartupError } from "./startup-error";
import { PkiFilesError, sealAgencyOf, startServiceSeals, type SealAgency, type ServiceSeals } from "./seal";
import { DurableRuntime } from "./runtime/durable-runtime";
import { sealerEnvelopeSigner } from "./trust/envelope";

/** What a service is: its name, agency and default gRPC port, and what it runs besides SystemService. */
export interface ServiceSpec {
  name: string;
  agency: common.Agency;
  defaultGrpcPort: number;
  setup?: (deps: ServiceDeps) => Promise<ServiceSetup>;
}

/** The contracts a service serves and the background work (consumers, relays) it starts and stops. */
export interface ServiceSetup {
  contracts: ServedContract[];
  /** Starts background work once the service serves. */
  start?(): Promise<void>;
  /** Stops background work before NATS is drained. */
  stop?(): Promise<void>;
}

/** The connected dependencies a service's contracts are built from. */
export interface ServiceDeps {
  config: ServiceConfig;
  logger: Logger;
  nats: NatsLink;
  js: JetStreamClient;
  mongo: mongoose.Connection;
  /** This agency's sealer and the platform-wide seal verifier, with CRLs kept current over NATS. */
  seals: ServiceSeals;
  /** Verifies the access tokens callers forward (Keycloak JWKS). */
  auth: TokenVerifier;
  /** The agency's durable runtime (JetStream system of record, relay, projector) that every workflow module registers with. */
  runtime: DurableRuntime;
}

/** A started service. */
export interface RunningService {
  deps: ServiceDeps;
  /** What the spec's setup returned. */
  setup: ServiceSetup;
  grpcPort: number;
  /** Marks the service NOT_SERVING, drains NATS, lets gRPC calls finish (up to the grace period), closes MongoDB. */
  stop(): Promise<void>;
}

function bind(server: grpc.Server, address: string, credentials = grpc.ServerCredentials.createInsecure()): Promise<number> {
  return new Promise((resolve, reject) =>
    server.bindAsync(address, credentials, (err, port) =>
      err ? reject(new StartupError(`cannot listen for gRPC on ${address}: ${err.message}`, { cause: err })) : resolve(port),
    ),
  );
}

function shutdownGrpc(server: grpc.Server, graceMs: number): Promise<void> {
  return new Promise((resolve) => {
    const force = setTimeout(() => {
      server.forceShutdown();
      resolve();
    }, graceMs);
    server.tryShutdown(() => {
      clearTimeout(force);
      resolve();
    });
  });
}

/** One ServiceSetup made of several workflow modules' setups: their contracts together, started in order, stopped in reverse. */
export function composeSetups(...setups: ServiceSetup[]): ServiceSetup {
  return {
    contracts: setups.flatMap((setup) => setup.contracts),
    start: async () => {
      for (const setup of setups) await setup.start?.();
    },
    stop: async () => {
      for (const setup of [...setups].reverse()) await setup.stop?.();
    },
  };
}

function sealAgencyOfService(spec: ServiceSpec): SealAgency {
  const agency = sealAgencyOf(spec.agency);
  if (!agency) throw new ConfigError([`service ${spec.name} has no agency that holds a seal`]);
  return agency;
}

/** Starts a service: config, logs, NATS, MongoDB, then its contracts on gRPC (with grpc.health.v1) and on NATS. */
export async function startService(spec: ServiceSpec, env: Env, logDestination?: Parameters<typeof createLogger>[2]): Promise<RunningService> {
  const config = loadServiceConfig(spec.name, spec.defaultGrpcPort, env);
  const logger = createLogger(spec.name, config.logLevel, logDestination);
  const health = new HealthImplementation({ "": "NOT_SERVING" });
  let stopping = false;
  const setServing = (up: boolean) => !stopping && health.setStatus("", up ? "SERVING" : "NOT_SERVING");

  const principal = natsPrincipalOf(spec.name);
  if (!principal) throw new ConfigError([`${spec.name} has no NATS user (services/kit/src/nats-auth/permissions.ts)`]);
  const nats = await connectNats({ servers: config.natsUrl, principal, seedFile: config.natsSeedFile, tls: natsTlsOptions(config.natsTls) }, config.natsConnectAttempts, logger, setServing);
  let mongo: mongoose.Connection;
  try {
    mongo = await connectMongo(config.mongoUrl, config.mongoDb, { attempts: config.mongoConnectAttempts, timeoutMs: config.mongoConnectTimeoutMs, logger });
  } catch (err) {
    await nats.nc.close();
    throw err;
  }
  let seals: Awaited<ReturnType<typeof startServiceSeals>>;
  try {
    seals = await startServiceSeals(config.pkiDir, sealAgencyOfService(spec), config.pkiKeyPassphrase, nats.nc, logger);
  } catch (err) {
    await Promise.all([nats.nc.close(), mongo.close()]);
    if (err instanceof PkiFilesError) throw new ConfigError([`PKI: ${err.message} (create the dev PKI with: npm run seal -- init)`]);
    throw err;
  }
  const js = jetstream(nats.nc);
  let runtime: DurableRuntime;
  try {
    runtime = await DurableRuntime.open({ agency: sealAgencyOfService(spec), nc: nats.nc, js, mongo, logger: logger.child({ component: "runtime" }), replicas: config.jetstreamReplicas, envelopes: sealerEnvelopeSigner(seals.seals.sealer) });
  } catch (err) {
    seals.watch.stop();
    await Promise.all([nats.nc.close(), mongo.close()]);
    throw err;
  }
  const deps: ServiceDeps = { config, logger, nats, js, mongo, seals: seals.seals, auth: new TokenVerifier(config.authIssuer, undefined, undefined, config.authAudience), runtime };

  const identity = { service: spec.name, agency: spec.agency, version: config.version, instanceId: randomUUID(), startedAt: new Date() };
  const systemContract = serve(
    system.SystemServiceDefinition,
    createSystemHandlers(identity, {
      nats: () => Promise.resolve(nats.isConnected() ? undefined : "disconnected; reconnecting"),
      mongodb: async () => {
        if (!mongo.db) return "not connected";
        await mongo.db.admin().ping({ maxTimeMS: 1000 });
        return undefined;
      },
    }),
  );
  let tls: GrpcTlsMaterial | undefined;
  if (config.grpcTls.enabled) {
    try {
      tls = await readGrpcTlsMaterial(config.grpcTls.dir, sealAgencyOfService(spec));
    } catch (err) {
      seals.watch.stop();
      await Promise.all([nats.nc.close(), mongo.close()]);
      throw new ConfigError([(err as Error).message]);
    }
  }
  const setup: ServiceSetup = (await spec.setup?.(deps)) ?? { contracts: [] };
  const contracts = [systemContract, ...setup.contracts];

  const server = new grpc.Server(GRPC_CHANNEL_OPTIONS);
  health.addToServer(server);
  serveOnGrpc(server, contracts, logger, tls && tlsPeerCheck(tls.ca, config.grpcTls.allowedClients));
  // Kubernetes' gRPC probes speak no TLS: with TLS on, grpc.health.v1 alone is also served in plaintext on its own port.
  const healthServer = tls && config.grpcHealthPort ? new grpc.Server() : undefined;
  if (healthServer) health.addToServer(healthServer);
  let grpcPort: number;
  try {
    grpcPort = await bind(server, `${config.grpcHost}:${config.grpcPort}`, tls && grpcServerCredentials(tls));
    if (healthServer) await bind(healthServer, `${config.grpcHost}:${config.grpcHealthPort}`);
  } catch (err) {
    server.forceShutdown();
    healthServer?.forceShutdown();
    await Promise.all([nats.nc.close(), mongo.close()]);
    throw err;
  }
  serveOnNats(nats.nc, spec.name, contracts, logger);
  await nats.nc.flush();
  await runtime.start();
  await setup.start?.();
  setServing(true);
  logger.info({ grpc: `${config.grpcHost}:${grpcPort}`, grpcTls: tls ? { clients: config.grpcTls.allowedClients, healthPort: config.grpcHealthPort || undefined } : "off (loopback only)", nats: config.natsUrl, mongoDb: config.mongoDb, instanceId: identity.instanceId }, "service started");

  return {
    deps,
    setup,
    grpcPort,
    stop: async () => {
      stopping = true;
      health.setStatus("", "NOT_SERVING");
      seals.watch.stop();
      await setup.stop?.().catch((err: unknown) => logger.warn({ err }, "background work did not stop cleanly"));
      await runtime.stop().catch((err: unknown) => logger.warn({ err }, "the relay or the projector did not stop cleanly"));
      logger.info("shutting down");
      await nats.nc.drain().catch((err: unknown) => logger.warn({ err }, "NATS drain failed"));
      healthServer?.forceShutdown();
      await shutdownGrpc(server, config.shutdownGraceMs);
      await mongo.close();
      logger.info("stopped");
    },
  };
}
