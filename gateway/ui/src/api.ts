/** A problem+json answer of the API, thrown by the helpers below. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly problem: { title?: string; /** Stable error code (INVALID_ARGUMENT, PAYLOAD_TOO_LARGE, …), for a translated message. */ code?: string; detail?: string; violations?: Array<{ field: string; description: string }> },
  ) {
    super(problem.detail ?? `HTTP ${status}`);
  }
}

/** Calls the gateway's REST API with the session cookie; throws ApiError on a problem answer. */
export async function api<T = unknown>(path: string, init: { method?: string; body?: unknown } = {}): Promise<T> {
  const res = await fetch(path, {
    method: init.method ?? "GET",
    credentials: "same-origin",
    headers: init.body === undefined ? {} : { "content-type": "application/json" },
    body: init.body === undefined ? undefined : JSON.stringify(init.body),
  });
  const text = await res.text();
  const json: unknown = text ? JSON.parse(text) : {};
  if (!res.ok) throw new ApiError(res.status, json as ApiError["problem"]);
  return json as T;
}

/** Uploads a file as the request body, reporting progress (0..1); XHR because fetch cannot report upload progress. */
export function upload(path: string, file: File, onProgress: (fraction: number) => void): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open("POST", path);
    xhr.setRequestHeader("content-type", file.type || "application/octet-stream");
    xhr.upload.onprogress = (event) => event.lengthComputable && onProgress(event.loaded / event.total);
    xhr.onload = () => {
      const json: unknown = xhr.responseText ? JSON.parse(xhr.responseText) : {};
      if (xhr.status >= 200 && xhr.status < 300) resolve(json);
      else reject(new ApiError(xhr.status, json as ApiError["problem"]));
    };
    xhr.onerror = () => reject(new ApiError(0, { detail: "network error" }));
    xhr.send(file);
  });
}

/** Base64 of a UTF-8 text, for DocumentInput.content. */
export function base64Text(text: string): string {
  const bytes = new TextEncoder().encode(text);
  let binary = "";
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return btoa(binary);
}
