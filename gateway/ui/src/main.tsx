import { render } from "preact";
import { useEffect, useState } from "preact/hooks";
import { api, ApiError, base64Text, upload } from "./api";
import { initialLang, texts, type Lang, type TextKey } from "./i18n";

type Json = any;
type T = ReturnType<typeof texts>;

interface Me {
  user: string;
  name: string;
  roles: string[];
  agency?: string;
  unitName?: string;
}

type View = { kind: "tab"; tab: Tab } | { kind: "transfer"; id: string; back: Tab } | { kind: "timeline"; caseId: string; back: Tab };
type Tab = "approvals" | "newCase" | "sent" | "inbox" | "alerts" | "deadlines" | "audit" | "incidents" | "system";

const POLICE_ROLES = ["police-officer", "police-legal"];
/** Who gets statutory deadline alerts (the notification centre): police staff and unit leaders, prosecutors, judges and clerks. */
const ALERT_ROLES = [...POLICE_ROLES, "unit-leader", "prosecutor", "judge", "court-clerk"];
const SENDERS = ["police-legal", "prosecutor", "judge", "duty-lawyer", "mediator", "notary"];
const DECIDERS = ["police-legal", "prosecutor", "judge", "court-clerk", "duty-lawyer", "mediator", "notary"];
const AUDITORS = ["police-legal", "prosecutor", "judge", "duty-lawyer", "mediator", "notary"];

const has = (me: Me, roles: string[]) => roles.some((r) => me.roles.includes(r));

/** The tabs a user's roles open. */
function tabsOf(me: Me): Tab[] {
  if (me.roles.includes("platform-admin")) return ["incidents", "system"];
  const tabs: Tab[] = [];
  if (has(me, POLICE_ROLES)) tabs.push("approvals", "newCase", "sent", "alerts");
  else if (has(me, ["unit-leader"])) tabs.push("alerts");
  else if (has(me, DECIDERS)) tabs.push("inbox", "sent", ...(has(me, ALERT_ROLES) ? (["alerts"] as Tab[]) : []));
  if (tabs.length > 0) tabs.push("deadlines");
  if (has(me, AUDITORS)) tabs.push("audit");
  return tabs;
}

const TAB_LABEL: Record<Tab, TextKey> = { approvals: "approvalQueue", newCase: "newCase", sent: "sent", inbox: "inbox", alerts: "alerts", deadlines: "deadlines", audit: "audit", incidents: "incidents", system: "services" };

