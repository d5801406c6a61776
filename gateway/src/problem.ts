import type { ErrorRequestHandler, Response } from "express";
import { asCaseBridgeError, errorCodeName, httpStatusOf, type FieldViolation, type Logger } from "@casebridge/kit";

/** Writes an RFC 9457 problem+json answer. */
export function sendProblem(res: Response, status: number, title: string, detail: string, instance: string, violations: FieldViolation[] = []): void {
  res
    .status(status)
    .type("application/problem+json")
    .json({ type: "about:blank", title, status, detail, instance, ...(violations.length > 0 ? { violations } : {}) });
}

/** Errors of the body parsers (too large, malformed JSON, unknown charset) carry their own 4xx status. */
function parserProblem(err: unknown): { status: number; title: string; detail: string } | undefined {
  const e = err as { status?: number; type?: string; message?: string; expose?: boolean };
  if (typeof e.status !== "number" || e.status < 400 || e.status >= 500 || !e.expose) return undefined;
  const titles: Record<number, string> = { 400: "INVALID_ARGUMENT", 413: "PAYLOAD_TOO_LARGE", 415: "UNSUPPORTED_MEDIA_TYPE" };
  return { status: e.status, title: titles[e.status] ?? "BAD_REQUEST", detail: e.type === "entity.parse.failed" ? "the body is not valid JSON" : (e.message ?? "bad request") };
}

/** The one place where errors become HTTP responses: RFC 9457 problem+json with the platform error code. */
export function problemHandler(logger: Logger): ErrorRequestHandler {
  return (err: unknown, req, res, _next) => {
    const parser = parserProblem(err);
    if (parser) return sendProblem(res, parser.status, parser.title, parser.detail, req.originalUrl);
    // Express decodes path parameters; a malformed percent-encoding (e.g. %FF) is the caller's error.
    if (err instanceof URIError) return sendProblem(res, 400, "INVALID_ARGUMENT", "the path is not valid percent-encoded UTF-8", req.originalUrl);
    const e = asCaseBridgeError(err);
    const status = httpStatusOf(e);
    if (status >= 500) logger.error({ err: e.cause ?? e, path: req.path }, "request failed");
    if (res.headersSent) return res.end();
    sendProblem(res, status, errorCodeName(e.code), e.message, req.originalUrl, e.violations);
  };
}
