import type { ErrorRequestHandler } from "express";
import { asCaseBridgeError, errorCodeName, httpStatusOf, type Logger } from "@casebridge/kit";

/** The one place where errors become HTTP responses: RFC 9457 problem+json with the platform error code. */
export function problemHandler(logger: Logger): ErrorRequestHandler {
  return (err: unknown, req, res, _next) => {
    const e = asCaseBridgeError(err);
    const status = httpStatusOf(e);
    if (status >= 500) logger.error({ err: e.cause ?? e, path: req.path }, "request failed");
    res
      .status(status)
      .type("application/problem+json")
      .json({ type: "about:blank", title: errorCodeName(e.code), status, detail: e.message, instance: req.originalUrl, violations: e.violations });
  };
}
