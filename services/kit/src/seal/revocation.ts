import type { CertificateInfo } from "./certificate";
import { isCrlSignedBy, parseCrl, type RevocationList } from "./crl";

/** What a verifier knows about one certificate's revocation. */
export type RevocationStatus =
  | { readonly state: "good" }
  | { readonly state: "revoked"; readonly revokedAt: Date }
  | { readonly state: "unknown"; readonly why: string };

/** Outcome of offering a CRL to the registry. */
export type CrlUpdate = "applied" | "unchanged";

/** RevocationError says why a CRL was refused. */
export class RevocationError extends Error {
  override name = "RevocationError";
}

/**
 * Holds the newest CRL of each trusted CA. A CRL is only taken when its issuer is one of those CAs,
 * its signature verifies and its cRLNumber is not lower than the one held (no rollback).
 */
export class RevocationRegistry {
  private readonly lists = new Map<string, RevocationList>();

  constructor(private readonly issuers: readonly CertificateInfo[]) {}

  /** Offers a DER CRL; throws RevocationError when it is malformed, unsigned by a trusted CA, or older. */
  apply(der: Uint8Array): CrlUpdate {
    let crl: RevocationList;
    try {
      crl = parseCrl(der);
    } catch (error) {
      throw new RevocationError(`malformed CRL: ${(error as Error).message}`);
    }
    const issuer = this.issuers.find((candidate) => isCrlSignedBy(crl, candidate));
    if (!issuer) throw new RevocationError("CRL is not signed by a trusted CA");
    const current = this.lists.get(issuer.id);
    if (current && crl.number < current.number) {
      throw new RevocationError(`CRL number ${crl.number} is older than the held ${current.number}`);
    }
    if (current && crl.number === current.number) return "unchanged";
    this.lists.set(issuer.id, crl);
    return "applied";
  }

  /** Revocation status of `certificate`, issued by `issuer`, as of `now`. */
  statusOf(certificate: CertificateInfo, issuer: CertificateInfo, now: Date): RevocationStatus {
    const crl = this.lists.get(issuer.id);
    if (!crl) return { state: "unknown", why: `no revocation list of ${issuer.subject}` };
    const revokedAt = crl.revoked.get(certificate.serial);
    if (revokedAt) return { state: "revoked", revokedAt };
    if (crl.nextUpdate.getTime() < now.getTime()) {
      return { state: "unknown", why: `the revocation list of ${issuer.subject} expired at ${crl.nextUpdate.toISOString()}` };
    }
    return { state: "good" };
  }

  /** The DER of every CRL held now (the lists in force), e.g. for an evidence package. */
  currentCrls(): Buffer[] {
    return [...this.lists.values()].map((crl) => crl.der);
  }

  /** The cRLNumber held for `issuer`, if any. */
  numberOf(issuer: CertificateInfo): bigint | undefined {
    return this.lists.get(issuer.id)?.number;
  }
}