function App() {
  const [lang, setLang] = useState<Lang>(initialLang());
  const [me, setMe] = useState<Me | null | undefined>(undefined);
  const [view, setView] = useState<View | undefined>(undefined);
  const [tick, setTick] = useState(0);
  /** The live-update connection: undefined when this user has none (the platform administrator). */
  const [connection, setConnection] = useState<"connecting" | "live" | "offline" | undefined>(undefined);
  const [toast, setToast] = useState("");
  const tx = texts(lang);

  useEffect(() => {
    document.documentElement.lang = lang;
    localStorage.setItem("casebridge.lang", lang);
  }, [lang]);
  useEffect(() => {
    api<Me>("/api/v1/me")
      .then((who) => {
        setMe(who);
        const first = tabsOf(who)[0];
        if (first) setView({ kind: "tab", tab: first });
      })
      .catch(() => setMe(null));
  }, []);
  useEffect(() => {
    if (!me || tabsOf(me).length === 0 || me.roles.includes("platform-admin")) return;
    const events = new EventSource("/api/v1/events");
    // The indicator says what the connection is: live only while the stream is open (the browser retries by itself).
    setConnection("connecting");
    events.onopen = () => setConnection("live");
    events.onerror = () => setConnection(events.readyState === EventSource.CLOSED || !navigator.onLine ? "offline" : "connecting");
    const offline = () => setConnection("offline");
    const online = () => setConnection(events.readyState === EventSource.OPEN ? "live" : "connecting");
    window.addEventListener("offline", offline);
    window.addEventListener("online", online);
    events.addEventListener("change", (event) => {
      const change = JSON.parse((event as MessageEvent).data);
      setTick((n) => n + 1);
      setToast(change.alertId ? `${tx.t("alerts")} · ${tx.t("changed")}` : `${change.caseId ?? ""} ${change.state ? tx.label(change.state) : tx.t("changed")}`);
      setTimeout(() => setToast(""), 4000);
    });
    return () => {
      events.close();
      window.removeEventListener("offline", offline);
      window.removeEventListener("online", online);
      setConnection(undefined);
    };
  }, [me]);

  const switcher = (
    <button class="secondary" data-testid="lang-switch" onClick={() => setLang(lang === "en" ? "zh-CN" : "en")}>
      {tx.t("language")}
    </button>
  );
  if (me === undefined) return <main class="muted">…</main>;
  if (me === null) {
    return (
      <div class="landing">
        <h1>{tx.t("appName")}</h1>
        <p>{tx.t("tagline")}</p>
        <p class="muted">{tx.t("signInHint")}</p>
        <p class="row center">
          <a class="button" href="/login" data-testid="sign-in">
            {tx.t("signIn")}
          </a>
          {switcher}
        </p>
      </div>
    );
  }
  const tabs = tabsOf(me);
  const go = (next: View) => setView(next);
  return (
    <>
      <header>
        <h1>{tx.t("appName")}</h1>
        {connection && (
          <span class="live" data-testid="live" data-state={connection}>
            ● {tx.t(connection)}
          </span>
        )}
        <span class="spacer" />
        <span data-testid="who-am-i">
          {me.name} · {tx.label(me.agency ? `AGENCY_${me.agency.toUpperCase()}` : "")}{me.unitName ? ` · ${me.unitName}` : ""} · {me.roles.filter((r) => !r.startsWith("default-roles") && r !== "offline_access" && r !== "uma_authorization").map((r) => tx.label(r)).join("、")}
        </span>
        {has(me, ALERT_ROLES) && <AlertBell tx={tx} tick={tick} open={() => go({ kind: "tab", tab: "alerts" })} />}
        {switcher}
        {/* A POST (same-site only; GET /logout signs nobody out), answered by a redirect to Keycloak's end-session page. */}
        <form method="post" action="/logout" class="sign-out">
          <button type="submit" data-testid="sign-out">
            {tx.t("signOut")}
          </button>
        </form>
      </header>
      <nav>
        {tabs.map((tab) => (
          <button class={view?.kind === "tab" && view.tab === tab ? "active" : ""} data-testid={`tab-${tab}`} onClick={() => go({ kind: "tab", tab })}>
            {tx.t(TAB_LABEL[tab])}
          </button>
        ))}
      </nav>
      <main>
        {tabs.length === 0 && <p>{tx.t("noAgencyActions")}</p>}
        {view?.kind === "tab" && view.tab === "approvals" && <Cases tx={tx} me={me} tick={tick} go={go} />}
        {view?.kind === "tab" && view.tab === "newCase" && <NewCase tx={tx} done={() => go({ kind: "tab", tab: "approvals" })} />}
        {view?.kind === "tab" && (view.tab === "sent" || view.tab === "inbox") && <Transfers key={view.tab} tx={tx} box={view.tab === "inbox" ? "BOX_INBOX" : "BOX_OUTBOX"} tick={tick} go={go} back={view.tab} />}
        {view?.kind === "tab" && view.tab === "alerts" && <Alerts tx={tx} me={me} tick={tick} />}
        {view?.kind === "tab" && view.tab === "deadlines" && <Deadlines tx={tx} tick={tick} />}
        {view?.kind === "tab" && view.tab === "audit" && <Audit tx={tx} />}
        {view?.kind === "tab" && view.tab === "incidents" && <Incidents tx={tx} />}
        {view?.kind === "tab" && view.tab === "system" && <SystemStatus />}
        {view?.kind === "transfer" && <TransferDetail tx={tx} me={me} id={view.id} tick={tick} go={go} back={view.back} />}
        {view?.kind === "timeline" && <Timeline tx={tx} caseId={view.caseId} tick={tick} back={() => go({ kind: "tab", tab: view.back })} />}
      </main>
      {toast && (
        <div class="toast" data-testid="toast">
          {toast}
        </div>
      )}
    </>
  );
}

/** Loads `path` again whenever `tick` moves (live updates) or the path changes. */
function useApi<R = Json>(path: string, tick: number): { data: R | undefined; error: string; reload: () => void } {
  const [data, setData] = useState<R | undefined>(undefined);
  const [error, setError] = useState("");
  const [own, setOwn] = useState(0);
  useEffect(() => {
    api<R>(path)
      .then((d) => {
        setData(d);
        setError("");
      })
      .catch((e: ApiError) => setError(e.message));
  }, [path, tick, own]);
  return { data, error, reload: () => setOwn((n) => n + 1) };
}

function Problem({ error }: { error: string }) {
  return error ? (
    <p class="error" role="alert">
      {error}
    </p>
  ) : null;
}

/** Runs an action, shows its error, and reloads after it. */
function useAction(after: () => void): { busy: boolean; error: string; run: (action: () => Promise<unknown>) => void } {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState("");
  return {
    busy,
    error,
    run: (action) => {
      setBusy(true);
      setError("");
      action()
        .then(after)
        .catch((e: ApiError) => setError(e.problem?.violations?.map((v) => `${v.field}: ${v.description}`).join("; ") || e.message))
        .finally(() => setBusy(false));
    },
  };
}

