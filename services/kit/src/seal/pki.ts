import { createHash, sign, type KeyObject } from "node:crypto";
import { common, seal as sealPb } from "@casebridge/proto";
import { suiteOf, generateSealKeyPair, type SealAlgorithm } from "./algorithms";
import { ExtendedKeyUsageOid, issueCertificate, type CertificateInfo, type SigningKey } from "./certificate";
import type { SealCredential } from "./cms";
import { issueCrl, type RevokedCertificate } from "./crl";
import { makeSeal } from "./made-seal";

/** The agencies that hold seals, by the short name used in certificates (OU) and on the command line. */
export const SEAL_AGENCIES = ["police", "prosecution", "court", "judicial", "notary"] as const;

/** One of SEAL_AGENCIES. */
export type SealAgency = (typeof SEAL_AGENCIES)[number];

const AGENCY_ENUM: Readonly<Record<SealAgency, common.Agency>> = {
  police: common.Agency.AGENCY_POLICE,
  prosecution: common.Agency.AGENCY_PROSECUTION,
  court: common.Agency.AGENCY_COURT,
  judicial: common.Agency.AGENCY_JUDICIAL,
  notary: common.Agency.AGENCY_NOTARY,
};

/** The protobuf Agency of a short agency name. */
export function agencyEnumOf(agency: SealAgency): common.Agency {
  return AGENCY_ENUM[agency];
}

/** The short name of a protobuf Agency, or undefined for UNSPECIFIED and unknown values. */
export function sealAgencyOf(agency: common.Agency): SealAgency | undefined {
  return SEAL_AGENCIES.find((name) => AGENCY_ENUM[name] === agency);
}

/** Parses a user-given agency name, or returns undefined. */
export function parseSealAgency(text: string): SealAgency | undefined {
  return (SEAL_AGENCIES as readonly string[]).includes(text) ? (text as SealAgency) : undefined;
}

/** The dev seal of each agency: its engraved name, an English gloss and its purpose. */
export const DEV_SEALS: Readonly<Record<SealAgency, { name: string; english: string; purpose: sealPb.SealPurpose }>> = {
  police: { name: "某市公安局案件专用章", english: "City PSB case seal", purpose: sealPb.SealPurpose.SEAL_PURPOSE_CASE_DOCUMENTS },
  prosecution: { name: "某市人民检察院案件专用章", english: "City procuratorate case seal", purpose: sealPb.SealPurpose.SEAL_PURPOSE_CASE_DOCUMENTS },
  court: { name: "某市人民法院案件专用章", english: "City court case seal", purpose: sealPb.SealPurpose.SEAL_PURPOSE_CASE_DOCUMENTS },
  judicial: { name: "某市司法局法律援助专用章", english: "City justice bureau legal-aid seal", purpose: sealPb.SealPurpose.SEAL_PURPOSE_CASE_DOCUMENTS },
  notary: { name: "某市公证处公证专用章", english: "City notary office notarial seal", purpose: sealPb.SealPurpose.SEAL_PURPOSE_NOTARIAL },
};

/** A certificate with its private key. */
export interface KeyedCertificate {
  readonly certificate: CertificateInfo;
  readonly key: KeyObject;
}

/** One agency's part of the PKI: its CA, its seal certificate, its made seal and picture. */
export interface AgencyPki {
  readonly ca: KeyedCertificate;
  readonly sealCertificate: KeyedCertificate;
  readonly madeSeal: Buffer;
  readonly image: Buffer;
}

/** A whole platform PKI: root CA, one CA and one seal per agency, the time-stamp authority, and the current CRLs. */
export interface Pki {
  readonly algorithm: SealAlgorithm;
  readonly root: KeyedCertificate;
  /** The platform time-stamp authority (RFC 3161), issued by the root. */
  readonly tsa: KeyedCertificate;
  readonly agencies: Readonly<Record<SealAgency, AgencyPki>>;
  /** Current CRL of every CA (root first), DER. */
  readonly crls: readonly Buffer[];
}

/** How long each part of a fresh PKI is valid. */
export const PKI_VALIDITY = {
  rootYears: 20,
  agencyCaYears: 10,
  sealYears: 3,
  tsaYears: 5,
  crlDays: 30,
} as const;

