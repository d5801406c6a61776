import { common, system } from "@casebridge/proto";
import { createSystemHandlers } from "./system.service";
import type { CallContext } from "./contract";

const identity = { service: "police", agency: common.Agency.AGENCY_POLICE, version: "1.2.3", instanceId: "i-1", startedAt: new Date("2026-01-01T00:00:00Z") };
const ctx = {} as CallContext;

describe("SystemService handlers", () => {
  it("reports who answers", async () => {
    const handlers = createSystemHandlers(identity, {});
    await expect(handlers.getInfo({}, ctx)).resolves.toMatchObject({ service: "police", agency: common.Agency.AGENCY_POLICE, version: "1.2.3" });
  });

  it("is SERVING only when every dependency is", async () => {
    const up = () => Promise.resolve(undefined);
    const healthy = await createSystemHandlers(identity, { nats: up, mongodb: up }).checkHealth({}, ctx);
    expect(healthy.status).toBe(system.ServingStatus.SERVING_STATUS_SERVING);

    const sick = await createSystemHandlers(identity, { nats: up, mongodb: () => Promise.reject(new Error("ping timed out")) }).checkHealth({}, ctx);
    expect(sick.status).toBe(system.ServingStatus.SERVING_STATUS_NOT_SERVING);
    expect(sick.dependencies).toContainEqual({ name: "mongodb", status: system.ServingStatus.SERVING_STATUS_NOT_SERVING, detail: "ping timed out" });
    expect(sick.dependencies).toContainEqual({ name: "nats", status: system.ServingStatus.SERVING_STATUS_SERVING, detail: "" });
  });
});
