import { status as GrpcStatus, Metadata, type ServiceError } from "@grpc/grpc-js";
import { common } from "@casebridge/proto";

const { ErrorCode } = common;
type ErrorCode = common.ErrorCode;

/** A field of the input that was wrong, and why. */
export interface FieldViolation {
  field: string;
  description: string;
}

/** Base of every error the platform reports on purpose; `code` decides the status on every transport. */
export class CaseBridgeError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly violations: FieldViolation[] = [],
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** The input is malformed or breaks a rule; nothing was changed. */
export class InvalidArgumentError extends CaseBridgeError {
  constructor(message: string, violations: FieldViolation[] = []) {
    super(ErrorCode.ERROR_CODE_INVALID_ARGUMENT, message, violations);
  }
}

/** The thing asked for does not exist (or the caller may not know it exists). */
export class NotFoundError extends CaseBridgeError {
  constructor(message: string) {
    super(ErrorCode.ERROR_CODE_NOT_FOUND, message);
  }
}

/** The thing to create exists already. */
export class AlreadyExistsError extends CaseBridgeError {
  constructor(message: string) {
    super(ErrorCode.ERROR_CODE_ALREADY_EXISTS, message);
  }
}

/** The request is valid but the state of the case does not allow it now. */
export class FailedPreconditionError extends CaseBridgeError {
  constructor(message: string) {
    super(ErrorCode.ERROR_CODE_FAILED_PRECONDITION, message);
  }
}

/** The caller is known but its role or agency does not allow this. */
export class PermissionDeniedError extends CaseBridgeError {
  constructor(message: string) {
    super(ErrorCode.ERROR_CODE_PERMISSION_DENIED, message);
  }
}

/** The caller could not be identified. */
export class UnauthenticatedError extends CaseBridgeError {
  constructor(message: string) {
    super(ErrorCode.ERROR_CODE_UNAUTHENTICATED, message);
  }
}

/** A dependency (NATS, MongoDB, another service) cannot be reached; retrying later may work. */
export class UnavailableError extends CaseBridgeError {
  constructor(message: string, options?: ErrorOptions) {
    super(ErrorCode.ERROR_CODE_UNAVAILABLE, message, [], options);
  }
}

/** The caller has sent too many requests; try again later. */
export class ResourceExhaustedError extends CaseBridgeError {
  constructor(message: string) {
    super(ErrorCode.ERROR_CODE_RESOURCE_EXHAUSTED, message);
  }
}

/** The call did not complete in the time it was given. */
export class DeadlineExceededError extends CaseBridgeError {
  constructor(message: string) {
    super(ErrorCode.ERROR_CODE_DEADLINE_EXCEEDED, message);
  }
}

/** A compare-and-set kept losing to concurrent writers of the same record; nothing was changed. */
export class ConflictError extends CaseBridgeError {
  constructor(message: string) {
    super(ErrorCode.ERROR_CODE_ABORTED, message);
  }
}

interface CodeMapping {
  code: ErrorCode;
  grpc: GrpcStatus;
  http: number;
  /** The name carried in NATS headers and problem bodies. */
  name: string;
}

/** The one table that maps platform error codes to gRPC status, HTTP status and wire names. */
const CODE_TABLE: readonly CodeMapping[] = [
  { code: ErrorCode.ERROR_CODE_INVALID_ARGUMENT, grpc: GrpcStatus.INVALID_ARGUMENT, http: 400, name: "INVALID_ARGUMENT" },
  { code: ErrorCode.ERROR_CODE_NOT_FOUND, grpc: GrpcStatus.NOT_FOUND, http: 404, name: "NOT_FOUND" },
  { code: ErrorCode.ERROR_CODE_ALREADY_EXISTS, grpc: GrpcStatus.ALREADY_EXISTS, http: 409, name: "ALREADY_EXISTS" },
  { code: ErrorCode.ERROR_CODE_FAILED_PRECONDITION, grpc: GrpcStatus.FAILED_PRECONDITION, http: 409, name: "FAILED_PRECONDITION" },
  { code: ErrorCode.ERROR_CODE_PERMISSION_DENIED, grpc: GrpcStatus.PERMISSION_DENIED, http: 403, name: "PERMISSION_DENIED" },
  { code: ErrorCode.ERROR_CODE_UNAUTHENTICATED, grpc: GrpcStatus.UNAUTHENTICATED, http: 401, name: "UNAUTHENTICATED" },
  { code: ErrorCode.ERROR_CODE_UNAVAILABLE, grpc: GrpcStatus.UNAVAILABLE, http: 503, name: "UNAVAILABLE" },
  { code: ErrorCode.ERROR_CODE_DEADLINE_EXCEEDED, grpc: GrpcStatus.DEADLINE_EXCEEDED, http: 504, name: "DEADLINE_EXCEEDED" },
  { code: ErrorCode.ERROR_CODE_RESOURCE_EXHAUSTED, grpc: GrpcStatus.RESOURCE_EXHAUSTED, http: 429, name: "RESOURCE_EXHAUSTED" },
  { code: ErrorCode.ERROR_CODE_ABORTED, grpc: GrpcStatus.ABORTED, http: 409, name: "ABORTED" },
  { code: ErrorCode.ERROR_CODE_INTERNAL, grpc: GrpcStatus.INTERNAL, http: 500, name: "INTERNAL" },
];
const INTERNAL = CODE_TABLE[CODE_TABLE.length - 1] as CodeMapping;

