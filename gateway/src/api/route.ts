import type { Response } from "express";
import type { CallOptions, SealAgency } from "@casebridge/kit";
import type { Access, Principal } from "../auth/access";
import type { AgencyClients } from "./agency-clients";
import type { JsonSchema } from "./proto-schema";

/** A request after authentication, authorization and validation. */
export interface RouteInput {
  readonly params: Record<string, string>;
  readonly query: Record<string, unknown>;
  readonly body: unknown;
  /** The raw body of an upload route, and its media type. */
  readonly upload?: { readonly bytes: Buffer; readonly mediaType: string };
}

/** What a handler may use: the caller, their agency's service clients, and call options that carry their token. */
export interface RouteContext {
  readonly principal: Principal;
  /** The caller's agency (routes granted to agency roles only reach handlers with one). */
  readonly agency: SealAgency;
  readonly services: AgencyClients;
  /** Any agency's clients: only for platform routes that look across agencies (their grants are the platform's). */
  readonly clientsOf: (agency: SealAgency) => AgencyClients;
  readonly call: CallOptions;
}

/** A binary response (a document's bytes). */
export interface BinaryResult {
  readonly binary: Buffer;
  readonly mediaType: string;
  readonly filename: string;
}

/**
 * One REST route: what it does, who may call it, the schemas of its input and output (from which
 * the OpenAPI document and the request validation are both made), and its handler.
 */
export interface Route {
  readonly method: "get" | "post";
  /** OpenAPI path, e.g. /api/v1/transfers/{transferId}. */
  readonly path: string;
  readonly operationId: string;
  readonly summary: string;
  readonly tag: string;
  readonly access: Access;
  readonly params?: Readonly<Record<string, JsonSchema>>;
  readonly query?: Readonly<Record<string, JsonSchema>>;
  /** A JSON body, or a raw upload of at most maxBytes. */
  /** The request body: JSON (`optional`: a request without a body counts as `{}`) or an upload of raw bytes. */
  readonly body?: { readonly json: JsonSchema; readonly optional?: boolean } | { readonly upload: { readonly maxBytes: number } };
  /** Success status and the schema of the JSON answer; `binary` for bytes, `events` for a server-sent event stream. */
  readonly response: { readonly status: 200 | 201; readonly json: JsonSchema } | "binary" | "events";
  /** Returns the JSON answer or a BinaryResult; an `events` route writes to `res` itself until the client leaves. */
  readonly handle: (input: RouteInput, ctx: RouteContext, res: Response) => Promise<unknown>;
}
