import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ConfigError } from "@casebridge/kit";
import { loadGatewayConfig } from "./config";

describe("loadGatewayConfig", () => {
  it("has development defaults for everything but NATS_URL", () => {
    const config = loadGatewayConfig({ NATS_URL: "nats://127.0.0.1:4222", NATS_CREDENTIALS_DIR: "/run/nats" });
    expect(config.services.police).toBe("127.0.0.1:50051");
    expect(config.services.notary).toBe("127.0.0.1:50055");
    expect(config.secureCookies).toBe(false);
    expect(config.rateLimitPerMinute).toBe(600);
  });

  it("refuses the development secrets in production and names every problem at once", () => {
    let error: unknown;
    try {
      loadGatewayConfig({ NATS_URL: "nats://n:4222", NATS_CREDENTIALS_DIR: "/run/nats", NODE_ENV: "production", SERVICE_ADDRESSES: "police=p:1,mars=m:2" });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).problems).toEqual([
      "SERVICE_ADDRESSES: 'mars=m:2' is not <agency>=<host>:<port> with agency one of police, prosecution, court, judicial, notary",
      "SERVICE_ADDRESSES names no address for prosecution",
      "SERVICE_ADDRESSES names no address for court",
      "SERVICE_ADDRESSES names no address for judicial",
      "SERVICE_ADDRESSES names no address for notary",
      "SERVICE_ADDRESSES: police at p:1 is not a loopback address: plaintext gRPC is refused there, set GRPC_TLS=on (and GRPC_TLS_DIR)",
      "OIDC_CLIENT_SECRET must be set to a real secret in production",
      "SESSION_SECRET must be set to a real secret in production",
      "SESSION_ENCRYPTION_KEY (or SESSION_ENCRYPTION_KEY_FILE) must be set to a real key in production",
    ]);
  });

  it("uses secure cookies in production unless told otherwise", () => {
    const production = { NATS_URL: "nats://n:4222", NATS_CREDENTIALS_DIR: "/run/nats", NODE_ENV: "production", OIDC_CLIENT_SECRET: "s3cret", SESSION_SECRET: "an0ther", SESSION_ENCRYPTION_KEY: Buffer.alloc(32, 7).toString("base64") };
    expect(loadGatewayConfig(production).secureCookies).toBe(true);
    expect(loadGatewayConfig({ ...production, SECURE_COOKIES: "false" }).secureCookies).toBe(false);
  });

  it("reads the session encryption key from the environment or a file, with old keys for reading, and refuses a key that is not 32 bytes", () => {
    const key = Buffer.alloc(32, 1).toString("base64");
    const old = Buffer.alloc(32, 2).toString("base64");
    const config = loadGatewayConfig({ NATS_URL: "nats://n:4222", NATS_CREDENTIALS_DIR: "/run/nats", SESSION_ENCRYPTION_KEY: key, SESSION_ENCRYPTION_OLD_KEYS: ` ${old} ` });
    expect(config.sessionEncryptionKey.toString("base64")).toBe(key);
    expect(config.sessionEncryptionOldKeys.map((k) => k.toString("base64"))).toEqual([old]);
    const dir = mkdtempSync(join(tmpdir(), "cb-key-"));
    writeFileSync(join(dir, "key"), `${old}\n`);
    expect(loadGatewayConfig({ NATS_URL: "nats://n:4222", NATS_CREDENTIALS_DIR: "/run/nats", SESSION_ENCRYPTION_KEY_FILE: join(dir, "key") }).sessionEncryptionKey.toString("base64")).toBe(old);
    expect(() => loadGatewayConfig({ NATS_URL: "nats://n:4222", NATS_CREDENTIALS_DIR: "/run/nats", SESSION_ENCRYPTION_KEY: "c2hvcnQ=" })).toThrow(ConfigError);
    // Development: a marked default key, never the same as a real one.
    expect(loadGatewayConfig({ NATS_URL: "nats://n:4222", NATS_CREDENTIALS_DIR: "/run/nats" }).sessionEncryptionKey).toHaveLength(32);
  });

  it("calls the services over mutual TLS with GRPC_TLS=on (its certificate from GRPC_TLS_DIR, default <PKI_DIR>/tls)", () => {
    const addresses = "police=cb-police:50051,prosecution=cb-prosecution:50051,court=cb-court:50051,judicial=cb-judicial:50051,notary=cb-notary:50051";
    const config = loadGatewayConfig({ NATS_URL: "nats://n:4222", NATS_CREDENTIALS_DIR: "/run/nats", SERVICE_ADDRESSES: addresses, GRPC_TLS: "on", PKI_DIR: "/etc/pki" });
    expect(config.grpcTls).toEqual({ enabled: true, dir: "/etc/pki/tls", allowedClients: ["gateway"] });
    expect(config.services.court).toBe("cb-court:50051");
  });
});