function mappingOf(code: ErrorCode): CodeMapping {
  return CODE_TABLE.find((m) => m.code === code) ?? INTERNAL;
}

/** Turns anything thrown into a CaseBridgeError; unknown errors become INTERNAL without leaking their text. */
export function asCaseBridgeError(err: unknown): CaseBridgeError {
  if (err instanceof CaseBridgeError) return err;
  if (isTransientDatabaseError(err)) {
    return new CaseBridgeError(ErrorCode.ERROR_CODE_UNAVAILABLE, "the database is busy or unreachable; nothing was changed, try again", [], { cause: err });
  }
  return new CaseBridgeError(ErrorCode.ERROR_CODE_INTERNAL, "internal error", [], { cause: err });
}

/** A database error worth retrying: no connection, or a busy store (FerretDB's SQLite "database is locked"). */
function isTransientDatabaseError(err: unknown): boolean {
  const name = (err as { name?: string } | undefined)?.name ?? "";
  const message = (err as { message?: string } | undefined)?.message ?? "";
  return /^Mongo(Network|ServerSelection|NetworkTimeout)Error$/.test(name) || (name === "MongoServerError" && /database is locked|SQLITE_BUSY/.test(message));
}

/** The HTTP status for an error, for the gateway's problem+json responses. */
export function httpStatusOf(err: CaseBridgeError): number {
  return mappingOf(err.code).http;
}

/** The wire name of an error code, e.g. "INVALID_ARGUMENT". */
export function errorCodeName(code: ErrorCode): string {
  return mappingOf(code).name;
}

const VIOLATIONS_KEY = "cb-violations-bin";

/** Encodes an error as a grpc-js status object (code, message, violations in binary metadata). */
export function toGrpcError(err: unknown): Partial<ServiceError> {
  const e = asCaseBridgeError(err);
  const metadata = new Metadata();
  if (e.violations.length > 0) metadata.set(VIOLATIONS_KEY, Buffer.from(JSON.stringify(e.violations)));
  return { code: mappingOf(e.code).grpc, details: e.message, metadata };
}

/** Decodes a grpc-js client error into the platform error it stands for. */
export function fromGrpcError(err: ServiceError): CaseBridgeError {
  const mapping = CODE_TABLE.find((m) => m.grpc === err.code);
  const raw = err.metadata?.get(VIOLATIONS_KEY)[0];
  const violations = raw instanceof Buffer ? (JSON.parse(raw.toString()) as FieldViolation[]) : [];
  if (!mapping) return new UnavailableError(err.details || err.message, { cause: err });
  return new CaseBridgeError(mapping.code, err.details || err.message, violations, { cause: err });
}

/** Header names of an error reply on NATS request/reply. */
export const NATS_ERROR_HEADERS = {
  code: "Cb-Error-Code",
  message: "Cb-Error-Message",
  violations: "Cb-Error-Violations",
} as const;

/** Encodes an error as the header values of a NATS error reply. */
export function toNatsErrorHeaders(err: unknown): Record<string, string> {
  const e = asCaseBridgeError(err);
  const headers: Record<string, string> = {
    [NATS_ERROR_HEADERS.code]: mappingOf(e.code).name,
    [NATS_ERROR_HEADERS.message]: e.message,
  };
  if (e.violations.length > 0) headers[NATS_ERROR_HEADERS.violations] = JSON.stringify(e.violations);
  return headers;
}

/** Decodes the headers of a NATS reply into an error, or undefined when the reply is a success. */
export function fromNatsErrorHeaders(get: (name: string) => string): CaseBridgeError | undefined {
  const name = get(NATS_ERROR_HEADERS.code);
  if (!name) return undefined;
  const mapping = CODE_TABLE.find((m) => m.name === name) ?? INTERNAL;
  const rawViolations = get(NATS_ERROR_HEADERS.violations);
  const violations = rawViolations ? (JSON.parse(rawViolations) as FieldViolation[]) : [];
  return new CaseBridgeError(mapping.code, get(NATS_ERROR_HEADERS.message), violations);
}
