import type { NatsConnection } from "@nats-io/transport-node";
import type { Logger } from "pino";
import { Sealer } from "./cms";
import { loadSealCredential, loadTrustMaterial, readManifest } from "./pki-files";
import type { SealAgency } from "./pki";
import { RevocationError, RevocationRegistry } from "./revocation";
import { watchCrls, type CrlWatch } from "./revocation-nats";
import { timeStamperOf } from "./timestamp";
import { natsTimeStampTransport, type TimeStampClientOptions } from "./timestamp-nats";
import { SealVerifier } from "./verifier";

/** A service's e-seal kit: its agency's sealer, a verifier of every agency's seals, and the live CRLs. */
export interface ServiceSeals {
  readonly sealer: Sealer;
  readonly verifier: SealVerifier;
  readonly revocations: RevocationRegistry;
  /** Every CA certificate and the CRLs in force now (DER): what an offline evidence package carries. */
  evidenceTrust(): { caCertificates: Buffer[]; crls: Buffer[] };
}

/**
 * Loads the trust files and the agency's seal credential from `pkiDir`, applies the CRL files, then
 * follows the CRL bucket on NATS so that a revocation reaches this service within moments. Every
 * seal is time-stamped by the platform TSA over NATS (CAdES-B-T); when it does not answer, sealing
 * fails with UnavailableError.
 */
export async function startServiceSeals(
  pkiDir: string,
  agency: SealAgency,
  passphrase: string | undefined,
  nc: NatsConnection,
  logger: Logger,
  timeStampClient: TimeStampClientOptions = {},
): Promise<{ seals: ServiceSeals; watch: CrlWatch }> {
  await readManifest(pkiDir); // a clear "pki.json is missing" before anything else
  const [trust, credential] = await Promise.all([loadTrustMaterial(pkiDir), loadSealCredential(pkiDir, agency, passphrase)]);
  const revocations = new RevocationRegistry([...trust.roots, ...trust.intermediates]);
  for (const crl of trust.crls) {
    try {
      revocations.apply(crl);
    } catch (error) {
      if (!(error instanceof RevocationError)) throw error;
      logger.warn({ err: error }, "CRL file refused");
    }
  }
  const verifier = new SealVerifier({ roots: trust.roots, intermediates: trust.intermediates, revocations, timeStampAuthorities: trust.timeStampAuthorities });
  const watch = await watchCrls(nc, revocations, logger);
  const sealer = new Sealer(credential, undefined, timeStamperOf(natsTimeStampTransport(nc, timeStampClient)));
  const caCertificates = [...trust.roots, ...trust.intermediates, ...trust.timeStampAuthorities].map((certificate) => certificate.der);
  return { seals: { sealer, verifier, revocations, evidenceTrust: () => ({ caCertificates, crls: revocations.currentCrls() }) }, watch };
}
