import { randomUUID } from "node:crypto";
import { mkdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { chromium, type Browser, type Page } from "playwright-core";
import { devUserToken, yearInChina } from "@casebridge/kit";
import { startPlatform, type Platform } from "./platform";
import { connect } from "@nats-io/transport-node";
import { common } from "@casebridge/proto";
import { publishRaw, wrap } from "./hostile";
import { asOperator, authIssuer, eventually, infra, repoRoot } from "./support";

// The realm lets the gateway client redirect to this port only (see infra/keycloak/casebridge-realm.json).
const UI_PORT = Number(process.env.TEST_GATEWAY_PORT ?? 18088);
const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
const SCREENSHOTS = path.join(repoRoot, "test-results", "screenshots");

describe("web UI in Chromium, signed in through the real Keycloak login page", () => {
  let platform: Platform;
  let browser: Browser;
  let base: string;
  const caseId = `ui-${randomUUID().slice(0, 8)}`;
  const caseNumber = `320582-2026-U${caseId.slice(3)}`;

  beforeAll(async () => {
    mkdirSync(SCREENSHOTS, { recursive: true });
    // Short deadline rules: a detention's warning fires 4 s after it starts, its limit at 12 s.
    platform = await startPlatform("ui", UI_PORT, { DEADLINE_RULES: JSON.stringify({ DEADLINE_KIND_CRIMINAL_DETENTION: { limit: "12s", warnBefore: ["8s"] } }) });
    base = platform.gateway.url;
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox"] });
    // An officer has opened a case with two documents: the legal unit's queue has it.
    await openCase(
      { caseId, caseNumber, kind: "CASE_KIND_CRIMINAL", offence: "盗窃 (theft)", summary: "电动车被盗，监控与供述在案", fastTrack: true, parties: [{ partyId: "s1", role: "PARTY_ROLE_SUSPECT", name: "孙某" }] },
      [document("recommendation", "起诉意见书", "建议以盗窃罪提起公诉。"), document("evidence-list", "证据清单", "1. 监控录像 2. 询问笔录")],
    );
  }, 120_000);

  const document = (documentId: string, title: string, text: string) => ({ documentId, title, documentType: documentId, mediaType: "text/plain", content: Buffer.from(text).toString("base64") });
  const headersOf = async (user: string) => ({ authorization: `Bearer ${await devUserToken(authIssuer, user)}`, "content-type": "application/json" });
  /** Opens a case as officer.wang through the API (setting the scene; the officer's form is not what these tests are about). */
  async function openCase(kase: Record<string, unknown>, documents = [document("recommendation", "起诉意见书", "建议起诉")]): Promise<void> {
    const res = await fetch(`${base}/api/v1/cases`, { method: "POST", headers: await headersOf("officer.wang"), body: JSON.stringify({ case: kase, documents }) });
    expect(res.status).toBe(201);
  }

  afterAll(async () => {
    await browser?.close();
    await platform?.stop();
  });

  /** Signs in through the Keycloak login page; `phone` is a 390 px touch screen. */
  async function signIn(user: string, locale: string, phone = false): Promise<Page> {
    const context = await browser.newContext({ locale, ...(phone ? { viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true } : { viewport: { width: 1440, height: 900 } }) });
    const page = await context.newPage();
    await page.goto(base);
    await page.click("[data-testid=sign-in]");
    await page.waitForURL(/\/realms\/casebridge\/protocol\/openid-connect\/auth/);
    await page.fill("#username", user);
    await page.fill("#password", "demo");
    await page.click("#kc-login");
    await page.waitForSelector("[data-testid=who-am-i]");
    return page;
  }

  const shot = (page: Page, name: string) => page.screenshot({ path: path.join(SCREENSHOTS, `${name}.png`), fullPage: true });

  it("legal officer approves and submits; the prosecutor sees it arrive live, finds every seal valid and accepts; languages switch; sign-out ends the session", async () => {
    const prosecutor = await signIn("prosecutor.zhao", "en-US");
    expect(await prosecutor.textContent("[data-testid=who-am-i]")).toContain("赵敏");
    expect(await prosecutor.textContent("[data-testid=who-am-i]")).toContain("prosecutor");
    await prosecutor.click("[data-testid=tab-inbox]");
    await prosecutor.evaluate(() => ((globalThis as unknown as { notReloaded: boolean }).notReloaded = true));

    const legal = await signIn("legal.li", "zh-CN");
    expect(await legal.getAttribute("html", "lang")).toBe("zh-CN");
    await legal.click(`[data-testid=approve-${caseId}]`);
    await legal.click(`[data-testid=submit-${caseId}]`);
    await shot(legal, "police-legal-cases");
    await legal.click("[data-testid=tab-sent]");
    await legal.waitForSelector(`[data-testid=transfer-${caseId}]`);

    // Live: the inbox row appears and turns RECEIVED (seals verified) without a reload.
    await prosecutor.waitForSelector(`[data-testid=transfer-${caseId}] [data-state=TRANSFER_STATE_RECEIVED]`, { timeout: 30_000 });
    expect(await prosecutor.evaluate(() => (globalThis as unknown as { notReloaded?: boolean }).notReloaded)).toBe(true);
    await shot(prosecutor, "prosecutor-inbox");

    await prosecutor.click(`[data-testid=transfer-${caseId}] a`);
    await prosecutor.waitForSelector("[data-testid=seal-recommendation][data-status=VERIFICATION_STATUS_VALID]");
    await prosecutor.waitForSelector("[data-testid=seal-evidence-list][data-status=VERIFICATION_STATUS_VALID]");
    await prosecutor.click("[data-testid=seal-recommendation]");
    await prosecutor.waitForSelector("[data-testid=seal-report]");
    expect(await prosecutor.textContent("[data-testid=seal-name]")).toMatch(/公安局/);
    await shot(prosecutor, "prosecutor-seal-report");
    await prosecutor.click("[data-testid=close-report]");
    await prosecutor.click("[data-testid=verify-all]");
    await prosecutor.waitForSelector("[data-testid=verify-progress] >> text=2/2");
    await prosecutor.click("[data-testid=accept]");
    await prosecutor.waitForSelector("h2 [data-state=TRANSFER_STATE_ACCEPTED]");
    await shot(prosecutor, "prosecutor-transfer-accepted");

    // The police see the acceptance arrive live in their sent list.
    await legal.waitForSelector(`[data-testid=transfer-${caseId}] [data-state=TRANSFER_STATE_ACCEPTED]`, { timeout: 30_000 });
    await shot(legal, "police-legal-sent");
    // The timeline shows the prosecution's signed receipts: received (seals verified) and accepted.
    await legal.click(`[data-testid=transfer-${caseId}] a`);
    // The offline evidence package downloads as a ZIP named after the case.
    expect(await legal.textContent("[data-testid=evidence-package]")).toContain("证据包");
    const [download] = await Promise.all([legal.waitForEvent("download"), legal.click("[data-testid=evidence-package]")]);
    expect(download.suggestedFilename()).toMatch(new RegExp(`^evidence-${caseNumber}-[0-9a-f]{8}\\.zip$`));
    const zipped = readFileSync(await download.path());
    expect(zipped.subarray(0, 2).toString("latin1")).toBe("PK");
    await legal.click("[data-testid=open-timeline]");
    await eventually(async () => {
      const receipts = await legal.locator("[data-testid=receipt]").allTextContents();
      if (receipts.length < 2) throw new Error(`${receipts.length} receipts shown`);
      expect(receipts.every((text) => text.includes("签收回执") && text.includes("检察院"))).toBe(true);
    });
    await shot(legal, "police-legal-timeline-receipts");

    // The live indicator tells the truth: live while the stream is open, offline when the network goes, live again after.
    expect(await prosecutor.textContent("[data-testid=live][data-state=live]")).toContain("live");
    await prosecutor.context().setOffline(true);
    await prosecutor.waitForSelector("[data-testid=live][data-state=offline]");
    expect(await prosecutor.textContent("[data-testid=live]")).toContain("offline");
    await prosecutor.context().setOffline(false);
    await prosecutor.waitForSelector("[data-testid=live][data-state=live]", { timeout: 30_000 });

    // Language switch, both ways.
    await prosecutor.click("[data-testid=tab-inbox]");
    expect(await prosecutor.textContent("[data-testid=tab-inbox]")).toBe("Inbox");
    await prosecutor.click("[data-testid=lang-switch]");
    expect(await prosecutor.textContent("[data-testid=tab-inbox]")).toBe("收件箱");
    expect(await prosecutor.getAttribute("html", "lang")).toBe("zh-CN");
    await shot(prosecutor, "prosecutor-inbox-zh");
    await prosecutor.click("[data-testid=lang-switch]");
    expect(await prosecutor.textContent("[data-testid=tab-inbox]")).toBe("Inbox");

    // Sign-out ends the gateway session and the Keycloak session.
    await legal.click("[data-testid=sign-out]");
    await legal.waitForSelector("[data-testid=sign-in]");
    expect((await legal.request.get(`${base}/api/v1/me`)).status()).toBe(401);
    await legal.click("[data-testid=sign-in]");
    await legal.waitForSelector("#username"); // Keycloak asks again: its SSO session ended too
  }, 120_000);

  it("the prosecutor indicts with a typed text; the judge accepts, registers under the national case number and pronounces the judgment; the police see the outcome", async () => {
    // The transfer the first test took to ACCEPTED at the prosecution.
    const prosecutor = await signIn("prosecutor.zhao", "zh-CN");
    await prosecutor.click("[data-testid=tab-inbox]");
    await prosecutor.click(`[data-testid=transfer-${caseId}] a`);
    await prosecutor.waitForSelector("h2 [data-state=TRANSFER_STATE_ACCEPTED]");
    expect(await prosecutor.textContent("[data-testid=indict]")).toBe("提起公诉");
    await prosecutor.fill("textarea[name=text]", "被告人孙某盗窃电动车一辆，事实清楚，证据确实充分，应以盗窃罪追究其刑事责任。");
    await prosecutor.click("[data-testid=indict]");
    // The indictment leaves as a transfer of its own (no media-type refusal): the form gives way to the step taken.
    await prosecutor.waitForSelector("[data-testid=concluded] >> text=提起公诉");
    expect([await prosecutor.locator("[role=alert]").count(), await prosecutor.locator("[data-testid=indict]").count()]).toEqual([0, 0]);
    await shot(prosecutor, "prosecutor-indicted");

    const judge = await signIn("judge.sun", "zh-CN");
    await judge.click("[data-testid=tab-inbox]");
    await judge.waitForSelector(`[data-testid=transfer-${caseId}] [data-state=TRANSFER_STATE_RECEIVED]`, { timeout: 30_000 });
    await judge.click(`[data-testid=transfer-${caseId}] a`);
    await judge.click("[data-testid=accept]");
    await judge.waitForSelector("h2 [data-state=TRANSFER_STATE_ACCEPTED]");
    const courtNumber = new RegExp(`（${yearInChina(new Date())}）苏0582刑初[1-9]\\d*号`);
    await judge.click("[data-testid=register]");
    // The number is shown where the button was (registering again would answer the same number: API tests).
    await judge.waitForSelector("[data-testid=court-case-number]");
    expect(await judge.textContent("[data-testid=court-case-number]")).toMatch(courtNumber);
    expect(await judge.locator("[data-testid=register]").count()).toBe(0);
    await judge.fill("input[name=outcome]", "被告人孙某犯盗窃罪，判处拘役四个月");
    await judge.fill("textarea[name=text]", "刑事判决书：被告人孙某犯盗窃罪，判处拘役四个月，并处罚金人民币一千元。");
    await judge.click("[data-testid=judgment]");
    await judge.waitForSelector("[data-testid=concluded] >> text=宣告判决");
    await judge.click("[data-testid=open-timeline]");
    const courtSteps = await eventually(async () => {
      const text = (await judge.textContent("[data-testid=timeline]")) ?? "";
      if (!text.includes("宣告判决")) throw new Error("no judgment on the court's timeline yet");
      return text;
    });
    expect(courtSteps).toMatch(courtNumber);
    expect(courtSteps.match(new RegExp(courtNumber.source, "g"))).toHaveLength(1);
    await shot(judge, "court-timeline-judgment");

    // The outcome reaches the police: their timeline of the case shows the registration and the judgment.
    const legal = await signIn("legal.li", "zh-CN");
    await legal.click("[data-testid=tab-sent]");
    await legal.click(`[data-testid=transfer-${caseId}] a`);
    await legal.click("[data-testid=open-timeline]");
    const policeSteps = await eventually(async () => {
      const text = (await legal.textContent("[data-testid=timeline]")) ?? "";
      if (!text.includes("判处拘役四个月")) throw new Error("the outcome has not reached the police yet");
      return text;
    }, 30_000);
    expect(policeSteps).toMatch(courtNumber);
    expect(policeSteps).toContain("宣告判决");
    await shot(legal, "police-timeline-outcome");
  }, 120_000);

  it("lets the legal unit send a case back to the officer with its opinion (none: the form asks for it); the officer sees why", async () => {
    const returnedId = `ui-rt-${randomUUID().slice(0, 8)}`;
    await openCase({ caseId: returnedId, caseNumber: `320582-2026-R${returnedId.slice(6)}`, kind: "CASE_KIND_CRIMINAL", offence: "盗窃", parties: [{ partyId: "s1", role: "PARTY_ROLE_SUSPECT", name: "吴某" }] });
    const legal = await signIn("legal.li", "zh-CN");
    await legal.waitForSelector(`[data-testid=approval-queue] [data-testid=case-${returnedId}]`);
    expect(await legal.textContent(`[data-testid=return-to-officer-${returnedId}]`)).toBe("退回承办人");
    // Without an opinion the form refuses, in Chinese, and nothing is sent.
    await legal.click(`[data-testid=return-to-officer-${returnedId}]`);
    expect(await legal.$eval(`[data-testid=opinion-${returnedId}]`, (input) => (input as unknown as { validationMessage: string }).validationMessage)).toBe("请填写退回理由");
    expect(await legal.locator(`[data-testid=approval-queue] [data-testid=case-${returnedId}]`).count()).toBe(1);
    await legal.fill(`[data-testid=opinion-${returnedId}]`, "缺少被害人陈述，请补充后再报");
    await legal.click(`[data-testid=return-to-officer-${returnedId}]`);
    await legal.waitForSelector(`[data-testid=returned-opinion-${returnedId}] >> text=缺少被害人陈述，请补充后再报`);
    expect(await legal.locator(`[data-testid=approval-queue] [data-testid=case-${returnedId}]`).count()).toBe(0);
    await shot(legal, "police-legal-returned-to-officer");
    // The officer, on a phone, sees the case back with the legal unit's reason; the page does not scroll sideways.
    const officer = await signIn("officer.wang", "zh-CN", true);
    await officer.waitForSelector(`[data-testid=returned-opinion-${returnedId}]`);
    expect(await officer.textContent(`[data-testid=returned-opinion-${returnedId}]`)).toContain("缺少被害人陈述，请补充后再报");
    const widths = await officer.evaluate(() => {
      const { document: page, innerWidth } = globalThis as unknown as { document: { documentElement: { scrollWidth: number } }; innerWidth: number };
      return [page.documentElement.scrollWidth, innerWidth];
    });
    expect(widths[0]).toBeLessThanOrEqual(widths[1]!);
    await shot(officer, "police-officer-returned-phone");
  }, 60_000);

  it("lets the legal unit withdraw a transfer the prosecution has not decided on, giving the reason", async () => {
    const withdrawnId = `ui-wd-${randomUUID().slice(0, 8)}`;
    await openCase({ caseId: withdrawnId, caseNumber: `320582-2026-W${withdrawnId.slice(6)}`, kind: "CASE_KIND_CRIMINAL", offence: "盗窃", parties: [{ partyId: "s1", role: "PARTY_ROLE_SUSPECT", name: "郑某" }] });
    expect((await fetch(`${base}/api/v1/cases/${withdrawnId}/approval`, { method: "POST", headers: await headersOf("legal.li") })).status).toBe(200);
    expect((await fetch(`${base}/api/v1/transfers`, { method: "POST", headers: await headersOf("legal.li"), body: JSON.stringify({ caseId: withdrawnId, recipient: "AGENCY_PROSECUTION", purpose: "TRANSFER_PURPOSE_PROSECUTION_REVIEW" }) })).status).toBe(201);
    const legal = await signIn("legal.li", "zh-CN");
    await legal.click("[data-testid=tab-sent]");
    await legal.click(`[data-testid=transfer-${withdrawnId}] a`);
    expect(await legal.textContent("[data-testid=withdraw]")).toBe("撤回移送");
    await legal.fill("input[name=reason]", "移送单位有误");
    await legal.click("[data-testid=withdraw]");
    await legal.waitForSelector("h2 [data-state=TRANSFER_STATE_WITHDRAWN]", { timeout: 30_000 });
    expect(await legal.locator("[data-testid=withdraw]").count()).toBe(0);
    await shot(legal, "police-legal-withdrawn");
  }, 60_000);

  it("shows the platform administrator, in Chinese on a phone, the incident of a forged status report and the notice to the agency named as sender", async () => {
    const nc = await connect({ ...asOperator(), servers: infra.natsUrl });
    const subjectId = `forged-${randomUUID().slice(0, 8)}`;
    const forged = { eventId: randomUUID(), transferId: subjectId, from: common.Agency.AGENCY_PROSECUTION, to: common.Agency.AGENCY_POLICE, at: new Date(), actor: "forger", status: { state: 4, submission: 1, sequence: 9, returnReason: 0, returnNote: "", verification: undefined, bundleId: "" } };
    await publishRaw(nc, common.Agency.AGENCY_POLICE, await wrap(forged, { sealer: null }));
    await nc.close();
    const adminToken = await devUserToken(authIssuer, "admin.he");
    const listed = await eventually(async () => {
      const res = await fetch(`${base}/api/v1/incidents`, { headers: { authorization: `Bearer ${adminToken}` } });
      const body = (await res.json()) as { incidents?: Array<{ subjectId: string; namedSenderNotified?: boolean }> };
      if (res.status !== 200 || !body.incidents?.some((i) => i.subjectId === subjectId && i.namedSenderNotified)) throw new Error(`incidents: ${res.status} ${JSON.stringify(body).slice(0, 300)}`);
      return body.incidents;
    }, 20_000, 200);
    // One row per incident: the prosecution's copy of the notice is folded into the police's record.
    expect(listed.filter((i) => i.subjectId === subjectId)).toHaveLength(1);
    const admin = await signIn("admin.he", "zh-CN", true);
    expect(await admin.textContent("[data-testid=tab-incidents]")).toBe("安全事件");
    // The incidents page is the administrator's first page; both incidents are listed by the time it loads (checked above).
    await admin.waitForSelector(`[data-testid=incident]:has-text("${subjectId}")`, { timeout: 20_000 });
    const rows = await admin.locator("[data-testid=incident]", { hasText: subjectId }).allTextContents();
    expect(rows.some((row) => row.includes("未签名") && row.includes("公安机关") && row.includes("检察院"))).toBe(true);
    expect(rows).toHaveLength(1);
    expect(rows[0]).toContain("状态回执：受理");
    expect(rows[0]).toContain("处置：无签名的伪造消息");
    // The prosecution's notice arrives a moment later: refresh until the row says the named sender was told.
    await eventually(async () => {
      await admin.click("[data-testid=incidents-reload]");
      await admin.waitForSelector(`[data-testid=incident]:has-text("${subjectId}") [data-testid=named-sender-notified]`, { timeout: 2_000 });
    }, 20_000, 200);
    expect(await admin.locator("[data-testid=incident]", { hasText: subjectId }).textContent()).toContain("已通知被冒名单位");
    expect(await admin.evaluate(() => (globalThis as unknown as { document: { documentElement: { scrollWidth: number } } }).document.documentElement.scrollWidth)).toBeLessThanOrEqual(390);
    await shot(admin, "platform-admin-incidents-phone");
  }, 60_000);

  it("shows a unit leader on a phone a statutory deadline alert live, and its acknowledgement; the officer in charge still has it unread", async () => {
    const leader = await signIn("leader.qian", "zh-CN", true);
    await leader.waitForSelector("[data-testid=alerts-bell]");
    const unread = async () => Number(await leader.textContent("[data-testid=alerts-count]"));
    const before = await unread();
    await leader.evaluate(() => ((globalThis as unknown as { notReloaded: boolean }).notReloaded = true));

    // An officer records a criminal detention that starts now.
    const officer = await devUserToken(authIssuer, "officer.wang");
    const detained = `ui-dl-${randomUUID().slice(0, 8)}`;
    const res = await fetch(`${base}/api/v1/cases`, {
      method: "POST",
      headers: { authorization: `Bearer ${officer}`, "content-type": "application/json" },
      body: JSON.stringify({
        case: {
          caseId: detained,
          caseNumber: `320582-2026-D${detained.slice(6)}`,
          kind: "CASE_KIND_CRIMINAL",
          offence: "盗窃",
          parties: [{ partyId: "s1", role: "PARTY_ROLE_SUSPECT", name: "周某" }],
          measures: [{ measureId: "m1", type: "MEASURE_TYPE_CRIMINAL_DETENTION", partyId: "s1", startsAt: new Date().toISOString() }],
        },
        documents: [{ documentId: "detention", title: "拘留证", documentType: "detention", mediaType: "application/pdf", content: Buffer.from("拘留证").toString("base64") }],
      }),
    });
    expect(res.status).toBe(201);

    // The warning arrives without a reload: the bell counts it.
    await eventually(async () => {
      if ((await unread()) <= before) throw new Error("the bell has not counted the alert yet");
    }, 40_000, 250);
    expect(await leader.evaluate(() => (globalThis as unknown as { notReloaded?: boolean }).notReloaded)).toBe(true);
    await leader.click("[data-testid=alerts-bell]");
    const row = `[data-testid=alert]:has-text("周某")`;
    await leader.waitForSelector(row);
    expect(await leader.textContent(row)).toContain("刑事拘留");
    expect(await leader.textContent(row)).toContain("即将到期");
    await shot(leader, "unit-leader-alert");
    const count = await unread();
    await leader.click(`${row} [data-testid=acknowledge]`);
    await leader.waitForSelector(`${row} [data-testid=acknowledged]`);
    expect(await leader.textContent(`${row} [data-testid=acknowledged]`)).toContain("leader.qian");
    await eventually(async () => {
      if ((await unread()) >= count) throw new Error("the bell still counts the acknowledged alert");
    }, 20_000, 250);
    await shot(leader, "unit-leader-alert-acknowledged");
    // The phone page does not scroll sideways.
    expect(await leader.evaluate(() => (globalThis as unknown as { document: { documentElement: { scrollWidth: number } } }).document.documentElement.scrollWidth)).toBeLessThanOrEqual(390);

    // Each recipient acknowledges for themselves: the officer in charge (desktop) still has it to acknowledge.
    const officerPage = await signIn("officer.wang", "zh-CN");
    await officerPage.click("[data-testid=alerts-bell]");
    await officerPage.waitForSelector(row);
    expect(await officerPage.textContent(`${row} [data-testid=acknowledged]`)).toContain("leader.qian");
    expect(await officerPage.isVisible(`${row} [data-testid=acknowledge]`)).toBe(true);
    await shot(officerPage, "officer-alert-after-leader");
  }, 120_000);
});