function Cases({ tx, me, tick, go }: { tx: T; me: Me; tick: number; go: (v: View) => void }) {
  const pending = useApi("/api/v1/cases?approval=APPROVAL_PENDING", tick);
  const approved = useApi("/api/v1/cases?approval=APPROVAL_APPROVED", tick);
  const returned = useApi("/api/v1/cases?approval=APPROVAL_RETURNED", tick);
  const sent = useApi("/api/v1/transfers?box=BOX_OUTBOX&pageSize=200", tick);
  const action = useAction(() => {
    pending.reload();
    approved.reload();
    returned.reload();
    sent.reload();
  });
  const legal = me.roles.includes("police-legal");
  /** The legal unit's review of a case, with the opinion typed beside the buttons. */
  const review = (event: Event, caseId: string, decision: string) => {
    const button = event.currentTarget as HTMLButtonElement;
    const field = button.form!.elements.namedItem("opinion") as HTMLInputElement;
    const opinion = field.value.trim();
    // Sending back needs the reason (the API refuses it without one).
    field.setCustomValidity(decision === "REVIEW_DECISION_RETURN_TO_OFFICER" && !opinion ? tx.t("opinionRequired") : "");
    if (!field.reportValidity()) return;
    action.run(() => api(`/api/v1/cases/${encodeURIComponent(caseId)}/approval`, { method: "POST", body: { decision, opinion } }));
  };
  // A case with a transfer that was not withdrawn is not sent again: a returned one is resubmitted from its own page.
  const active = new Set((sent.data?.transfers ?? []).filter((t: Json) => t.state !== "TRANSFER_STATE_WITHDRAWN").map((t: Json) => t.case?.caseId));
  const row = (file: Json, actionButton: preact.ComponentChild) => (
    <tr data-testid={`case-${file.case.caseId}`}>
      <td>
        <a href="#" onClick={(e) => (e.preventDefault(), go({ kind: "timeline", caseId: file.case.caseId, back: "approvals" }))}>
          {file.case.caseNumber}
        </a>
      </td>
      <td>
        {file.case.offence}
        {file.case.issuer?.name && <div class="muted">{file.case.issuer.name}</div>}
      </td>
      <td>{file.case.fastTrack ? tx.t("fastTrack") : ""}</td>
      <td>{(file.documents ?? []).length}</td>
      <td>{actionButton}</td>
    </tr>
  );
  return (
    <>
      <section>
        <h2>{tx.t("approvalQueue")}</h2>
        <Problem error={pending.error || action.error} />
        <table data-testid="approval-queue">
          <tbody>
            {(pending.data?.caseFiles ?? []).map((file: Json) =>
              row(
                file,
                legal && (
                  <form class="row" onSubmit={(e) => e.preventDefault()}>
                    <input type="text" name="opinion" maxLength={2000} placeholder={tx.t("opinion")} aria-label={tx.t("opinion")} data-testid={`opinion-${file.case.caseId}`} />
                    <button class="primary" type="button" disabled={action.busy} data-testid={`approve-${file.case.caseId}`} onClick={(e) => review(e, file.case.caseId, "REVIEW_DECISION_APPROVE")}>
                      {tx.t("approve")}
                    </button>
                    <button class="secondary" type="button" disabled={action.busy} data-testid={`return-to-officer-${file.case.caseId}`} onClick={(e) => review(e, file.case.caseId, "REVIEW_DECISION_RETURN_TO_OFFICER")}>
                      {tx.t("returnToOfficer")}
                    </button>
                  </form>
                ),
              ),
            )}
          </tbody>
        </table>
        {pending.data && (pending.data.caseFiles ?? []).length === 0 && <p class="muted">{tx.t("none")}</p>}
      </section>
      {(returned.data?.caseFiles ?? []).length > 0 && (
        <section>
          <h2>{tx.t("returnedCases")}</h2>
          <table data-testid="returned-cases">
            <tbody>
              {(returned.data?.caseFiles ?? []).map((file: Json) =>
                row(
                  file,
                  <span data-testid={`returned-opinion-${file.case.caseId}`}>
                    {tx.t("opinion")}: {(file.reviews ?? []).at(-1)?.opinion ?? ""} <span class="muted">({(file.reviews ?? []).at(-1)?.reviewer ?? ""})</span>
                  </span>,
                ),
              )}
            </tbody>
          </table>
        </section>
      )}
      <section>
        <h2>{tx.t("readyToSend")}</h2>
        <table>
          <tbody>
            {(approved.data?.caseFiles ?? []).map((file: Json) =>
              row(
                file,
                active.has(file.case.caseId) ? (
                  <span class="muted">
                    {tx.t("approvedBy")} {file.approvedBy}
                  </span>
                ) : (
                  legal && (
                    <button
                      class="primary"
                      disabled={action.busy}
                      data-testid={`submit-${file.case.caseId}`}
                      onClick={() => action.run(() => api("/api/v1/transfers", { method: "POST", body: { caseId: file.case.caseId, recipient: "AGENCY_PROSECUTION", purpose: "TRANSFER_PURPOSE_PROSECUTION_REVIEW" } }))}
                    >
                      {tx.t("submit")}
                    </button>
                  )
                ),
              ),
            )}
          </tbody>
        </table>
      </section>
    </>
  );
}

