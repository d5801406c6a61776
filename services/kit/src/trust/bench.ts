import { randomBytes, randomUUID, sign, verify } from "node:crypto";
import { common, trust as tpb } from "@casebridge/proto";
import { SEAL_ALGORITHMS, suiteOf } from "../seal/algorithms";
import { Sealer } from "../seal/cms";
import { createPki, credentialOf } from "../seal/pki";
import { RevocationRegistry } from "../seal/revocation";
import { SealVerifier } from "../seal/verifier";
import { isRefusal, openEnvelope, sealerEnvelopeSigner } from "./envelope";
import { rate } from "../bench-rate";

/**
 * `npm run bench:envelopes`: the cost of signing a cross-agency event and of verifying it at the
 * receiver (openEnvelope: decode, chain, revocation, agency, signature), per algorithm, with bare
 * crypto.sign / crypto.verify over the same bytes and key as the baseline of the same run.
 */
const SECONDS = Number(process.env.BENCH_SECONDS ?? 3);
const ROUNDS = 12;
const PAYLOAD_BYTES = Number(process.env.BENCH_PAYLOAD_BYTES ?? 600); // a status report with its verification summary


async function main(): Promise<void> {
  for (const algorithm of SEAL_ALGORITHMS) {
    const pki = await createPki(algorithm);
    const sealer = new Sealer(credentialOf(pki, "prosecution"));
    const signer = sealerEnvelopeSigner(sealer);
    const cas = Object.values(pki.agencies).map((a) => a.ca.certificate);
    const revocations = new RevocationRegistry([pki.root.certificate, ...cas]);
    for (const crl of pki.crls) revocations.apply(crl);
    const verifier = new SealVerifier({ roots: [pki.root.certificate], intermediates: cas, revocations });
    const content = tpb.EnvelopeContent.encode({
      envelopeId: randomUUID(),
      from: common.Agency.AGENCY_PROSECUTION,
      to: common.Agency.AGENCY_POLICE,
      payloadType: "casebridge.transfer.v1.TransferEvent",
      subjectId: randomUUID(),
      signedAt: new Date(),
      payload: randomBytes(PAYLOAD_BYTES),
    }).finish();
    const envelope = await signer.sign(content);
    const opened = openEnvelope(verifier, envelope, common.Agency.AGENCY_POLICE);
    if (isRefusal(opened)) throw new Error(`benchmark envelope refused: ${opened.detail}`);
    const { key } = pki.agencies.prosecution.sealCertificate;
    const publicKey = pki.agencies.prosecution.sealCertificate.certificate.publicKey;
    const digest = suiteOf(algorithm).digest;
    const rawSignature = sign(digest, content, key);
    const best = { sign: 0, rawSign: 0, open: 0, rawVerify: 0 };
    for (let round = 0; round < ROUNDS; round++) {
      best.rawSign = Math.max(best.rawSign, await rate(() => sign(digest, content, key), SECONDS / ROUNDS));
      best.sign = Math.max(best.sign, await rate(() => signer.sign(content), SECONDS / ROUNDS));
      best.rawVerify = Math.max(best.rawVerify, await rate(() => verify(digest, content, publicKey, rawSignature), SECONDS / ROUNDS));
      best.open = Math.max(best.open, await rate(() => openEnvelope(verifier, envelope, common.Agency.AGENCY_POLICE), SECONDS / ROUNDS));
    }
    const ratio = (a: number, b: number): number => Math.round((a / b) * 1000) / 1000;
    console.log(
      JSON.stringify({
        algorithm,
        content_bytes: content.length,
        envelope_bytes: envelope.length,
        sign_per_s: Math.round(best.sign),
        raw_sign_per_s: Math.round(best.rawSign),
        sign_ratio: ratio(best.sign, best.rawSign),
        verify_per_s: Math.round(best.open),
        raw_verify_per_s: Math.round(best.rawVerify),
        verify_ratio: ratio(best.open, best.rawVerify),
        verify_us_per_event: Math.round(1e6 / best.open),
      }),
    );
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
