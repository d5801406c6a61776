import Ajv from "ajv";
import addFormats from "ajv-formats";
import { fieldLimits, limitViolations } from "@casebridge/kit";
import { BASE64_PATTERN, ProtoSchemas } from "./proto-schema";

describe("ProtoSchemas", () => {
  it("describes a message as ts-proto writes it: camelCase fields, enum names, RFC 3339 times, base64 bytes", () => {
    const schemas = new ProtoSchemas();
    expect(schemas.ref("casebridge.transfer.v1.Transfer")).toEqual({ $ref: "#/components/schemas/casebridge.transfer.v1.Transfer" });
    const transfer = schemas.components["casebridge.transfer.v1.Transfer"] as { properties: Record<string, Record<string, unknown>>; additionalProperties: boolean };
    expect(transfer.additionalProperties).toBe(false);
    expect(transfer.properties.transferId).toEqual({ type: "string" });
    expect(transfer.properties.state!.enum).toContain("TRANSFER_STATE_RECEIVED");
    expect(transfer.properties.createdAt).toEqual({ type: "string", format: "date-time" });
    expect(transfer.properties.path).toMatchObject({ type: "array", items: { type: "string" } });
    expect(transfer.properties.case).toEqual({ $ref: "#/components/schemas/casebridge.transfer.v1.Case" });
    // Every message a Transfer uses is defined too.
    expect(Object.keys(schemas.components)).toEqual(expect.arrayContaining(["casebridge.transfer.v1.Case", "casebridge.seal.v1.BundleVerification", "casebridge.common.v1.Party"]));
    const input = (schemas.ref("casebridge.transfer.v1.DocumentInput"), schemas.components["casebridge.transfer.v1.DocumentInput"]) as { properties: Record<string, unknown> };
    expect(input.properties.content).toEqual({ type: "string", contentEncoding: "base64", pattern: BASE64_PATTERN, maxLength: 27962028, description: "at most 20971520 bytes" });
  });

  it("carries the limits the contracts declare, the same the services check", () => {
    const schemas = new ProtoSchemas();
    schemas.ref("casebridge.transfer.v1.OpenCaseRequest");
    const props = (name: string) => (schemas.components[name] as { properties: Record<string, Record<string, unknown>> }).properties;
    // (casebridge.options.v1.limits) = {max_len: 500} on DocumentInput.title, {max_items: 50} on OpenCaseRequest.documents, …
    expect(props("casebridge.transfer.v1.DocumentInput").title).toEqual({ type: "string", maxLength: fieldLimits("casebridge.transfer.v1.DocumentInput", "title").maxLen });
    expect(props("casebridge.transfer.v1.DocumentInput").title!.maxLength).toBe(500);
    expect(props("casebridge.transfer.v1.OpenCaseRequest").documents).toMatchObject({ type: "array", maxItems: 50 });
    expect(props("casebridge.transfer.v1.Case").summary).toEqual({ type: "string", maxLength: 5000 });
    expect(props("casebridge.common.v1.Party").name).toEqual({ type: "string", maxLength: 200 });
    expect(schemas.field("casebridge.transfer.v1.ListTransfersRequest", "states")).toMatchObject({ maxItems: 16 });
    // A field without a declared limit has none.
    expect(props("casebridge.transfer.v1.Case").kind).not.toHaveProperty("maxLength");

    // The gateway's check (the JSON schema) and the service's (kit limits.ts) agree on the same input, to the character.
    const ajv = addFormats(new Ajv({ strict: false, allErrors: true }));
    const validate = ajv.compile({ ...schemas.ref("casebridge.transfer.v1.OpenCaseRequest"), components: { schemas: schemas.components } });
    for (const length of [5000, 5001]) {
      const summary = "案".repeat(length);
      const atGateway = validate({ case: { caseId: "c", summary } });
      const atService = limitViolations("casebridge.transfer.v1.OpenCaseRequest", { case: { caseId: "c", summary, parties: [], measures: [] }, documents: [] });
      expect([length, atGateway, atService.length === 0]).toEqual([length, length <= 5000, length <= 5000]);
    }
  });

  it("refuses what is not base64 in a bytes field, standard or URL-safe, padded or not", () => {
    const base64 = new RegExp(BASE64_PATTERN, "u");
    for (const good of ["", "aGk=", "aGk", "aGVsbG8gd29ybGQ=", "-_-_", Buffer.from([0xfb, 0xff]).toString("base64")]) expect([good, base64.test(good)]).toEqual([good, true]);
    for (const bad of ["a", "aGk==x", "aGk*", "a b c d", "aGVsbG8=d29y", "你好"]) expect([bad, base64.test(bad)]).toEqual([bad, false]);
  });

  it("refuses a message or field the contracts do not have", () => {
    const schemas = new ProtoSchemas();
    expect(() => schemas.ref("casebridge.transfer.v1.Nothing")).toThrow("no message casebridge.transfer.v1.Nothing");
    expect(() => schemas.field("casebridge.transfer.v1.ListTransfersRequest", "nothing")).toThrow("no field nothing");
  });
});