function NewCase({ tx, done }: { tx: T; done: () => void }) {
  const [progress, setProgress] = useState<{ name: string; fraction: number } | undefined>(undefined);
  const [error, setError] = useState("");
  const submit = async (event: Event) => {
    event.preventDefault();
    const form = new FormData(event.target as HTMLFormElement);
    const caseNumber = String(form.get("caseNumber"));
    const caseId = `case-${caseNumber.replace(/[^A-Za-z0-9-]/g, "")}-${Date.now().toString(36)}`;
    const files = (form.getAll("files") as File[]).filter((f) => f.size > 0);
    try {
      await api("/api/v1/cases", {
        method: "POST",
        body: {
          case: {
            caseId,
            caseNumber,
            kind: "CASE_KIND_CRIMINAL",
            offence: String(form.get("offence")),
            summary: String(form.get("summary")),
            fastTrack: form.get("fastTrack") === "on",
            parties: [{ partyId: "s1", role: "PARTY_ROLE_SUSPECT", name: String(form.get("suspect")) }],
          },
          documents: [],
        },
      });
      for (const [i, file] of files.entries()) {
        const query = new URLSearchParams({ documentId: `doc-${i + 1}`, title: file.name, documentType: "evidence" });
        await upload(`/api/v1/cases/${encodeURIComponent(caseId)}/documents?${query}`, file, (fraction) => setProgress({ name: file.name, fraction }));
      }
      setProgress(undefined);
      done();
    } catch (e) {
      setError((e as ApiError).problem?.violations?.map((v) => `${v.field}: ${v.description}`).join("; ") || (e as Error).message);
    }
  };
  return (
    <section>
      <h2>{tx.t("newCase")}</h2>
      <form class="grid" onSubmit={submit} data-testid="new-case">
        <label>{tx.t("caseNumber")}</label>
        <input type="text" name="caseNumber" required />
        <label>{tx.t("offence")}</label>
        <input type="text" name="offence" required />
        <label>{tx.t("summary")}</label>
        <textarea name="summary" />
        <label>{tx.t("suspect")}</label>
        <input type="text" name="suspect" required />
        <label>{tx.t("fastTrack")}</label>
        <input type="checkbox" name="fastTrack" />
        <label>{tx.t("documents")}</label>
        <input type="file" name="files" multiple />
        <span />
        <span class="row">
          <button class="primary" type="submit">
            {tx.t("open")}
          </button>
          {progress && (
            <span data-testid="upload-progress">
              {tx.t("uploading")} {progress.name} <progress max={1} value={progress.fraction} /> {Math.round(progress.fraction * 100)}%
            </span>
          )}
        </span>
      </form>
      <Problem error={error} />
    </section>
  );
}

function StateBadge({ tx, state }: { tx: T; state: string }) {
  return (
    <span class={`state ${state}`} data-state={state}>
      {tx.label(state)}
    </span>
  );
}

function Transfers({ tx, box, tick, go, back }: { tx: T; box: string; tick: number; go: (v: View) => void; back: Tab }) {
  const list = useApi(`/api/v1/transfers?box=${box}&pageSize=100`, tick);
  return (
    <section>
      <h2>{tx.t(box === "BOX_INBOX" ? "inbox" : "sent")}</h2>
      <Problem error={list.error} />
      <table data-testid={`transfers-${box}`}>
        <thead>
          <tr>
            <th>{tx.t("caseNumber")}</th>
            <th>{tx.t("offence")}</th>
            <th>{tx.t(box === "BOX_INBOX" ? "from" : "to")}</th>
            <th>{tx.t("state")}</th>
            <th>{tx.t("updated")}</th>
          </tr>
        </thead>
        <tbody>
          {(list.data?.transfers ?? []).map((t: Json) => (
            <tr data-testid={`transfer-${t.case?.caseId}`}>
              <td>
                <a href="#" onClick={(e) => (e.preventDefault(), go({ kind: "transfer", id: t.transferId, back }))}>
                  {t.case?.caseNumber}
                </a>
              </td>
              <td>{t.case?.offence}</td>
              <td>{box === "BOX_INBOX" ? t.senderUnit?.name || tx.label(t.sender) : t.recipientUnit?.name || tx.label(t.recipient)}</td>
              <td>
                <StateBadge tx={tx} state={t.state} />
                {t.state === "TRANSFER_STATE_RETURNED" && (
                  <div class="muted">
                    {tx.label(t.returnReason)}: {t.returnNote}
                  </div>
                )}
              </td>
              <td>{tx.date(t.updatedAt)}</td>
            </tr>
          ))}
        </tbody>
      </table>
      {list.data && (list.data.transfers ?? []).length === 0 && <p class="muted">{tx.t("none")}</p>}
    </section>
  );
}

function sealClass(status: string | undefined): string {
  return status === "VERIFICATION_STATUS_VALID" ? "valid" : status === "VERIFICATION_STATUS_INVALID" ? "invalid" : "indeterminate";
}

function sealText(tx: T, status: string | undefined): string {
  return tx.t(status === "VERIFICATION_STATUS_VALID" ? "sealValid" : status === "VERIFICATION_STATUS_INVALID" ? "sealInvalid" : "sealIndeterminate");
}

