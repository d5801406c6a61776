import { InvalidArgumentError } from "../errors";
import type { ViewCollection } from "./view-collection";

function encodePageToken(updatedAt: Date, id: string): string {
  return Buffer.from(JSON.stringify([updatedAt.toISOString(), id])).toString("base64url");
}

function decodePageToken(token: string): { updatedAt: Date; id: string } {
  try {
    const [at, id] = JSON.parse(Buffer.from(token, "base64url").toString("utf8")) as [string, string];
    const updatedAt = new Date(at);
    if (Number.isNaN(updatedAt.getTime()) || typeof id !== "string") throw new Error("bad token");
    return { updatedAt, id };
  } catch {
    throw new InvalidArgumentError("invalid page token", [{ field: "page_token", description: "use the next_page_token of the previous page" }]);
  }
}

/** One page of a view's rows matching `filter`, newest `updatedAt` first, and the token of the next page. */
export async function newestFirst(view: ViewCollection, filter: Record<string, unknown>, requestedSize: number, pageToken: string): Promise<{ values: Uint8Array[]; nextPageToken: string }> {
  return pageByUpdate(view, filter, requestedSize, pageToken, "desc");
}

/** One page of a view's rows matching `filter`, ordered by `updatedAt` (then id) either way, and the token of the next page. */
export async function pageByUpdate(view: ViewCollection, filter: Record<string, unknown>, requestedSize: number, pageToken: string, order: "asc" | "desc"): Promise<{ values: Uint8Array[]; nextPageToken: string }> {
  const pageSize = requestedSize === 0 ? 50 : requestedSize;
  if (pageSize > 200) throw new InvalidArgumentError("invalid page size", [{ field: "page_size", description: "must be 1..200" }]);
  const query = { ...filter };
  const beyond = order === "desc" ? "$lt" : "$gt";
  if (pageToken) {
    const after = decodePageToken(pageToken);
    query.$or = [{ updatedAt: { [beyond]: after.updatedAt } }, { updatedAt: after.updatedAt, _id: { [beyond]: after.id } }];
  }
  const direction = order === "desc" ? -1 : 1;
  const found = await view.find(query, { updatedAt: direction, _id: direction }, pageSize + 1);
  const page = found.slice(0, pageSize);
  const last = page.at(-1);
  return {
    values: page.map((row) => row.pb),
    nextPageToken: found.length > pageSize && last ? encodePageToken(last.fields.updatedAt as Date, last.id) : "",
  };
}
