import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { connect } from "@nats-io/transport-node";
import { connectNats, initPkiDirectory, natsTlsOptions } from "@casebridge/kit";
import { eventually, freePort, infra, natsServerBinary, quietLogger } from "./support";

// A nats-server of its own with the platform PKI's NATS certificate (as the chart's tls {} block), and
// clients that trust the platform root through natsTlsOptions (NATS_TLS_CA).
describe("NATS over TLS with the platform PKI", () => {
  const tlsDir = path.join(infra.pkiDir, "tls");
  let server: ChildProcess;
  let url: string;
  let foreignDir: string;

  beforeAll(async () => {
    await initPkiDirectory(infra.pkiDir, "p-256");
    foreignDir = path.join(mkdtempSync(path.join(tmpdir(), "cb-foreign-nats-")), "pki");
    await initPkiDirectory(foreignDir, "p-256");
    const port = await freePort();
    url = `tls://127.0.0.1:${port}`;
    server = spawn(natsServerBinary(), ["-a", "127.0.0.1", "-p", String(port), "--tls", "--tlscert", path.join(tlsDir, "nats.pem"), "--tlskey", path.join(tlsDir, "nats.key.pem")], { stdio: "ignore" });
    await eventually(async () => {
      const nc = await connect({ servers: url, reconnect: false, ...natsTlsOptions({ natsTlsCa: path.join(tlsDir, "root.pem") }) });
      await nc.close();
    });
  });
  afterAll(() => {
    server?.kill();
    rmSync(path.dirname(foreignDir), { recursive: true, force: true });
  });

  it("connects with the platform root as NATS_TLS_CA, and talks", async () => {
    const link = await connectNats(url, "tls-test", 1, quietLogger, undefined, natsTlsOptions({ natsTlsCa: path.join(infra.pkiDir, "root", "ca.pem") }));
    try {
      const sub = link.nc.subscribe("tls.echo", { callback: (_err, msg) => void msg.respond(msg.data) });
      const reply = await link.nc.request("tls.echo", "over tls", { timeout: 2000 });
      expect(reply.string()).toBe("over tls");
      sub.unsubscribe();
    } finally {
      await link.nc.close();
    }
  });

  it("refuses a server it cannot verify: no NATS_TLS_CA (system trust) or a foreign root", async () => {
    await expect(connect({ servers: url, reconnect: false, timeout: 3000 })).rejects.toThrow();
    await expect(connect({ servers: url, reconnect: false, timeout: 3000, ...natsTlsOptions({ natsTlsCa: path.join(foreignDir, "root", "ca.pem") }) })).rejects.toThrow();
  });

  it("adds nothing when no NATS TLS setting is given", () => {
    expect(natsTlsOptions({})).toEqual({});
    expect(natsTlsOptions({ natsTlsCa: "/ca.pem", natsTlsCert: "/c.pem", natsTlsKey: "/k.pem" })).toEqual({ tls: { caFile: "/ca.pem", certFile: "/c.pem", keyFile: "/k.pem" } });
  });
});
