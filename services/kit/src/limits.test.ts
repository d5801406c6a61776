import { transfer as pb } from "@casebridge/proto";
import pino from "pino";
import { serve, type CallContext } from "./contract";
import { InvalidArgumentError } from "./errors";
import { fieldLimits, limitViolations, MAX_DOCUMENT_BYTES } from "./limits";

const T = "casebridge.transfer.v1";

function openCase(overrides: Partial<pb.Case> = {}, documents: pb.DocumentInput[] = []): pb.OpenCaseRequest {
  return { case: pb.Case.fromPartial({ caseId: "c1", caseNumber: "320582-2026-00042", offence: "盗窃", summary: "ok", ...overrides }), documents };
}

const document = (over: Partial<pb.DocumentInput> = {}): pb.DocumentInput => ({ documentId: "d1", title: "起诉意见书", documentType: "notice", mediaType: "application/pdf", content: Buffer.from("x"), ...over });

describe("field limits declared in the contracts", () => {
  it("reads the option (casebridge.options.v1.limits) of a field", () => {
    expect(fieldLimits(`${T}.DocumentInput`, "title")).toEqual({ maxLen: 500, maxBytes: 0, maxItems: 0 });
    expect(fieldLimits(`${T}.DocumentInput`, "content")).toEqual({ maxLen: 0, maxBytes: 20 * 1024 * 1024, maxItems: 0 });
    expect(fieldLimits(`${T}.OpenCaseRequest`, "documents").maxItems).toBe(50);
    expect(fieldLimits(`${T}.Case`, "kind")).toEqual({ maxLen: 0, maxBytes: 0, maxItems: 0 });
    expect(MAX_DOCUMENT_BYTES).toBe(20 * 1024 * 1024);
    expect(() => fieldLimits(`${T}.Case`, "nothing")).toThrow("no field nothing");
  });

  it("accepts a request within every limit, and one at exactly the limit", () => {
    expect(limitViolations(`${T}.OpenCaseRequest`, openCase({ summary: "案".repeat(5000) }, [document()]))).toEqual([]);
  });

  it("names each field over its limit by its proto path, nested messages and list items included", () => {
    const request = openCase(
      { summary: "x".repeat(5001), parties: [{ partyId: "p1", role: 1, name: "钱".repeat(201), identifier: "" }] },
      [document(), document({ documentId: "d2", title: "t".repeat(501), content: Buffer.alloc(MAX_DOCUMENT_BYTES + 1) })],
    );
    expect(limitViolations(`${T}.OpenCaseRequest`, request)).toEqual([
      { field: "case.summary", description: "must be at most 5000 characters" },
      { field: "case.parties[0].name", description: "must be at most 200 characters" },
      { field: "documents[1].title", description: "must be at most 500 characters" },
      { field: "documents[1].content", description: `must be at most ${MAX_DOCUMENT_BYTES} bytes` },
    ]);
  });

  it("counts characters as code points (as JSON Schema does), not UTF-16 units", () => {
    // 200 characters outside the Basic Multilingual Plane are 400 UTF-16 units: still within max_len 200.
    const name = "𠀀".repeat(200);
    expect(name.length).toBe(400);
    expect(limitViolations("casebridge.common.v1.Party", { partyId: "p", role: 1, name, identifier: "" })).toEqual([]);
    expect(limitViolations("casebridge.common.v1.Party", { partyId: "p", role: 1, name: `${name}a`, identifier: "" })).toEqual([{ field: "name", description: "must be at most 200 characters" }]);
  });

  it("refuses too many items of a list without looking at each", () => {
    const documents = Array.from({ length: 51 }, (_, i) => document({ documentId: `d${i}`, title: "t".repeat(501) }));
    expect(limitViolations(`${T}.AddDocumentsRequest`, { caseId: "c1", documents })).toEqual([{ field: "documents", description: "must have at most 50 items" }]);
    expect(limitViolations(`${T}.ListTransfersRequest`, { box: 1, states: new Array(17).fill(1), caseId: "", pageSize: 1, pageToken: "" })).toEqual([{ field: "states", description: "must have at most 16 items" }]);
  });
});

describe("serve", () => {
  const ctx: CallContext = { traceId: "t", metadata: {}, logger: pino({ level: "silent" }), transport: "nats" };
  const calls: string[] = [];
  const handlers = {
    openCase: (request: pb.OpenCaseRequest) => (calls.push(request.case!.caseId), Promise.resolve({ caseFile: undefined })),
    approveCase: () => Promise.resolve({ caseFile: undefined }),
    addDocuments: () => Promise.resolve({ caseFile: undefined }),
    getCase: () => Promise.resolve({ caseFile: undefined }),
    listCases: () => Promise.resolve({ caseFiles: [], nextPageToken: "" }),
    changeMeasure: () => Promise.resolve({ caseFile: undefined }),
  };
  const served = serve(pb.CaseFileServiceDefinition, handlers);

  it("checks every request against its contract's limits before the handler, which never sees an oversized one", async () => {
    const refused = served.handlers.openCase!(openCase({ caseId: "too-long", summary: "x".repeat(5001) }), ctx);
    await expect(refused).rejects.toBeInstanceOf(InvalidArgumentError);
    await expect(refused).rejects.toMatchObject({ message: "case.summary: over the limits of the contract", violations: [{ field: "case.summary" }] });
    await served.handlers.openCase!(openCase({ caseId: "fits" }), ctx);
    expect(calls).toEqual(["fits"]);
    await expect(served.handlers.changeMeasure!({ caseId: "c1", measureId: "m1", release: true, reason: "理".repeat(1001) }, ctx)).rejects.toMatchObject({ violations: [{ field: "reason", description: "must be at most 1000 characters" }] });
  });
});