function TransferDetail({ tx, me, id, tick, go, back }: { tx: T; me: Me; id: string; tick: number; go: (v: View) => void; back: Tab }) {
  const transfer = useApi(`/api/v1/transfers/${encodeURIComponent(id)}`, tick);
  const [reports, setReports] = useState<Record<string, Json>>({});
  const [open, setOpen] = useState<Json | undefined>(undefined);
  const [verifying, setVerifying] = useState<{ done: number; total: number } | undefined>(undefined);
  const action = useAction(() => transfer.reload());
  const t = transfer.data;
  if (!t) return <Problem error={transfer.error} />;
  const inbox = t.recipient === `AGENCY_${me.agency?.toUpperCase()}`;
  const documents: Json[] = t.bundle?.documents ?? [];
  const arrival = (documentId: string) => (t.verification?.documents ?? []).find((d: Json) => d.documentId === documentId);
  const report = (documentId: string) => reports[documentId] ?? (arrival(documentId) && { verification: arrival(documentId).seal ?? arrival(documentId) });
  const showReport = async (documentId: string) => {
    const fresh = await api(`/api/v1/transfers/${encodeURIComponent(id)}/documents/${encodeURIComponent(documentId)}`);
    setReports((r) => ({ ...r, [documentId]: fresh }));
    setOpen(fresh);
  };
  const verifyAll = async () => {
    setVerifying({ done: 0, total: documents.length });
    for (const [i, document] of documents.entries()) {
      const fresh = await api(`/api/v1/transfers/${encodeURIComponent(id)}/documents/${encodeURIComponent(document.ref.documentId)}`);
      setReports((r) => ({ ...r, [document.ref.documentId]: fresh }));
      setVerifying({ done: i + 1, total: documents.length });
    }
    setTimeout(() => setVerifying(undefined), 1500);
  };
  const post = (path: string, body?: unknown) => action.run(() => api(`/api/v1/transfers/${encodeURIComponent(id)}/${path}`, { method: "POST", body }));
  const form = (event: Event) => new FormData(event.target as HTMLFormElement);
  return (
    <>
      <section>
        <p>
          <button class="secondary" onClick={() => go({ kind: "tab", tab: back })}>
            ← {tx.t("back")}
          </button>
        </p>
        <h2>
          {t.case?.caseNumber} · {t.case?.offence} <StateBadge tx={tx} state={t.state} />
        </h2>
        <p class="muted">
          {t.senderUnit?.name || tx.label(t.sender)} → {t.recipientUnit?.name || tx.label(t.recipient)} · {tx.date(t.updatedAt)} ·{" "}
          <a href="#" data-testid="open-timeline" onClick={(e) => (e.preventDefault(), go({ kind: "timeline", caseId: t.case?.caseId, back }))}>
            {tx.t("timeline")}
          </a>{" "}
          ·{" "}
          <a href={`/api/v1/transfers/${encodeURIComponent(id)}/evidence`} data-testid="evidence-package" title={tx.t("evidencePackageHint")}>
            {tx.t("evidencePackage")}
          </a>
        </p>
        {t.state === "TRANSFER_STATE_RETURNED" && (
          <p class="error">
            {tx.t("returned")}: {tx.label(t.returnReason)} — {t.returnNote}
          </p>
        )}
        <p>{t.case?.summary}</p>
      </section>
      <section>
        <h2>{tx.t("documents")}</h2>
        <table data-testid="documents">
          <tbody>
            {documents.map((d) => {
              const r = report(d.ref.documentId);
              const status = r?.verification?.status;
              return (
                <tr>
                  <td>{d.ref.title}</td>
                  <td class="muted">{d.ref.documentType}</td>
                  <td class="muted">{d.ref.sizeBytes} B</td>
                  <td>
                    <button class={`badge ${sealClass(status)}`} data-testid={`seal-${d.ref.documentId}`} data-status={status ?? "unknown"} onClick={() => void showReport(d.ref.documentId)}>
                      {sealText(tx, status)}
                    </button>
                  </td>
                  <td>
                    <a href={`/api/v1/transfers/${encodeURIComponent(id)}/documents/${encodeURIComponent(d.ref.documentId)}/content`}>{tx.t("download")}</a>
                  </td>
                </tr>
              );
            })}
          </tbody>
        </table>
        <p class="row">
          <button class="secondary" data-testid="verify-all" disabled={verifying !== undefined} onClick={() => void verifyAll()}>
            {tx.t("verifyAgain")}
          </button>
          {verifying && (
            <span data-testid="verify-progress">
              {tx.t("verifying")} <progress max={verifying.total} value={verifying.done} /> {verifying.done}/{verifying.total}
            </span>
          )}
        </p>
      </section>
      <section>
        <Problem error={action.error} />
        {inbox && t.state === "TRANSFER_STATE_RECEIVED" && has(me, DECIDERS) && (
          <div class="row">
            <button class="primary" data-testid="accept" disabled={action.busy} onClick={() => post("acceptance")}>
              {tx.t("accept")}
            </button>
            <form class="row" onSubmit={(e) => (e.preventDefault(), post("return", { reason: form(e).get("reason"), note: form(e).get("note") }))}>
              <select name="reason" data-testid="return-reason">
                {["RETURN_REASON_SUPPLEMENTARY_INVESTIGATION", "RETURN_REASON_INCOMPLETE_BUNDLE", "RETURN_REASON_NOT_COMPETENT", "RETURN_REASON_OTHER"].map((r) => (
                  <option value={r}>{tx.label(r)}</option>
                ))}
              </select>
              <input type="text" name="note" placeholder={tx.t("note")} required />
              <button class="secondary" type="submit" data-testid="return" disabled={action.busy}>
                {tx.t("returnIt")}
              </button>
            </form>
          </div>
        )}
        {inbox && t.state === "TRANSFER_STATE_ACCEPTED" && t.purpose === "TRANSFER_PURPOSE_PROSECUTION_REVIEW" && t.concludedBy === "indicted" && (
          <p data-testid="concluded">{tx.label("ACTION_indicted")}</p>
        )}
        {inbox && t.state === "TRANSFER_STATE_ACCEPTED" && t.purpose === "TRANSFER_PURPOSE_PROSECUTION_REVIEW" && !t.concludedBy && me.roles.includes("prosecutor") && (
          <form onSubmit={(e) => (e.preventDefault(), post("indictment", { indictment: { documentId: "indictment-1", title: tx.t("indictment"), documentType: "indictment", mediaType: "text/plain; charset=utf-8", content: base64Text(String(form(e).get("text"))) } }))}>
            <h2>{tx.t("indictment")}</h2>
            <textarea name="text" required />
            <button class="primary" type="submit" disabled={action.busy} data-testid="indict">
              {tx.t("indict")}
            </button>
          </form>
        )}
        {inbox && t.state === "TRANSFER_STATE_ACCEPTED" && t.purpose === "TRANSFER_PURPOSE_INDICTMENT" && has(me, ["judge", "court-clerk"]) && (
          <div>
            {t.courtCaseNumber ? (
              <p>
                {tx.t("courtCaseNumber")}: <strong data-testid="court-case-number">{t.courtCaseNumber}</strong>
              </p>
            ) : (
              <button class="secondary" disabled={action.busy} onClick={() => post("registration")} data-testid="register">
                {tx.t("register")}
              </button>
            )}
            {t.concludedBy === "judgment" && <p data-testid="concluded">{tx.label("ACTION_judgment")}</p>}
            {me.roles.includes("judge") && !t.concludedBy && (
              <form onSubmit={(e) => (e.preventDefault(), post("judgment", { outcome: form(e).get("outcome"), judgment: { documentId: "judgment-1", title: tx.t("judgment"), documentType: "judgment", mediaType: "text/plain; charset=utf-8", content: base64Text(String(form(e).get("text"))) } }))}>
                <h2>{tx.t("judgment")}</h2>
                <input type="text" name="outcome" placeholder={tx.t("outcome")} required />
                <textarea name="text" required />
                <button class="primary" type="submit" disabled={action.busy} data-testid="judgment">
                  {tx.t("recordJudgment")}
                </button>
              </form>
            )}
          </div>
        )}
        {!inbox && ["TRANSFER_STATE_SUBMITTED", "TRANSFER_STATE_DELIVERED", "TRANSFER_STATE_RECEIVED", "TRANSFER_STATE_RETURNED", "TRANSFER_STATE_REJECTED"].includes(t.state) && has(me, SENDERS) && (
          <form class="row" onSubmit={(e) => (e.preventDefault(), post("withdrawal", { reason: form(e).get("reason") }))}>
            <input type="text" name="reason" required maxLength={500} placeholder={tx.t("withdrawReason")} aria-label={tx.t("withdrawReason")} />
            <button class="secondary" type="submit" disabled={action.busy} data-testid="withdraw">
              {tx.t("withdraw")}
            </button>
          </form>
        )}
        {!inbox && ["TRANSFER_STATE_RETURNED", "TRANSFER_STATE_REJECTED"].includes(t.state) && has(me, SENDERS) && (
          <button class="primary" disabled={action.busy} data-testid="resubmit" onClick={() => action.run(() => api("/api/v1/transfers", { method: "POST", body: { transferId: id } }))}>
            {tx.t("resubmit")}
          </button>
        )}
      </section>
      {open && <SealReport tx={tx} report={open} close={() => setOpen(undefined)} />}
    </>
  );
}

