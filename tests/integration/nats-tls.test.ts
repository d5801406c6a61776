import type { ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { connect } from "@nats-io/transport-node";
import { connectNats, initPkiDirectory, natsTlsOptions } from "@casebridge/kit";
import { asOperator, freePort, infra, quietLogger, startNats } from "./support";

// A nats-server of its own with the platform PKI's NATS certificate (as the chart's tls {} block), and
// clients that trust the platform root through natsTlsOptions (NATS_TLS_CA).
describe("NATS over TLS with the platform PKI", () => {
  const tlsDir = path.join(infra.pkiDir, "tls");
  let server: ChildProcess;
  let url: string;
  let foreignDir: string;
  let storeDir: string;

  beforeAll(async () => {
    await initPkiDirectory(infra.pkiDir, "p-256");
    foreignDir = path.join(mkdtempSync(path.join(tmpdir(), "cb-foreign-nats-")), "pki");
    await initPkiDirectory(foreignDir, "p-256");
    const port = await freePort();
    url = `tls://127.0.0.1:${port}`;
    storeDir = mkdtempSync(path.join(tmpdir(), "cb-nats-tls-"));
    // The platform's nats-server (its authorization file and users), with the TLS certificate the chart mounts.
    const tlsArgs = ["--tls", "--tlscert", path.join(tlsDir, "nats.pem"), "--tlskey", path.join(tlsDir, "nats.key.pem")];
    server = await startNats(port, storeDir, tlsArgs, natsTlsOptions({ natsTlsCa: path.join(tlsDir, "root.pem") }));
  });
  afterAll(() => {
    server?.kill();
    rmSync(storeDir, { recursive: true, force: true });
    rmSync(path.dirname(foreignDir), { recursive: true, force: true });
  });

  it("connects with the platform root as NATS_TLS_CA, and talks", async () => {
    const seedFile = path.join(infra.natsCredentialsDir, "operator.nk");
    const link = await connectNats({ servers: url, principal: "operator", seedFile, tls: natsTlsOptions({ natsTlsCa: path.join(infra.pkiDir, "root", "ca.pem") }) }, 1, quietLogger);
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
    await expect(connect({ ...asOperator(), servers: url, reconnect: false, timeout: 3000 })).rejects.toThrow();
    await expect(connect({ ...asOperator(), servers: url, reconnect: false, timeout: 3000, ...natsTlsOptions({ natsTlsCa: path.join(foreignDir, "root", "ca.pem") }) })).rejects.toThrow();
  });

  it("adds nothing when no NATS TLS setting is given", () => {
    expect(natsTlsOptions({})).toEqual({});
    expect(natsTlsOptions({ natsTlsCa: "/ca.pem", natsTlsCert: "/c.pem", natsTlsKey: "/k.pem" })).toEqual({ tls: { caFile: "/ca.pem", certFile: "/c.pem", keyFile: "/k.pem" } });
  });
});
