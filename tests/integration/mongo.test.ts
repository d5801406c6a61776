import { randomUUID } from "node:crypto";
import type mongoose from "mongoose";
import { Schema } from "mongoose";
import { connectMongo, StartupError } from "@casebridge/kit";
import { freePort, infra, quietLogger } from "./support";

interface CaseDoc {
  caseNumber: string;
  offence: string;
  parties: { name: string; role: string }[];
  version: number;
}

describe("Mongoose on the Mongo-protocol server", () => {
  let connection: mongoose.Connection;
  const dbName = `it_mongo_${randomUUID().slice(0, 8)}`;

  beforeAll(async () => {
    connection = await connectMongo(infra.mongoUrl, dbName, { attempts: 3, timeoutMs: 2000, logger: quietLogger });
  });
  afterAll(async () => {
    await connection.dropDatabase();
    await connection.close();
  });

  it("writes and reads a document, and enforces a unique index", async () => {
    const Case = connection.model<CaseDoc>(
      "Case",
      new Schema<CaseDoc>({ caseNumber: { type: String, required: true, unique: true }, offence: String, parties: [{ name: String, role: String }], version: Number }),
    );
    await Case.init();
    await Case.create({ caseNumber: "320582-2026-00001", offence: "theft", parties: [{ name: "张三", role: "suspect" }], version: 1 });
    const found = await Case.findOne({ caseNumber: "320582-2026-00001" }).lean();
    expect(found).toMatchObject({ offence: "theft", parties: [{ name: "张三", role: "suspect" }] });

    await expect(Case.create({ caseNumber: "320582-2026-00001", offence: "again", version: 1 })).rejects.toMatchObject({ code: 11000 });

    // single-document conditional update: the building block of optimistic concurrency
    const updated = await Case.updateOne({ caseNumber: "320582-2026-00001", version: 1 }, { $set: { offence: "fraud" }, $inc: { version: 1 } });
    const stale = await Case.updateOne({ caseNumber: "320582-2026-00001", version: 1 }, { $set: { offence: "lost update" } });
    expect([updated.modifiedCount, stale.modifiedCount]).toEqual([1, 0]);
  });

  it("gives up on an unreachable server with a clear StartupError", async () => {
    const port = await freePort();
    const attempt = connectMongo(`mongodb://127.0.0.1:${port}`, "x", { attempts: 2, timeoutMs: 300, logger: quietLogger });
    await expect(attempt).rejects.toBeInstanceOf(StartupError);
    await expect(attempt).rejects.toThrow(`cannot reach MongoDB at mongodb://127.0.0.1:${port} after 2 attempt(s)`);
  });
});
