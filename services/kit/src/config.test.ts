import { ConfigError, loadServiceConfig } from "./config";

const valid = { NATS_URL: "nats://127.0.0.1:4222", NATS_CREDENTIALS_DIR: "/run/nats", MONGO_URL: "mongodb://127.0.0.1:27017" };

describe("loadServiceConfig", () => {
  it("fills defaults from the service name", () => {
    const config = loadServiceConfig("police", 50051, valid);
    expect(config).toMatchObject({ service: "police", mongoDb: "casebridge_police", grpcPort: 50051, grpcHost: "127.0.0.1", logLevel: "info", natsSeedFile: "/run/nats/police.nk" });
  });

  it("takes the NATS user's seed file from NATS_NKEY_FILE before NATS_CREDENTIALS_DIR, and requires one of them", () => {
    expect(loadServiceConfig("police", 1, { ...valid, NATS_NKEY_FILE: "/secrets/nkey.seed" }).natsSeedFile).toBe("/secrets/nkey.seed");
    expect(() => loadServiceConfig("police", 1, { NATS_URL: valid.NATS_URL, MONGO_URL: valid.MONGO_URL })).toThrow(/NATS_NKEY_FILE .* or NATS_CREDENTIALS_DIR .* is required/);
  });

  it("names every problem in one error", () => {
    const read = () => loadServiceConfig("police", 50051, { NATS_CREDENTIALS_DIR: "/run/nats", MONGO_URL: "http://x", GRPC_PORT: "70000", LOG_LEVEL: "loud" });
    expect(read).toThrow(ConfigError);
    expect(read).toThrow(
      "invalid configuration: NATS_URL is required; MONGO_URL must start with mongodb:// or mongodb+srv:// (got 'http://x'); GRPC_PORT must be an integer from 0 to 65535 (got '70000'); LOG_LEVEL must be one of fatal, error, warn, info, debug, trace, silent (got 'loud')",
    );
  });

  it("accepts a comma-separated list of NATS servers", () => {
    expect(loadServiceConfig("court", 1, { ...valid, NATS_URL: "nats://a:4222,nats://b:4222" }).natsUrl).toBe("nats://a:4222,nats://b:4222");
  });

  it("rejects a value that is not a URL", () => {
    expect(() => loadServiceConfig("court", 1, { ...valid, NATS_URL: "localhost" })).toThrow("NATS_URL is not a URL (got 'localhost')");
  });

  it("takes gRPC in plaintext on loopback only; GRPC_TLS=on reads its directory (default <PKI_DIR>/tls)", () => {
    expect(loadServiceConfig("police", 1, { ...valid, GRPC_HOST: "127.0.0.2" }).grpcTls).toMatchObject({ enabled: false });
    expect(loadServiceConfig("police", 1, { ...valid, GRPC_HOST: "::1" }).grpcTls.enabled).toBe(false);
    expect(() => loadServiceConfig("police", 1, { ...valid, GRPC_HOST: "0.0.0.0" })).toThrow("GRPC_HOST 0.0.0.0 is not a loopback address: plaintext gRPC is refused there, set GRPC_TLS=on");
    const on = loadServiceConfig("police", 1, { ...valid, GRPC_HOST: "0.0.0.0", GRPC_TLS: "on", PKI_DIR: "/etc/pki", GRPC_HEALTH_PORT: "50052" });
    expect(on).toMatchObject({ grpcTls: { enabled: true, dir: "/etc/pki/tls", allowedClients: ["gateway"] }, grpcHealthPort: 50052 });
    expect(() => loadServiceConfig("police", 1, { ...valid, GRPC_TLS: "yes" })).toThrow("GRPC_TLS must be one of on, off (got 'yes')");
    expect(() => loadServiceConfig("police", 1, { ...valid, GRPC_HEALTH_PORT: "50052" })).toThrow("GRPC_HEALTH_PORT is for GRPC_TLS=on only");
  });
});
