import { Metadata, status, type ServiceError } from "@grpc/grpc-js";
import { common } from "@casebridge/proto";
import {
  asCaseBridgeError,
  CaseBridgeError,
  fromGrpcError,
  fromNatsErrorHeaders,
  httpStatusOf,
  InvalidArgumentError,
  NotFoundError,
  toGrpcError,
  toNatsErrorHeaders,
} from "./errors";

const { ErrorCode } = common;

function asServiceError(partial: Partial<ServiceError>): ServiceError {
  const base: ServiceError = Object.assign(new Error(partial.details), { code: status.UNKNOWN, details: "", metadata: new Metadata() });
  return Object.assign(base, partial);
}

describe("error mapping", () => {
  it("carries code, message and field violations through gRPC status", () => {
    const original = new InvalidArgumentError("case number is malformed", [{ field: "case_number", description: "must match 320582-YYYY-NNNNN" }]);
    const wire = toGrpcError(original);
    expect(wire.code).toBe(status.INVALID_ARGUMENT);
    const back = fromGrpcError(asServiceError(wire));
    expect(back.code).toBe(ErrorCode.ERROR_CODE_INVALID_ARGUMENT);
    expect(back.message).toBe("case number is malformed");
    expect(back.violations).toEqual([{ field: "case_number", description: "must match 320582-YYYY-NNNNN" }]);
  });

  it("carries code, message and field violations through NATS headers", () => {
    const headers = toNatsErrorHeaders(new InvalidArgumentError("bad", [{ field: "x", description: "y" }]));
    const back = fromNatsErrorHeaders((name) => headers[name] ?? "");
    expect(back).toBeInstanceOf(CaseBridgeError);
    expect(back?.code).toBe(ErrorCode.ERROR_CODE_INVALID_ARGUMENT);
    expect(back?.violations).toEqual([{ field: "x", description: "y" }]);
  });

  it("reads a success reply (no error headers) as no error", () => {
    expect(fromNatsErrorHeaders(() => "")).toBeUndefined();
  });

  it("turns unexpected errors into INTERNAL without leaking their text", () => {
    const e = asCaseBridgeError(new TypeError("secret connection string mongodb://u:p@h"));
    expect(e.code).toBe(ErrorCode.ERROR_CODE_INTERNAL);
    expect(e.message).toBe("internal error");
    expect(toNatsErrorHeaders(new Error("boom"))["Cb-Error-Message"]).toBe("internal error");
  });

  it.each([
    [new InvalidArgumentError("x"), 400],
    [new NotFoundError("x"), 404],
    [new CaseBridgeError(ErrorCode.ERROR_CODE_PERMISSION_DENIED, "x"), 403],
    [new CaseBridgeError(ErrorCode.ERROR_CODE_UNAUTHENTICATED, "x"), 401],
    [new CaseBridgeError(ErrorCode.ERROR_CODE_UNAVAILABLE, "x"), 503],
    [asCaseBridgeError(new Error("x")), 500],
  ])("maps %p to HTTP %i", (err, http) => {
    expect(httpStatusOf(err)).toBe(http);
  });

  it("maps a busy or unreachable database to UNAVAILABLE without its text, anything else unknown to INTERNAL", () => {
    const busy = Object.assign(new Error("[collection.go:191] database is locked (5) (SQLITE_BUSY)"), { name: "MongoServerError" });
    expect(asCaseBridgeError(busy)).toMatchObject({ code: ErrorCode.ERROR_CODE_UNAVAILABLE, message: expect.stringContaining("try again") as string });
    const network = Object.assign(new Error("connect ECONNREFUSED"), { name: "MongoNetworkError" });
    expect(asCaseBridgeError(network).code).toBe(ErrorCode.ERROR_CODE_UNAVAILABLE);
    expect(asCaseBridgeError(new TypeError("x is undefined"))).toMatchObject({ code: ErrorCode.ERROR_CODE_INTERNAL, message: "internal error" });
  });
});
