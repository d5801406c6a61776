import type { Server } from "node:http";
import { connectNats, createLogger, grpcClientCredentials, natsTlsOptions, readGrpcTlsMaterial, type Logger } from "@casebridge/kit";
import { agencyClients } from "./api/agency-clients";
import { openApiDocument } from "./api/openapi";
import { ProtoSchemas } from "./api/proto-schema";
import { apiRoutes } from "./api/routes";
import { createApp } from "./app";
import { answerClientErrors } from "./problem";
import { keycloakAuth } from "./auth/keycloak-auth";
import { Logouts } from "./auth/logouts";
import { NatsSessionStore } from "./auth/nats-session-store";
import { SessionCipher, sessionKey } from "./auth/session-cipher";
import type { GatewayConfig } from "./config";
import { LiveUpdates } from "./live-updates";
import { NatsRateLimitStore } from "./rate-limit-store";
import { systemStatus } from "./system-status";

/** Idle timeout of a browser session (Keycloak's SSO idle timeout is the same). */
export const SESSION_IDLE_MS = 30 * 60_000;

/** A running gateway. */
export interface RunningGateway {
  readonly url: string;
  /** Stops taking requests, ends live streams, closes clients and NATS. */
  stop(): Promise<void>;
}

/** Starts the gateway: NATS (sessions, live updates, service status), the services' gRPC clients, the app. */
export async function startGateway(config: GatewayConfig, logger: Logger = createLogger("gateway", config.logLevel), version = "0.1.0"): Promise<RunningGateway> {
  const tls = config.grpcTls.enabled ? grpcClientCredentials(await readGrpcTlsMaterial(config.grpcTls.dir, "gateway")) : undefined;
  const { nc } = await connectNats({ servers: config.natsUrl, principal: "gateway", seedFile: config.natsSeedFile, tls: natsTlsOptions(config.natsTls) }, 5, logger);
  const cipher = new SessionCipher(sessionKey(config.sessionEncryptionKey), config.sessionEncryptionOldKeys.map(sessionKey));
  const store = await NatsSessionStore.open(nc, SESSION_IDLE_MS, cipher);
  const logouts = await Logouts.open(nc, { issuer: config.authIssuer, clientId: config.clientId, maxTokenLifetimeS: config.maxTokenLifetimeS, logger });
  const rateLimitStore = await NatsRateLimitStore.open(nc);
  const auth = keycloakAuth({
    issuer: config.authIssuer,
    clientId: config.clientId,
    clientSecret: config.clientSecret,
    sessionSecret: config.sessionSecret,
    secureCookies: config.secureCookies,
    store,
    logouts,
    rateLimitStore,
    logger,
    sessionIdleMs: SESSION_IDLE_MS,
    audience: config.authAudience,
    loginsPerMinute: config.loginsPerMinute,
  });
  const clients = agencyClients(config.services, config.rpcTimeoutMs, tls);
  const live = new LiveUpdates(nc, logger, config.maxStreamsPerUser, (session) => auth.signedOut(session));
  const schemas = new ProtoSchemas();
  const routes = apiRoutes(schemas, live, systemStatus(nc, config.rpcTimeoutMs));
  const openApi = openApiDocument(routes, schemas.components, { version, issuer: config.authIssuer });
  const app = createApp({ routes, openApi, components: schemas.components, auth, clients: clients.of, rateLimitPerMinute: config.rateLimitPerMinute, rateLimitStore: rateLimitStore("api."), issuerOrigin: new URL(config.authIssuer).origin, logger, trustProxy: config.trustProxy });
  const server = await new Promise<Server>((resolve, reject) => {
    const listening = app.listen(config.port, config.host, () => resolve(listening)).once("error", reject);
  });
  answerClientErrors(server);
  const address = server.address();
  const url = `http://${config.host}:${typeof address === "object" && address ? address.port : config.port}`;
  logger.info({ url }, "gateway listening");
  return {
    url,
    stop: async () => {
      live.close();
      logouts.close();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections();
      clients.close();
      await nc.drain();
    },
  };
}
