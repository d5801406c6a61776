import { connect, type NatsConnection } from "@nats-io/transport-node";
import { bearerMetadata, CaseBridgeError, cliUserToken, natsAuthOptions, natsClient } from "@casebridge/kit";
import { common, system, transfer as pb } from "@casebridge/proto";

/**
 * Demo data for `npm start`, through the services' own contracts: one case that went all the way
 * to judgment, one returned for supplementary investigation, one waiting for the prosecution's
 * decision, one waiting for the court, one waiting for the legal unit (whose suspect's detention is
 * near its statutory limit, so that a deadline alert is waiting in the notification centre), all
 * of 张家港's 杨舍 station; one of its 金港 station waiting for the same legal unit; and one of
 * 常熟's 虞山 station, approved by 常熟's legal unit and waiting at 常熟's procuratorate (each unit
 * sees only its own cases: units/units.ts).
 * Idempotent: a case that exists is left as it is.
 */
const { Agency } = common;
const { TransferState: State } = pb;
// Demo users act through their own Keycloak tokens, as they would in the UI.
const officer = "officer.wang" as const;
const legal = "legal.li" as const;
const prosecutor = "prosecutor.zhao" as const;
const judge = "judge.sun" as const;
// Another station of the same county (金港), and another county (常熟) with its own legal unit and procuratorate.
const officerMa = "officer.ma" as const;
const officerZhang = "officer.zhang" as const;
const legalXu = "legal.xu" as const;
const prosecutorGao = "prosecutor.gao" as const;
type User = typeof officer | typeof legal | typeof prosecutor | typeof judge | typeof officerMa | typeof officerZhang | typeof legalXu | typeof prosecutorGao;
const tokens = new Map<User, string>();
const as = (user: User) => ({ metadata: bearerMetadata(tokens.get(user)!), timeoutMs: 30_000 });

function text(id: string, title: string, body: string): pb.DocumentInput {
  return { documentId: id, title, documentType: id.replace(/-\d+$/, ""), mediaType: "text/plain", content: Buffer.from(`${title}\n\n${body}\n`) };
}

function demoCase(caseId: string, number: string, offence: string, summary: string, suspect: string): pb.Case {
  return pb.Case.fromPartial({
    caseId,
    caseNumber: number,
    kind: pb.CaseKind.CASE_KIND_CRIMINAL,
    offence,
    summary,
    fastTrack: true,
    // No issuer: the service records the opening officer's unit (from the token).
    parties: [{ partyId: "s1", role: common.PartyRole.PARTY_ROLE_SUSPECT, name: suspect, identifier: "320582********0000" }],
    measures: [{ measureId: "m1", type: pb.MeasureType.MEASURE_TYPE_CRIMINAL_DETENTION, partyId: "s1", startsAt: new Date(), endsAt: new Date(Date.now() + 3 * 86_400_000) }],
  });
}

