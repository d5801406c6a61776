import express from "express";
import type { ContractClient, Logger } from "@casebridge/kit";
import { common, system } from "@casebridge/proto";
import { problemHandler } from "./problem";

/** A SystemService client per agency service, keyed by service name. */
export type SystemClients = Record<string, ContractClient<typeof system.SystemServiceDefinition>>;

/** The gateway's Express app: liveness, and the state of every agency service (asked over NATS). */
export function createApp(systemClients: SystemClients, logger: Logger): express.Express {
  const app = express();
  app.disable("x-powered-by");
  app.get("/healthz", (_req, res) => {
    res.json({ status: "ok" });
  });
  app.get("/api/v1/system/services", async (_req, res) => {
    const services = await Promise.all(
      Object.entries(systemClients).map(async ([name, client]) => {
        try {
          const [info, health] = await Promise.all([client.getInfo({}), client.checkHealth({})]);
          return {
            name,
            agency: common.agencyToJSON(info.agency),
            version: info.version,
            startedAt: info.startedAt?.toISOString(),
            status: system.servingStatusToJSON(health.status),
            dependencies: health.dependencies.map((d) => ({ name: d.name, status: system.servingStatusToJSON(d.status), detail: d.detail })),
          };
        } catch (err) {
          return { name, status: "UNREACHABLE", detail: (err as Error).message };
        }
      }),
    );
    res.json({ services });
  });
  app.use((req, res) => {
    res.status(404).type("application/problem+json").json({ type: "about:blank", title: "NOT_FOUND", status: 404, detail: `no route for ${req.method} ${req.path}` });
  });
  app.use(problemHandler(logger));
  return app;
}
