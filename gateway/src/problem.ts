import { maxHeaderSize, STATUS_CODES, type Server } from "node:http";
import type { Duplex } from "node:stream";
import type { ErrorRequestHandler, Response } from "express";
import { asCaseBridgeError, errorCodeName, httpStatusOf, type FieldViolation, type Logger } from "@casebridge/kit";

/**
 * The codes of problems that HTTP itself raises before any service is asked; the others are the
 * platform's error codes (INVALID_ARGUMENT, NOT_FOUND, PERMISSION_DENIED, …, kit errors.ts).
 */
export const HTTP_PROBLEM_CODES = ["METHOD_NOT_ALLOWED", "REQUEST_TIMEOUT", "PAYLOAD_TOO_LARGE", "UNSUPPORTED_MEDIA_TYPE", "HEADERS_TOO_LARGE", "BAD_REQUEST"] as const;

/** The body of an RFC 9457 problem answer; `code` is stable (the UI translates it), `title` repeats it for older clients. */
function problemBody(status: number, code: string, detail: string, instance?: string, violations: FieldViolation[] = []): Record<string, unknown> {
  return { type: "about:blank", title: code, status, code, detail, ...(instance !== undefined ? { instance } : {}), ...(violations.length > 0 ? { violations } : {}) };
}

/** Writes an RFC 9457 problem+json answer with its stable `code`. */
export function sendProblem(res: Response, status: number, code: string, detail: string, instance: string, violations: FieldViolation[] = []): void {
  res.status(status).type("application/problem+json").json(problemBody(status, code, detail, instance, violations));
}

/** Errors of the body parsers (too large, malformed JSON, unknown charset) carry their own 4xx status. */
function parserProblem(err: unknown): { status: number; code: string; detail: string } | undefined {
  const e = err as { status?: number; type?: string; message?: string; expose?: boolean; limit?: number };
  if (typeof e.status !== "number" || e.status < 400 || e.status >= 500 || !e.expose) return undefined;
  const codes: Record<number, string> = { 400: "INVALID_ARGUMENT", 413: "PAYLOAD_TOO_LARGE", 415: "UNSUPPORTED_MEDIA_TYPE" };
  const detail = e.type === "entity.parse.failed" ? "the body is not valid JSON" : e.type === "entity.too.large" ? `the body is larger than the ${e.limit} bytes allowed` : (e.message ?? "bad request");
  return { status: e.status, code: codes[e.status] ?? "BAD_REQUEST", detail };
}

/**
 * Answers what Node's HTTP parser refuses before Express sees a request, with problem+json instead
 * of Node's bare status line: header fields over `maxHeaderSize` (431 HEADERS_TOO_LARGE), a request
 * too slow to arrive (408 REQUEST_TIMEOUT), anything else that is not HTTP/1.1 (400 BAD_REQUEST).
 */
export function answerClientErrors(server: Server): void {
  server.on("clientError", (err: NodeJS.ErrnoException, socket: Duplex) => {
    // As Node itself: never write into a connection that is gone or already carries an answer.
    const inFlight = (socket as Duplex & { _httpMessage?: { headersSent?: boolean } })._httpMessage;
    if (err.code === "ECONNRESET" || !socket.writable || inFlight?.headersSent) return socket.destroy();
    const [status, code, detail] =
      err.code === "HPE_HEADER_OVERFLOW"
        ? [431, "HEADERS_TOO_LARGE", `the request's header fields are larger than the ${maxHeaderSize} bytes allowed`]
        : err.code === "ERR_HTTP_REQUEST_TIMEOUT"
          ? [408, "REQUEST_TIMEOUT", "the request did not arrive in time"]
          : [400, "BAD_REQUEST", "the request is not valid HTTP/1.1"];
    const body = JSON.stringify(problemBody(status, code, detail));
    socket.end(`HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nContent-Type: application/problem+json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
  });
}

/** The one place where errors become HTTP responses: RFC 9457 problem+json with the platform error code. */
export function problemHandler(logger: Logger): ErrorRequestHandler {
  return (err: unknown, req, res, _next) => {
    const parser = parserProblem(err);
    if (parser) return sendProblem(res, parser.status, parser.code, parser.detail, req.originalUrl);
    // Express decodes path parameters; a malformed percent-encoding (e.g. %FF) is the caller's error.
    if (err instanceof URIError) return sendProblem(res, 400, "INVALID_ARGUMENT", "the path is not valid percent-encoded UTF-8", req.originalUrl);
    const e = asCaseBridgeError(err);
    const status = httpStatusOf(e);
    if (status >= 500) logger.error({ err: e.cause ?? e, path: req.path }, "request failed");
    if (res.headersSent) return res.end();
    sendProblem(res, status, errorCodeName(e.code), e.message, req.originalUrl, e.violations);
  };
}