function SealReport({ tx, report, close }: { tx: T; report: Json; close: () => void }) {
  const v = report.verification ?? {};
  return (
    <dialog open data-testid="seal-report">
      <h2>
        {tx.t("report")}: <span class={`badge ${sealClass(v.status)}`}>{sealText(tx, v.status)}</span>
      </h2>
      <dl>
        <dt>{tx.t("documents")}</dt>
        <dd>{report.document?.ref?.title}</dd>
        <dt>SHA-256</dt>
        <dd>{report.document?.ref?.sha256}</dd>
        <dt>{tx.t("sealName")}</dt>
        <dd data-testid="seal-name">{v.seal?.name}</dd>
        <dt>{tx.t("agency")}</dt>
        <dd>{tx.label(v.seal?.agency)}</dd>
        <dt>{tx.t("signer")}</dt>
        <dd>{v.signer?.subject}</dd>
        <dt>{tx.t("signedAt")}</dt>
        <dd>{tx.date(v.signingTime)}</dd>
        <dt>Algorithm</dt>
        <dd>{v.algorithm}</dd>
        {v.failure && (
          <>
            <dt>{tx.t("failure")}</dt>
            <dd class="error">
              {v.failure}: {v.message}
            </dd>
          </>
        )}
      </dl>
      <button class="secondary" onClick={close} data-testid="close-report">
        {tx.t("close")}
      </button>
    </dialog>
  );
}