/** Polls until `probe` says yes; "not found" counts as not yet (the event is on its way). */
async function waitFor(what: string, probe: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + 60_000;
  const ready = () =>
    probe().catch((error: unknown) => {
      if (error instanceof CaseBridgeError && error.code === common.ErrorCode.ERROR_CODE_NOT_FOUND) return false;
      throw error;
    });
  while (!(await ready())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

/** Waits until every agency service answers SERVING (they were just started). */
async function servicesServing(nc: NatsConnection): Promise<void> {
  for (const name of ["police", "prosecution", "court", "judicial", "notary"]) {
    const client = natsClient(nc, name, system.SystemServiceDefinition, 2_000);
    await waitFor(`the ${name} service`, async () => (await client.checkHealth({}).catch(() => undefined))?.status === system.ServingStatus.SERVING_STATUS_SERVING);
  }
}

async function seed(nc: NatsConnection, issuer: string): Promise<void> {
  await servicesServing(nc);
  for (const user of [officer, legal, prosecutor, judge, officerMa, officerZhang, legalXu, prosecutorGao] as const) tokens.set(user, await cliUserToken(issuer, user, DEMO_PASSWORD));
  const cases = natsClient(nc, "police", pb.CaseFileServiceDefinition, 30_000);
  const police = natsClient(nc, "police", pb.TransferServiceDefinition, 30_000);
  const prosecution = natsClient(nc, "prosecution", pb.TransferServiceDefinition, 30_000);
  const prosecutionOnly = natsClient(nc, "prosecution", pb.ProsecutionServiceDefinition, 30_000);
  const court = natsClient(nc, "court", pb.TransferServiceDefinition, 30_000);
  const courtOnly = natsClient(nc, "court", pb.CourtServiceDefinition, 30_000);
  const stateAt = (client: typeof police, actor: User, transferId: string, state: pb.TransferState) =>
    waitFor(`transfer ${transferId} to be ${pb.transferStateToJSON(state)}`, async () => (await client.getTransfer({ transferId }, as(actor))).transfer?.state === state);

  const open = async (kase: pb.Case, documents: pb.DocumentInput[], approve: boolean, opener: User = officer, approver: User = legal): Promise<boolean> => {
    try {
      await cases.getCase({ caseId: kase.caseId }, as(opener));
      return false;
    } catch (error) {
      if (!(error instanceof CaseBridgeError) || error.code !== common.ErrorCode.ERROR_CODE_NOT_FOUND) throw error;
    }
    await cases.openCase({ case: kase, documents }, as(opener));
    if (approve) await cases.approveCase(pb.ApproveCaseRequest.fromPartial({ caseId: kase.caseId }), as(approver));
    return true;
  };
  // The legal unit sends it to the procuratorate with jurisdiction over the case's station (no recipient unit named).
  const submit = async (caseId: string, sender: User = legal, receiver: User = prosecutor): Promise<string> => {
    const { transfer } = await police.submitTransfer({ caseId, recipient: Agency.AGENCY_PROSECUTION, purpose: pb.TransferPurpose.TRANSFER_PURPOSE_PROSECUTION_REVIEW, transferId: "" }, as(sender));
    await stateAt(prosecution, receiver, transfer!.transferId, State.TRANSFER_STATE_RECEIVED);
    return transfer!.transferId;
  };

  if (await open(demoCase("demo-2026-00001", "320582-2026-00001", "盗窃 (theft)", "bicycle stolen at the railway station; CCTV and a confession", "李某"), [
    text("transfer-notice-1", "移送起诉告知书", "案件移送审查起诉。"),
    text("recommendation-1", "起诉意见书", "犯罪嫌疑人李某涉嫌盗窃罪，建议提起公诉。"),
    text("evidence-list-1", "证据清单", "1. 监控录像 2. 询问笔录 3. 认罪认罚具结书"),
  ], true)) {
    const review = await submit("demo-2026-00001");
    await prosecution.acceptTransfer({ transferId: review }, as(prosecutor));
    const { transfer: indictment } = await prosecutionOnly.indict({ transferId: review, indictment: text("indictment-1", "起诉书", "以盗窃罪对李某提起公诉，建议判处拘役四个月。") }, as(prosecutor));
    await stateAt(court, judge, indictment!.transferId, State.TRANSFER_STATE_RECEIVED);
    await court.acceptTransfer({ transferId: indictment!.transferId }, as(judge));
    await courtOnly.registerCase({ transferId: indictment!.transferId }, as(judge));
    await courtOnly.recordJudgment({ transferId: indictment!.transferId, judgment: text("judgment-1", "刑事判决书", "被告人李某犯盗窃罪，判处拘役四个月。"), outcome: "拘役四个月 (criminal detention of 4 months)" }, as(judge));
    console.log("demo case 320582-2026-00001: police → prosecution → court → judgment");
  }
  if (await open(demoCase("demo-2026-00002", "320582-2026-00002", "诈骗 (fraud)", "online shopping fraud; bank records incomplete", "王某"), [
    text("recommendation-1", "起诉意见书", "犯罪嫌疑人王某涉嫌诈骗罪。"),
    text("evidence-list-1", "证据清单", "1. 聊天记录 2. 转账记录(部分)"),
  ], true)) {
    const review = await submit("demo-2026-00002");
    await prosecution.returnTransfer({ transferId: review, reason: pb.ReturnReason.RETURN_REASON_SUPPLEMENTARY_INVESTIGATION, note: "调取完整银行流水 (obtain the complete bank records)" }, as(prosecutor));
    console.log("demo case 320582-2026-00002: returned for supplementary investigation");
  }
  if (await open(demoCase("demo-2026-00004", "320582-2026-00004", "危险驾驶 (dangerous driving)", "drunk driving at a checkpoint; blood alcohol 121 mg/100 ml", "孙某"), [
    text("recommendation-1", "起诉意见书", "犯罪嫌疑人孙某涉嫌危险驾驶罪。"),
    text("evidence-list-1", "证据清单", "1. 血液酒精检验报告 2. 执法记录仪视频 3. 认罪认罚具结书"),
  ], true)) {
    await submit("demo-2026-00004");
    console.log("demo case 320582-2026-00004: received by the prosecution, waiting for a decision");
  }
  if (await open(demoCase("demo-2026-00005", "320582-2026-00005", "盗窃 (theft)", "shoplifting, goods returned; plea accepted", "周某"), [
    text("recommendation-1", "起诉意见书", "犯罪嫌疑人周某涉嫌盗窃罪。"),
  ], true)) {
    const review = await submit("demo-2026-00005");
    await prosecution.acceptTransfer({ transferId: review }, as(prosecutor));
    const { transfer: indictment } = await prosecutionOnly.indict({ transferId: review, indictment: text("indictment-1", "起诉书", "以盗窃罪对周某提起公诉，建议适用速裁程序。") }, as(prosecutor));
    await stateAt(court, judge, indictment!.transferId, State.TRANSFER_STATE_RECEIVED);
    console.log("demo case 320582-2026-00005: indicted, waiting for the court");
  }
  if (await open(demoCase("demo-2026-00006", "320582-2026-00006", "寻衅滋事 (picking quarrels)", "brawl at the Jingang ferry terminal; witness statements taken", "吴某"), [
    text("recommendation-1", "起诉意见书", "犯罪嫌疑人吴某涉嫌寻衅滋事罪。"),
  ], false, officerMa)) {
    console.log("demo case 320582-2026-00006 (金港派出所, officer.ma): waiting for the legal unit's approval");
  }
  if (await open(demoCase("demo-2026-10001", "320581-2026-00001", "盗窃 (theft)", "electric scooter batteries stolen in Yushan; caught on CCTV", "陈某"), [
    text("recommendation-1", "起诉意见书", "犯罪嫌疑人陈某涉嫌盗窃罪。"),
    text("evidence-list-1", "证据清单", "1. 监控录像 2. 扣押清单"),
  ], true, officerZhang, legalXu)) {
    await submit("demo-2026-10001", legalXu, prosecutorGao);
    console.log("demo case 320581-2026-00001 (常熟虞山派出所, officer.zhang): at 常熟市人民检察院, waiting for prosecutor.gao");
  }
  // Detained 62 hours ago: the 3-day limit is 10 hours away, so its 12-hour warning fires at once
  // (officer.wang and the unit leader leader.qian find it in the notification centre).
  const detained = demoCase("demo-2026-00003", "320582-2026-00003", "故意伤害 (intentional injury)", "fight outside a restaurant; awaiting the legal unit's review", "赵某");
  detained.measures = [{ measureId: "m1", type: pb.MeasureType.MEASURE_TYPE_CRIMINAL_DETENTION, partyId: "s1", startsAt: new Date(Date.now() - 62 * 3_600_000), endsAt: undefined, releasedAt: undefined }];
  if (await open(detained, [text("recommendation-1", "起诉意见书", "犯罪嫌疑人赵某涉嫌故意伤害罪。")], false)) {
    console.log("demo case 320582-2026-00003: waiting for the legal unit's approval; its detention ends in 10 hours (deadline alert)");
  }
}

const natsUrl = process.env.NATS_URL ?? "nats://127.0.0.1:4222";
const issuer = process.env.AUTH_ISSUER ?? "http://127.0.0.1:8180/realms/casebridge";
/** The demo users' password (a clearly marked dev default of the demo realm). */
const DEMO_PASSWORD = process.env.DEMO_PASSWORD ?? "demo";
connect({ ...natsAuthOptions("operator"), servers: natsUrl, name: "seed-demo" })
  .then(async (nc) => {
    try {
      await seed(nc, issuer);
      console.log("demo data in place");
    } finally {
      await nc.close();
    }
  })
  .catch((error: unknown) => {
    console.error(`demo data: ${(error as Error).message}`);
    process.exitCode = 1;
  });
