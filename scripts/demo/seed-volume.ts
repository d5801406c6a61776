import { randomUUID } from "node:crypto";
import { connect } from "@nats-io/transport-node";
import { bearerMetadata, cliUserToken, natsAuthOptions, natsClient } from "@casebridge/kit";
import { common, transfer as pb } from "@casebridge/proto";

/**
 * Volume for the read load test: `node scripts/demo/dist/seed-volume.js <count>` opens, approves and
 * sends <count> cases police → prosecution through the services' contracts (real tokens, sealed
 * documents), so that the police outbox and the prosecution inbox each hold that many transfers.
 * Prints its progress; then waits until the prosecution's inbox view holds them.
 */
const count = Number(process.argv[2] ?? 10_000);
/** This run's mark in the case numbers (unique in an agency): seeding twice adds cases, never duplicates. */
const run = randomUUID().slice(0, 8);
const natsUrl = process.env.NATS_URL ?? "nats://127.0.0.1:4222";
const issuer = process.env.AUTH_ISSUER ?? "http://127.0.0.1:8180/realms/casebridge";
const IN_FLIGHT = 16;

async function main(): Promise<void> {
  if (!Number.isInteger(count) || count < 1) throw new Error("usage: seed-volume <count>");
  const nc = await connect({ ...natsAuthOptions("operator"), servers: natsUrl, name: "seed-volume" });
  try {
    const token = async (user: string) => ({ metadata: bearerMetadata(await cliUserToken(issuer, user, process.env.DEMO_PASSWORD ?? "demo")), timeoutMs: 60_000 });
    let officer = await token("officer.wang");
    let legal = await token("legal.li");
    const cases = natsClient(nc, "police", pb.CaseFileServiceDefinition, 60_000);
    const transfers = natsClient(nc, "police", pb.TransferServiceDefinition, 60_000);
    const started = Date.now();
    let next = 0;
    let done = 0;
    let refreshed = Date.now();
    await Promise.all(
      Array.from({ length: IN_FLIGHT }, async () => {
        while (next < count) {
          const i = next++;
          if (Date.now() - refreshed > 120_000) {
            refreshed = Date.now(); // tokens live 5 minutes
            [officer, legal] = await Promise.all([token("officer.wang"), token("legal.li")]);
          }
          const caseId = `vol-${randomUUID()}`;
          await cases.openCase(
            {
              case: pb.Case.fromPartial({
                caseId,
                caseNumber: `320582-2026-V${run}-${String(i).padStart(5, "0")}`,
                kind: pb.CaseKind.CASE_KIND_CRIMINAL,
                offence: "盗窃",
                parties: [{ partyId: "s1", role: common.PartyRole.PARTY_ROLE_SUSPECT, name: "某" }],
              }),
              documents: [{ documentId: "recommendation-1", title: "起诉意见书", documentType: "recommendation", mediaType: "application/pdf", content: Buffer.from(`起诉意见书 ${caseId}`) }],
            },
            officer,
          );
          await cases.approveCase(pb.ApproveCaseRequest.fromPartial({ caseId }), legal);
          await transfers.submitTransfer({ caseId, recipient: common.Agency.AGENCY_PROSECUTION, purpose: pb.TransferPurpose.TRANSFER_PURPOSE_PROSECUTION_REVIEW, transferId: "" }, legal);
          if (++done % 500 === 0) process.stderr.write(`[volume] ${done}/${count} sent (${Math.round(done / ((Date.now() - started) / 1000))}/s)\n`);
        }
      }),
    );
    process.stderr.write(`[volume] ${count} transfers sent in ${Math.round((Date.now() - started) / 1000)} s\n`);
  } finally {
    await nc.close();
  }
}

main().catch((error: unknown) => {
  console.error(`seed-volume: ${(error as Error).message}`);
  process.exitCode = 1;
});