/** A SigningKey over a private key held in memory. */
export function keySigner(algorithm: SealAlgorithm, key: KeyObject): SigningKey {
  const digest = suiteOf(algorithm).digest;
  return { algorithm, sign: (data) => sign(digest, data, key) };
}

/** Creates a complete PKI in memory: root CA → one CA per agency → one seal certificate and seal per agency. */
export async function createPki(algorithm: SealAlgorithm, at = new Date()): Promise<Pki> {
  // Certificates carry whole seconds; start a minute early so that clocks slightly behind accept them.
  const now = new Date(Math.floor(at.getTime() / 1000) * 1000 - 60_000);
  const rootPair = generateSealKeyPair(algorithm);
  const rootCertificate = await issueCertificate(
    {
      subject: { organizationalUnit: "platform", commonName: "CaseBridge Root CA" },
      publicKey: rootPair.publicKey,
      validFrom: now,
      validTo: addYears(now, PKI_VALIDITY.rootYears),
      ca: { pathLength: 1 },
    },
    keySigner(algorithm, rootPair.privateKey),
  );
  const root = { certificate: rootCertificate, key: rootPair.privateKey };
  const agencies = {} as Record<SealAgency, AgencyPki>;
  for (const agency of SEAL_AGENCIES) {
    const ca = await issueAgencyCa(root, agency, now, algorithm);
    const sealCertificate = await issueSealCertificate(ca, agency, { validFrom: now, validTo: addYears(now, PKI_VALIDITY.sealYears) });
    const image = sealImage(DEV_SEALS[agency].name);
    const madeSeal = await makeAgencySeal(ca, agency, [sealCertificate.certificate], image, now, addYears(now, PKI_VALIDITY.sealYears));
    agencies[agency] = { ca, sealCertificate, madeSeal, image };
  }
  const tsa = await issueTsaCertificate(root, now);
  const crls = await Promise.all(
    [root, ...SEAL_AGENCIES.map((agency) => agencies[agency].ca)].map((ca) => issueCaCrl(ca, 1n, [], now)),
  );
  return { algorithm, root, tsa, agencies, crls };
}

/** The subject of the platform time-stamp authority's certificate. */
export const TSA_SUBJECT = { organizationalUnit: "platform", commonName: "CaseBridge Time-Stamp Authority" } as const;

/**
 * Issues the time-stamp authority's certificate under the root, with a fresh key of the root's
 * algorithm: keyUsage digitalSignature + nonRepudiation, extendedKeyUsage id-kp-timeStamping only,
 * marked critical as RFC 3161 §2.3 requires.
 */
export async function issueTsaCertificate(root: KeyedCertificate, now: Date, validTo = addYears(now, PKI_VALIDITY.tsaYears)): Promise<KeyedCertificate> {
  const algorithm = algorithmOfKeyed(root);
  const pair = generateSealKeyPair(algorithm);
  const certificate = await issueCertificate(
    {
      subject: TSA_SUBJECT,
      publicKey: pair.publicKey,
      validFrom: now,
      validTo,
      extendedKeyUsage: { purposes: [ExtendedKeyUsageOid.timeStamping], critical: true },
    },
    keySigner(algorithm, root.key),
    root.certificate,
  );
  return { certificate, key: pair.privateKey };
}

/** Issues an agency CA under the root. */
export async function issueAgencyCa(root: KeyedCertificate, agency: SealAgency, now: Date, algorithm: SealAlgorithm): Promise<KeyedCertificate> {
  const pair = generateSealKeyPair(algorithm);
  const certificate = await issueCertificate(
    {
      subject: { organizationalUnit: agency, commonName: `CaseBridge ${agency} CA` },
      publicKey: pair.publicKey,
      validFrom: now,
      validTo: addYears(now, PKI_VALIDITY.agencyCaYears),
      ca: { pathLength: 0 },
    },
    keySigner(algorithmOfKeyed(root), root.key),
    root.certificate,
  );
  return { certificate, key: pair.privateKey };
}

