import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { API_AUDIENCE, EnvReader, isLoopbackHost, readGrpcTls, readNatsTls, SEAL_AGENCIES, type Env, type GrpcTlsConfig, type NatsTlsConfig, type SealAgency } from "@casebridge/kit";

/** Settings of the gateway. */
export interface GatewayConfig {
  host: string;
  port: number;
  natsUrl: string;
  /** The gateway's nkey seed file (NATS_NKEY_FILE, or <NATS_CREDENTIALS_DIR>/gateway.nk). */
  natsSeedFile: string;
  /** NATS TLS (NATS_TLS_CA, …); see the kit's nats-tls.ts. */
  natsTls: NatsTlsConfig;
  logLevel: string;
  rpcTimeoutMs: number;
  /** Keycloak realm URL: the tokens' issuer, e.g. http://127.0.0.1:8180/realms/casebridge. */
  authIssuer: string;
  /** The audience every access token must name. */
  authAudience: string;
  /** The gateway's confidential OIDC client (browser login). */
  clientId: string;
  clientSecret: string;
  /** Signs the session cookie. */
  sessionSecret: string;
  /** Seals the sessions at rest (AES-256-GCM, 32 bytes) and the older keys still accepted for reading. */
  sessionEncryptionKey: Buffer;
  sessionEncryptionOldKeys: Buffer[];
  /** Longest lifetime of an access token of the realm: how long a back-channel logout is remembered (plus a margin). */
  maxTokenLifetimeS: number;
  /** Session cookies only over HTTPS (behind TLS termination in production). */
  secureCookies: boolean;
  /** gRPC address of each agency service. */
  services: Record<SealAgency, string>;
  /** Mutual TLS to the services (GRPC_TLS=on): the gateway presents <GRPC_TLS_DIR>/gateway.pem and trusts root.pem. */
  grpcTls: GrpcTlsConfig;
  /** Requests per user per minute before 429 (counted across all replicas). */
  rateLimitPerMinute: number;
  /** Logins one client address may start per minute (counted across all replicas). */
  loginsPerMinute: number;
  /** Live-update (SSE) streams one user may hold open at once (per gateway replica). */
  maxStreamsPerUser: number;
  /**
   * Whose X-Forwarded-For is believed (TRUST_PROXY, Express "trust proxy" syntax; default loopback):
   * only the proxies in front of the gateway, or anyone could pick the address the per-address limits count.
   */
  trustProxy: string;
}

const DEV_SECRET_PREFIX = "dev-only-";
const DEV_SERVICES = SEAL_AGENCIES.map((agency, i) => `${agency}=127.0.0.1:${50051 + i}`).join(",");

/** Parses the gateway settings from the environment; throws ConfigError listing every problem. */
export function loadGatewayConfig(env: Env): GatewayConfig {
  const read = new EnvReader(env);
  const config: GatewayConfig = {
    host: read.string("GATEWAY_HOST", "127.0.0.1"),
    port: read.int("GATEWAY_PORT", { default: 8088, min: 0, max: 65535 }),
    natsUrl: read.url("NATS_URL", ["nats:", "tls:"]),
    natsSeedFile: read.natsSeedFile("gateway"),
    natsTls: readNatsTls(read, env),
    logLevel: read.oneOf("LOG_LEVEL", ["fatal", "error", "warn", "info", "debug", "trace", "silent"], "info"),
    rpcTimeoutMs: read.int("RPC_TIMEOUT_MS", { default: 10_000, min: 1, max: 600_000 }),
    authIssuer: read.url("AUTH_ISSUER", ["http:", "https:"], "http://127.0.0.1:8180/realms/casebridge"),
    authAudience: read.string("AUTH_AUDIENCE", API_AUDIENCE),
    clientId: read.string("OIDC_CLIENT_ID", "casebridge-gateway"),
    // Development defaults, refused when NODE_ENV=production.
    clientSecret: read.string("OIDC_CLIENT_SECRET", `${DEV_SECRET_PREFIX}gateway-secret-change-me`),
    sessionSecret: read.string("SESSION_SECRET", `${DEV_SECRET_PREFIX}session-secret-change-me`),
    sessionEncryptionKey: sessionKeyOf(read, env, DEV_SESSION_KEY),
    sessionEncryptionOldKeys: (env.SESSION_ENCRYPTION_OLD_KEYS ?? "")
      .split(",")
      .map((key) => key.trim())
      .filter(Boolean)
      .map((key, i) => keyBytes(read, `SESSION_ENCRYPTION_OLD_KEYS[${i}]`, key)),
    maxTokenLifetimeS: read.int("MAX_TOKEN_LIFETIME_SECONDS", { default: 300, min: 1, max: 86_400 }),
    secureCookies: read.oneOf("SECURE_COOKIES", ["true", "false"], env.NODE_ENV === "production" ? "true" : "false") === "true",
    services: parseServiceAddresses(read.string("SERVICE_ADDRESSES", DEV_SERVICES), read),
    rateLimitPerMinute: read.int("RATE_LIMIT_PER_MINUTE", { default: 600, min: 1, max: 1_000_000 }),
    maxStreamsPerUser: read.int("SSE_MAX_STREAMS_PER_USER", { default: 5, min: 1, max: 1000 }),
    trustProxy: read.string("TRUST_PROXY", "loopback"),
    loginsPerMinute: read.int("LOGINS_PER_MINUTE", { default: 30, min: 1, max: 100_000 }),
    grpcTls: readGrpcTls(read, env, resolve(env.PKI_DIR?.trim() || ".data/pki"), undefined),
  };
  // Plaintext gRPC leaves this process only towards loopback addresses.
  if (!config.grpcTls.enabled) {
    for (const [agency, address] of Object.entries(config.services)) {
      const host = address.slice(0, address.lastIndexOf(":"));
      if (!isLoopbackHost(host)) read.problem(`SERVICE_ADDRESSES: ${agency} at ${address} is not a loopback address: plaintext gRPC is refused there, set GRPC_TLS=on (and GRPC_TLS_DIR)`);
    }
  }
  if (env.NODE_ENV === "production") {
    for (const [name, value] of [["OIDC_CLIENT_SECRET", config.clientSecret], ["SESSION_SECRET", config.sessionSecret]] as const) {
      if (value.startsWith(DEV_SECRET_PREFIX)) read.problem(`${name} must be set to a real secret in production`);
    }
    if (config.sessionEncryptionKey === DEV_SESSION_KEY) read.problem("SESSION_ENCRYPTION_KEY (or SESSION_ENCRYPTION_KEY_FILE) must be set to a real key in production");
  }
  read.done();
  return config;
}