function Timeline({ tx, caseId, tick, back }: { tx: T; caseId: string; tick: number; back: () => void }) {
  const timeline = useApi(`/api/v1/cases/${encodeURIComponent(caseId)}/timeline`, tick);
  return (
    <section>
      <p>
        <button class="secondary" onClick={back}>
          ← {tx.t("back")}
        </button>
      </p>
      <h2>
        {tx.t("timeline")} · {caseId}
      </h2>
      <Problem error={timeline.error} />
      <table data-testid="timeline">
        <tbody>
          {(timeline.data?.entries ?? []).map((e: Json) => (
            <tr>
              <td>{tx.date(e.at)}</td>
              <td>{tx.label(e.agency)}</td>
              <td>{tx.label(`ACTION_${e.action}`)}</td>
              <td class="muted">{e.actor}</td>
              <td>
                {e.verification && <span class={`badge ${sealClass(e.verification)}`}>{sealText(tx, e.verification)}</span>} {e.detail} {e.returnReason && tx.label(e.returnReason)}
                {e.receiptKey && (
                  <span class="receipt">
                    <span class="badge valid" data-testid="receipt" title={`${tx.t("receiptTitle")} · SHA-256 ${e.receiptKey}`}>
                      ✔ {tx.t("receipt")} · {tx.label(e.agency)}
                    </span>
                    <span class="muted small wrap">
                      {tx.t("signedBy")} {(/CN=([^,]+)/.exec(e.receiptSigner ?? "") ?? [])[1] ?? e.receiptSigner}
                    </span>
                  </span>
                )}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      <h2>{tx.t("dwell")}</h2>
      <p>{(timeline.data?.dwell ?? []).map((d: Json) => `${tx.label(d.agency)} ${Math.round((d.seconds ?? 0) / 60)} min`).join(" · ")}</p>
    </section>
  );
}

function Deadlines({ tx, tick }: { tx: T; tick: number }) {
  const list = useApi("/api/v1/deadlines", tick);
  const now = Date.now();
  return (
    <section>
      <h2>{tx.t("deadlines")}</h2>
      <Problem error={list.error} />
      <table data-testid="deadlines" class="cards">
        <tbody>
          {(list.data?.deadlines ?? []).map((d: Json) => (
            <tr>
              <td class={new Date(d.dueAt).getTime() - now < 3 * 86_400_000 ? "error" : ""}>{tx.date(d.dueAt)}</td>
              <td>{d.caseNumber}</td>
              <td>{tx.label(d.kind)}</td>
              <td class="muted">{tx.label(d.rule)}</td>
            </tr>
          ))}
        </tbody>
      </table>
      {list.data && list.data.deadlines.length === 0 && <p class="muted">{tx.t("none")}</p>}
    </section>
  );
}

/** The unread count of deadline alerts, live; opens the notification centre. */
function AlertBell({ tx, tick, open }: { tx: T; tick: number; open: () => void }) {
  const unread = useApi("/api/v1/alerts?unacknowledgedOnly=true&pageSize=1", tick);
  const count: number = unread.data?.unacknowledged ?? 0;
  return (
    <button class={count > 0 ? "bell unread" : "bell secondary"} data-testid="alerts-bell" title={tx.t("alerts")} onClick={open}>
      {tx.t("alerts")} · <span data-testid="alerts-count">{count}</span> {tx.t("unread")}
    </button>
  );
}

/** The notification centre: statutory deadline alerts, newest first; each recipient acknowledges for themselves. */
function Alerts({ tx, me, tick }: { tx: T; me: Me; tick: number }) {
  const list = useApi("/api/v1/alerts?pageSize=100", tick);
  const [busy, setBusy] = useState("");
  const [error, setError] = useState("");
  const acknowledge = async (alertId: string) => {
    setBusy(alertId);
    setError("");
    try {
      await api(`/api/v1/alerts/${encodeURIComponent(alertId)}/acknowledgement`, { method: "POST" });
      list.reload();
    } catch (e) {
      setError((e as Error).message);
    } finally {
      setBusy("");
    }
  };
  const alerts: Json[] = list.data?.alerts ?? [];
  return (
    <section>
      <h2>{tx.t("alerts")}</h2>
      <Problem error={list.error || error} />
      <table data-testid="alerts" class="cards">
        <tbody>
          {alerts.map((a: Json) => {
            const acks: Json[] = a.acknowledgements ?? [];
            const mine = acks.some((ack) => ack.user === me.user);
            return (
              <tr data-testid="alert" data-alert-id={a.alertId}>
                <td class={a.timer?.level === "ALERT_LEVEL_EXPIRED" || !mine ? "error" : ""}>
                  <strong>{tx.label(a.timer?.level)}</strong>
                  {a.escalated && <span class="error"> · {tx.t("escalated")}</span>}
                </td>
                <td>{a.timer?.caseNumber}</td>
                <td>
                  {tx.label(a.timer?.kind)} · {a.timer?.partyName}
                </td>
                <td>
                  {tx.t("due")} {tx.date(a.timer?.dueAt)} <span class="muted">({tx.remaining(a.timer?.dueAt)})</span>
                </td>
                {a.timer?.officer && (
                  <td class="muted">
                    {tx.t("officerInCharge")} {a.timer.officer}
                  </td>
                )}
                <td>
                  {acks.length > 0 && (
                    <span class="muted" data-testid="acknowledged">
                      {tx.t("acknowledgedBy")} {acks.map((ack) => `${ack.user} ${tx.date(ack.at)}`).join("；")}
                    </span>
                  )}
                  {!mine && (
                    <button class="primary" data-testid="acknowledge" disabled={busy === a.alertId} onClick={() => void acknowledge(a.alertId)}>
                      {tx.t("acknowledge")}
                    </button>
                  )}
                </td>
              </tr>
            );
          })}
        </tbody>
      </table>
      {list.data && alerts.length === 0 && <p class="muted">{tx.t("noAlerts")}</p>}
    </section>
  );
}

function Audit({ tx }: { tx: T }) {
  const result = useApi("/api/v1/audit/verification", 0);
  return (
    <section>
      <h2>{tx.t("audit")}</h2>
      <Problem error={result.error} />
      {result.data && (
        <p data-testid="audit-result" class={result.data.intact ? "" : "error"}>
          {result.data.intact ? tx.t("auditIntact") : `${tx.t("auditBroken")} @ ${result.data.brokenAt}: ${result.data.reason}`} · {result.data.entries ?? 0} {tx.t("entries")}
        </p>
      )}
    </section>
  );
}

/** The step of a claimed event in words ("status accepted" → 状态回执：已受理). */
function claimedKindText(tx: T, kind: string): string {
  const [head, ...rest] = (kind ?? "").split(" ");
  const detail = rest.join(" ");
  const label = tx.label(`KIND_${head}`);
  return detail ? `${label}：${tx.label(`ACTION_${detail}`)}` : label;
}

function Incidents({ tx }: { tx: T }) {
  const list = useApi("/api/v1/incidents", 0);
  const incidents: Json[] = list.data?.incidents ?? [];
  return (
    <section>
      <h2>
        {tx.t("incidents")}{" "}
        <button class="secondary" data-testid="incidents-reload" onClick={list.reload}>
          {tx.t("reload")}
        </button>
      </h2>
      <p class="muted">{tx.t("incidentsHint")}</p>
      <Problem error={list.error} />
      {(list.data?.unavailable ?? []).length > 0 && (
        <p class="error">
          {tx.t("unavailable")}: {(list.data?.unavailable as string[]).map((a) => tx.label(`AGENCY_${a.toUpperCase()}`)).join("、")}
        </p>
      )}
      <table class="cards" data-testid="incidents">
        <thead>
          <tr>
            <th>{tx.t("incidentAt")}</th>
            <th>{tx.t("recordedBy")}</th>
            <th>{tx.t("claimedFrom")}</th>
            <th>{tx.t("claimedKind")}</th>
            <th>{tx.t("incidentReason")}</th>
          </tr>
        </thead>
        <tbody>
          {incidents.map((i) => (
            <tr data-testid="incident">
              <td>
                {tx.date(i.at)}
                {(i.occurrences ?? 1) > 1 && (
                  <span class="muted" data-testid="incident-occurrences">
                    {" "}
                    × {i.occurrences} · {tx.t("lastAt")} {tx.date(i.lastAt)}
                  </span>
                )}
              </td>
              <td data-label={tx.t("recordedBy")}>{tx.label(i.recordedBy)}</td>
              <td data-label={tx.t("claimedFrom")}>
                {tx.label(i.claimedFrom) || "—"} {i.reportedByCounterpart && <span class="badge indeterminate">{tx.t("reportedByCounterpart")}</span>}
                {i.namedSenderNotified && (
                  <span class="badge indeterminate" data-testid="named-sender-notified">
                    {tx.t("namedSenderNotified")}
                  </span>
                )}
              </td>
              <td data-label={tx.t("claimedKind")}>
                {claimedKindText(tx, i.claimedKind)} <span class="muted wrap">{i.subjectId}</span>
              </td>
              <td data-label={tx.t("incidentReason")}>
                <span class="badge invalid">{tx.label(i.reason)}</span>
                <div>{tx.label(`ADVICE_${i.reason}`)}</div>
                <div class="muted wrap">{i.detail}</div>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      {list.data && incidents.length === 0 && <p class="muted">{tx.t("noIncidents")}</p>}
    </section>
  );
}

function SystemStatus() {
  const status = useApi("/api/v1/system/services", 0);
  return (
    <section>
      <h2>Services · 服务状态</h2>
      <Problem error={status.error} />
      <table>
        <tbody>
          {(status.data?.services ?? []).map((s: Json) => (
            <tr>
              <td>{s.name}</td>
              <td>{s.status}</td>
              <td class="muted">{s.version}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  );
}

render(<App />, document.getElementById("app")!);