/** Issues a seal (end-entity) certificate for `agency` under its CA, with a fresh key of the CA's algorithm. */
export async function issueSealCertificate(
  ca: KeyedCertificate,
  agency: SealAgency,
  validity: { validFrom: Date; validTo: Date; commonName?: string },
): Promise<KeyedCertificate> {
  const algorithm = algorithmOfKeyed(ca);
  const pair = generateSealKeyPair(algorithm);
  const certificate = await issueCertificate(
    {
      subject: { organizationalUnit: agency, commonName: validity.commonName ?? `${DEV_SEALS[agency].english} signer` },
      publicKey: pair.publicKey,
      validFrom: validity.validFrom,
      validTo: validity.validTo,
    },
    keySigner(algorithm, ca.key),
    ca.certificate,
  );
  return { certificate, key: pair.privateKey };
}

/** Makes the dev seal of `agency`, signed by its CA, allowing the given certificates. */
export async function makeAgencySeal(
  ca: KeyedCertificate,
  agency: SealAgency,
  allowed: readonly CertificateInfo[],
  image: Buffer,
  validFrom: Date,
  validTo: Date,
): Promise<Buffer> {
  const dev = DEV_SEALS[agency];
  return makeSeal(
    {
      sealId: `${agency}-${dev.purpose === sealPb.SealPurpose.SEAL_PURPOSE_NOTARIAL ? "notarial" : "case"}-seal`,
      agency: agencyEnumOf(agency),
      name: dev.name,
      purpose: dev.purpose,
      image: { mediaType: "image/svg+xml", sha256: createHash("sha256").update(image).digest(), widthMm: 42, heightMm: 42 },
      validFrom,
      validTo,
      allowedCertificateSha256: allowed.map((certificate) => certificate.sha256),
    },
    ca.certificate,
    keySigner(algorithmOfKeyed(ca), ca.key),
  );
}

/** Issues the CRL of a CA. */
export async function issueCaCrl(
  ca: KeyedCertificate,
  number: bigint,
  revoked: readonly RevokedCertificate[],
  now = new Date(),
): Promise<Buffer> {
  return issueCrl(
    { number, thisUpdate: now, nextUpdate: addDays(now, PKI_VALIDITY.crlDays), revoked },
    ca.certificate,
    keySigner(algorithmOfKeyed(ca), ca.key),
  );
}

/** The signing credential of an agency's seal. */
export function credentialOf(pki: Pki, agency: SealAgency): SealCredential {
  const part = pki.agencies[agency];
  return {
    key: keySigner(pki.algorithm, part.sealCertificate.key),
    chain: [part.sealCertificate.certificate, part.ca.certificate],
    madeSeal: part.madeSeal,
  };
}

/** A round red seal picture (SVG) with the seal's name along the rim and a star in the middle. */
export function sealImage(name: string): Buffer {
  const escaped = name.replace(/&/g, "&amp;").replace(/</g, "&lt;");
  return Buffer.from(
    [
      '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 200 200" width="42mm" height="42mm">',
      '<circle cx="100" cy="100" r="92" fill="none" stroke="#d0021b" stroke-width="7"/>',
      '<path id="rim" d="M 30 118 A 72 72 0 1 1 170 118" fill="none"/>',
      `<text fill="#d0021b" font-size="17" font-family="serif" text-anchor="middle"><textPath href="#rim" startOffset="50%">${escaped}</textPath></text>`,
      '<polygon fill="#d0021b" points="100,62 109,90 138,90 114,107 123,135 100,118 77,135 86,107 62,90 91,90"/>',
      "</svg>",
    ].join(""),
  );
}

function algorithmOfKeyed(keyed: KeyedCertificate): SealAlgorithm {
  const algorithm = keyed.certificate.keyAlgorithm;
  if (!algorithm) throw new Error(`certificate ${keyed.certificate.subject} holds no supported key`);
  return algorithm;
}

function addYears(date: Date, years: number): Date {
  const out = new Date(date);
  out.setUTCFullYear(out.getUTCFullYear() + years);
  return out;
}

function addDays(date: Date, days: number): Date {
  return new Date(date.getTime() + days * 86_400_000);
}