/** Development-only session encryption key (derived from a public string, so worthless as a secret): refused when NODE_ENV=production. */
const DEV_SESSION_KEY = createHash("sha256").update(`${DEV_SECRET_PREFIX}session-encryption-key`).digest();

/** SESSION_ENCRYPTION_KEY (base64 of 32 bytes) or the file SESSION_ENCRYPTION_KEY_FILE holding it; else `fallback`. */
function sessionKeyOf(read: EnvReader, env: Env, fallback: Buffer): Buffer {
  if (env.SESSION_ENCRYPTION_KEY && env.SESSION_ENCRYPTION_KEY_FILE) read.problem("set SESSION_ENCRYPTION_KEY or SESSION_ENCRYPTION_KEY_FILE, not both");
  if (env.SESSION_ENCRYPTION_KEY) return keyBytes(read, "SESSION_ENCRYPTION_KEY", env.SESSION_ENCRYPTION_KEY);
  if (env.SESSION_ENCRYPTION_KEY_FILE) {
    try {
      return keyBytes(read, "SESSION_ENCRYPTION_KEY_FILE", readFileSync(env.SESSION_ENCRYPTION_KEY_FILE, "utf8").trim());
    } catch (error) {
      read.problem(`SESSION_ENCRYPTION_KEY_FILE: cannot read ${env.SESSION_ENCRYPTION_KEY_FILE} (${(error as Error).message})`);
      return fallback;
    }
  }
  return fallback;
}

/** The 32 bytes of a base64 key; a problem (and 32 zero bytes, never used since loading fails) otherwise. */
function keyBytes(read: EnvReader, name: string, base64: string): Buffer {
  const bytes = Buffer.from(base64, "base64");
  if (bytes.length !== 32 || !/^[A-Za-z0-9+/_-]+={0,2}$/.test(base64)) read.problem(`${name} must be 32 random bytes in base64 (e.g. openssl rand -base64 32)`);
  return bytes.length === 32 ? bytes : Buffer.alloc(32);
}

/** "police=host:port,prosecution=host:port,…": every agency must be named once. */
function parseServiceAddresses(raw: string, read: EnvReader): Record<SealAgency, string> {
  const addresses: Partial<Record<SealAgency, string>> = {};
  for (const part of raw.split(",")) {
    const [name, address] = part.split("=").map((s) => s.trim());
    if (!name || !address || !(SEAL_AGENCIES as readonly string[]).includes(name) || !/^[^:\s]+:\d+$/.test(address)) {
      read.problem(`SERVICE_ADDRESSES: '${part}' is not <agency>=<host>:<port> with agency one of ${SEAL_AGENCIES.join(", ")}`);
      continue;
    }
    addresses[name as SealAgency] = address;
  }
  for (const agency of SEAL_AGENCIES) if (!addresses[agency]) read.problem(`SERVICE_ADDRESSES names no address for ${agency}`);
  return addresses as Record<SealAgency, string>;
}
