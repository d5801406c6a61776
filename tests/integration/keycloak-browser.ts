import { randomUUID } from "node:crypto";
import { infra } from "./support";

/** The Keycloak admin API of the test realm (the bootstrap admin of infra/up.sh). */
export const keycloakAdmin = {
  async token(): Promise<string> {
    const res = await fetch(`${infra.keycloakUrl}/realms/master/protocol/openid-connect/token`, {
      method: "POST",
      body: new URLSearchParams({ grant_type: "password", client_id: "admin-cli", username: process.env.KEYCLOAK_ADMIN ?? "admin", password: process.env.KEYCLOAK_ADMIN_PASSWORD ?? "admin" }),
    });
    if (!res.ok) throw new Error(`Keycloak admin login: ${res.status}`);
    return ((await res.json()) as { access_token: string }).access_token;
  },

  /** Calls the admin API of the casebridge realm. */
  async call(method: string, path: string, body?: unknown): Promise<Response> {
    const res = await fetch(`${infra.keycloakUrl}/admin/realms/casebridge${path}`, {
      method,
      headers: { authorization: `Bearer ${await this.token()}`, ...(body === undefined ? {} : { "content-type": "application/json" }) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    if (!res.ok) throw new Error(`Keycloak admin ${method} ${path}: ${res.status} ${await res.text()}`);
    return res;
  },

  /** A new user of the realm (a police officer of 杨舍 station without roles beyond the defaults), with a password. */
  async createUser(): Promise<{ id: string; username: string; password: string }> {
    const username = `it-${randomUUID().slice(0, 8)}`;
    const password = randomUUID();
    const res = await this.call("POST", "/users", { username, enabled: true, firstName: "Test", lastName: "User", email: `${username}@example.org`, emailVerified: true, attributes: { agency: ["police"], unit: ["320582-PSB-YANGSHE"] }, credentials: [{ type: "password", value: password, temporary: false }] });
    return { id: res.headers.get("location")!.split("/").pop()!, username, password };
  },

  async deleteUser(id: string): Promise<void> {
    await this.call("DELETE", `/users/${id}`);
  },

  /** The id of a user. */
  async userId(username: string): Promise<string> {
    const users = (await (await this.call("GET", `/users?username=${encodeURIComponent(username)}&exact=true`)).json()) as { id: string }[];
    return users[0]!.id;
  },

  /**
   * Lets a gateway under test at `base` (a random port) use the gateway client: its login callback,
   * its return after logout, and its back-channel logout URL. Resolves to a function that restores the client.
   */
  async registerGateway(base: string, clientId = "casebridge-gateway"): Promise<() => Promise<void>> {
    const [client] = (await (await this.call("GET", `/clients?clientId=${encodeURIComponent(clientId)}`)).json()) as { id: string; redirectUris: string[]; attributes: Record<string, string> }[];
    await this.call("PUT", `/clients/${client!.id}`, {
      ...client,
      redirectUris: [...client!.redirectUris, `${base}/*`],
      attributes: { ...client!.attributes, "post.logout.redirect.uris": `${client!.attributes["post.logout.redirect.uris"]}##${base}/*`, "backchannel.logout.url": `${base}/backchannel-logout` },
    });
    return async () => void (await this.call("PUT", `/clients/${client!.id}`, client));
  },
};

/** A cookie jar of one simulated browser (name → value). */
export class CookieJar {
  private readonly cookies = new Map<string, string>();

  /** Keeps the cookies an answer sets (a cleared cookie is dropped). */
  take(res: Response): void {
    for (const line of res.headers.getSetCookie()) {
      const [pair] = line.split(";");
      const at = pair!.indexOf("=");
      const name = pair!.slice(0, at).trim();
      const value = pair!.slice(at + 1).trim();
      if (value === "" || /expires=Thu, 01 Jan 1970/i.test(line)) this.cookies.delete(name);
      else this.cookies.set(name, value);
    }
  }

  get(name: string): string | undefined {
    return this.cookies.get(name);
  }

  set(name: string, value: string): void {
    this.cookies.set(name, value);
  }

  header(): string {
    return [...this.cookies].map(([name, value]) => `${name}=${value}`).join("; ");
  }
}

/**
 * Signs `username` in to the gateway at `base` the way a browser does, without one: /login, Keycloak's
 * login form, back to /login/callback. `tamper` may change Keycloak's login URL before it is opened
 * (e.g. another nonce). Resolves to the gateway's cookies and the callback's answer.
 */
export async function browserLogin(base: string, username: string, password = "demo", tamper?: (url: URL) => void): Promise<{ gateway: CookieJar; callback: Response }> {
  const gateway = new CookieJar();
  const keycloak = new CookieJar();
  const get = async (url: string, jar: CookieJar, init: RequestInit = {}) => {
    const res = await fetch(url, { redirect: "manual", ...init, headers: { ...(init.headers as Record<string, string>), cookie: jar.header() } });
    jar.take(res);
    return res;
  };
  const start = await get(`${base}/login`, gateway);
  await start.arrayBuffer();
  const authUrl = new URL(start.headers.get("location")!);
  tamper?.(authUrl);
  const page = await get(authUrl.toString(), keycloak);
  const html = await page.text();
  const action = /<form[^>]*id="kc-form-login"[^>]*action="([^"]+)"/.exec(html)?.[1] ?? /action="([^"]+)"/.exec(html)?.[1];
  if (!action) throw new Error(`no login form on Keycloak's page (${page.status})`);
  const posted = await get(action.replace(/&amp;/g, "&"), keycloak, { method: "POST", headers: { "content-type": "application/x-www-form-urlencoded" }, body: new URLSearchParams({ username, password, credentialId: "" }).toString() });
  await posted.arrayBuffer();
  const back = posted.headers.get("location");
  if (posted.status !== 302 || !back?.startsWith(`${base}/login/callback`)) throw new Error(`Keycloak did not send the browser back (${posted.status} ${back})`);
  const callback = await get(back, gateway);
  await callback.arrayBuffer();
  return { gateway, callback };
}
