import { ProtoSchemas } from "./proto-schema";

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
    expect(input.properties.content).toEqual({ type: "string", contentEncoding: "base64" });
  });

  it("refuses a message or field the contracts do not have", () => {
    const schemas = new ProtoSchemas();
    expect(() => schemas.ref("casebridge.transfer.v1.Nothing")).toThrow("no message casebridge.transfer.v1.Nothing");
    expect(() => schemas.field("casebridge.transfer.v1.ListTransfersRequest", "nothing")).toThrow("no field nothing");
  });
});
