import { API_AUDIENCE } from "./actor";
import { resolve } from "node:path";
import { isLoopbackHost } from "./grpc-tls";
import { readNatsTls, type NatsTlsConfig } from "./nats-tls";
import { parseDeadlineRules, STATUTORY_RULES, type DeadlineRules } from "./deadlines/domain";
/** The environment a service reads its settings from. */
export type Env = Record<string, string | undefined>;

/** The configuration is missing or malformed; the message lists every problem at once. */
export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid configuration: ${problems.join("; ")}`);
    this.name = "ConfigError";
  }
}

interface IntOptions {
  default?: number;
  min?: number;
  max?: number;
}

/** Reads typed values from the environment, collecting every problem before failing once. */
export class EnvReader {
  private readonly problems: string[] = [];

  constructor(private readonly env: Env) {}

  /** A string variable; required unless a default is given. */
  string(name: string, fallback?: string): string {
    const raw = this.env[name]?.trim();
    if (raw) return raw;
    if (fallback !== undefined) return fallback;
    this.problems.push(`${name} is required`);
    return "";
  }

  /** The nkey seed file NATS clients of `principal` authenticate with: NATS_NKEY_FILE, or <NATS_CREDENTIALS_DIR>/<principal>.nk. */
  natsSeedFile(principal: string): string {
    const file = this.env.NATS_NKEY_FILE?.trim();
    if (file) return resolve(file);
    const dir = this.env.NATS_CREDENTIALS_DIR?.trim();
    if (dir) return resolve(dir, `${principal}.nk`);
    this.problems.push("NATS_NKEY_FILE (this process's nkey seed file) or NATS_CREDENTIALS_DIR (made by `npm run nats-auth -- init --dir <dir>`) is required");
    return "";
  }

  /** A URL whose scheme is one of `schemes`, e.g. nats: or mongodb:. */
  url(name: string, schemes: string[], fallback?: string): string {
    const raw = this.string(name, fallback);
    if (!raw) return raw;
    for (const part of raw.split(",")) {
      let scheme: string;
      try {
        scheme = new URL(part.trim()).protocol;
      } catch {
        this.problems.push(`${name} is not a URL (got '${raw}')`);
        return raw;
      }
      if (!schemes.includes(scheme)) {
        this.problems.push(`${name} must start with ${schemes.map((s) => `${s}//`).join(" or ")} (got '${raw}')`);
        return raw;
      }
    }
    return raw;
  }

  /** An integer variable within [min, max]. */
  int(name: string, { default: fallback, min = Number.MIN_SAFE_INTEGER, max = Number.MAX_SAFE_INTEGER }: IntOptions = {}): number {
    const raw = this.env[name]?.trim();
    if (!raw) {
      if (fallback !== undefined) return fallback;
      this.problems.push(`${name} is required`);
      return 0;
    }
    const value = Number(raw);
    if (!Number.isInteger(value) || value < min || value > max) {
      this.problems.push(`${name} must be an integer from ${min} to ${max} (got '${raw}')`);
      return 0;
    }
    return value;
  }

  /** One of a fixed set of values. */
  oneOf<T extends string>(name: string, allowed: readonly T[], fallback: T): T {
    const raw = this.env[name]?.trim();
    if (!raw) return fallback;
    if ((allowed as readonly string[]).includes(raw)) return raw as T;
    this.problems.push(`${name} must be one of ${allowed.join(", ")} (got '${raw}')`);
    return fallback;
  }

  /** Records a problem found by a check of the caller's own. */
  problem(message: string): void {
    this.problems.push(message);
  }

  /** Throws a ConfigError naming every problem met so far. */
  done(): void {
    if (this.problems.length > 0) throw new ConfigError(this.problems);
  }
}

const LOG_LEVELS = ["fatal", "error", "warn", "info", "debug", "trace", "silent"] as const;

/** Settings every CaseBridge service shares. */
export interface ServiceConfig {
  service: string;
  version: string;
  natsUrl: string;
  natsConnectAttempts: number;
  /** This service's nkey seed file (NATS_NKEY_FILE, or <NATS_CREDENTIALS_DIR>/<service>.nk). */
  natsSeedFile: string;
  /** NATS TLS (NATS_TLS_CA, NATS_TLS_CERT, NATS_TLS_KEY); see nats-tls.ts. */
  natsTls: NatsTlsConfig;
  mongoUrl: string;
  mongoDb: string;
  mongoConnectAttempts: number;
  mongoConnectTimeoutMs: number;
  grpcHost: string;
  grpcPort: number;
  /** Mutual TLS on the gRPC port (GRPC_TLS=on); off means plaintext, allowed on a loopback GRPC_HOST only. See grpc-tls.ts. */
  grpcTls: GrpcTlsConfig;
  /** With TLS on: a plaintext port serving grpc.health.v1 only (for Kubernetes probes, which speak no TLS); 0: none. */
  grpcHealthPort: number;
  logLevel: (typeof LOG_LEVELS)[number];
  rpcTimeoutMs: number;
  shutdownGraceMs: number;
  /** Directory of the PKI files (trust, CRLs, this agency's seal); see seal/pki-files.ts. */
  pkiDir: string;
  /** Passphrase of encrypted seal keys; a secret, never logged. */
  pkiKeyPassphrase: string | undefined;
  /** Keycloak realm URL whose access tokens callers must present (its JWKS verifies them). */
  authIssuer: string;
  /** The audience every access token must name (the realm's audience mapper adds it for the platform's clients). */
  authAudience: string;
  /** Replicas of the JetStream streams and buckets this service creates (1 locally; the NATS cluster size, at most 3, in Kubernetes). */
  jetstreamReplicas: number;
  /** Statutory deadline rules in force: the statutory ones, with DEADLINE_RULES overrides (JSON; e.g. short rules in tests). */
  deadlineRules: DeadlineRules;
}

/** The gRPC TLS switch and where its files are. */
export interface GrpcTlsConfig {
  enabled: boolean;
  /** Directory with root.pem, ca.pem, <agency>.pem and <agency>.key.pem (GRPC_TLS_DIR, default <PKI_DIR>/tls). */
  dir: string;
  /** CNs of the TLS client certificates allowed to call (GRPC_TLS_CLIENTS, comma-separated; default gateway). */
  allowedClients: string[];
}

/** Reads GRPC_TLS, GRPC_TLS_DIR and GRPC_TLS_CLIENTS; with TLS off, a non-loopback `host` is a problem (plaintext only on loopback). */
export function readGrpcTls(read: EnvReader, env: Env, pkiDir: string, host: string | undefined): GrpcTlsConfig {
  const enabled = read.oneOf("GRPC_TLS", ["on", "off"], "off") === "on";
  if (!enabled && host !== undefined && !isLoopbackHost(host)) {
    read.problem(`GRPC_HOST ${host} is not a loopback address: plaintext gRPC is refused there, set GRPC_TLS=on (and GRPC_TLS_DIR)`);
  }
  return {
    enabled,
    dir: resolve(read.string("GRPC_TLS_DIR", resolve(pkiDir, "tls"))),
    allowedClients: (env.GRPC_TLS_CLIENTS ?? "gateway").split(",").map((name) => name.trim()).filter(Boolean),
  };
}

/** Parses the shared service settings from the environment; throws ConfigError listing every problem. */
export function loadServiceConfig(service: string, defaultGrpcPort: number, env: Env): ServiceConfig {
  const read = new EnvReader(env);
  const config: ServiceConfig = {
    service,
    version: read.string("SERVICE_VERSION", "0.1.0"),
    natsUrl: read.url("NATS_URL", ["nats:", "tls:"]),
    natsConnectAttempts: read.int("NATS_CONNECT_ATTEMPTS", { default: 5, min: 1, max: 1000 }),
    natsSeedFile: read.natsSeedFile(service),
    natsTls: readNatsTls(read, env),
    mongoUrl: read.url("MONGO_URL", ["mongodb:", "mongodb+srv:"]),
    mongoDb: read.string("MONGO_DB", `casebridge_${service}`),
    mongoConnectAttempts: read.int("MONGO_CONNECT_ATTEMPTS", { default: 5, min: 1, max: 1000 }),
    mongoConnectTimeoutMs: read.int("MONGO_CONNECT_TIMEOUT_MS", { default: 3000, min: 100, max: 120_000 }),
    grpcHost: read.string("GRPC_HOST", "127.0.0.1"),
    grpcPort: read.int("GRPC_PORT", { default: defaultGrpcPort, min: 0, max: 65535 }),
    logLevel: read.oneOf("LOG_LEVEL", LOG_LEVELS, "info"),
    rpcTimeoutMs: read.int("RPC_TIMEOUT_MS", { default: 5000, min: 1, max: 600_000 }),
    shutdownGraceMs: read.int("SHUTDOWN_GRACE_MS", { default: 10_000, min: 0, max: 600_000 }),
    pkiDir: resolve(read.string("PKI_DIR", ".data/pki")),
    pkiKeyPassphrase: read.string("PKI_KEY_PASSPHRASE", "") || undefined,
    authIssuer: read.url("AUTH_ISSUER", ["http:", "https:"], "http://127.0.0.1:8180/realms/casebridge"),
    authAudience: read.string("AUTH_AUDIENCE", API_AUDIENCE),
    jetstreamReplicas: read.int("JETSTREAM_REPLICAS", { default: 1, min: 1, max: 5 }),
    deadlineRules: STATUTORY_RULES,
    grpcTls: { enabled: false, dir: "", allowedClients: [] },
    grpcHealthPort: read.int("GRPC_HEALTH_PORT", { default: 0, min: 0, max: 65535 }),
  };
  config.grpcTls = readGrpcTls(read, env, config.pkiDir, config.grpcHost);
  if (config.grpcHealthPort !== 0 && !config.grpcTls.enabled) read.problem("GRPC_HEALTH_PORT is for GRPC_TLS=on only (with TLS off the gRPC port serves grpc.health.v1 itself)");
  const rules = parseDeadlineRules(env.DEADLINE_RULES ?? "");
  if ("problems" in rules) rules.problems.forEach((problem) => read.problem(problem));
  else config.deadlineRules = rules.rules;
  read.done();
  return config;
}
