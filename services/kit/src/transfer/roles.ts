import type { SealAgency } from "../seal/pki";

/** Which realm roles may do what at one agency. */
export interface TransferRoles {
  /** Submit, resubmit and withdraw transfers. */
  readonly send: readonly string[];
  /** Accept and return received transfers. */
  readonly decide: readonly string[];
  /** Read transfers, documents and timelines. */
  readonly read: readonly string[];
  /** Open cases and add documents. */
  readonly openCases: readonly string[];
  /** Approve cases for transfer (legal unit). */
  readonly approveCases: readonly string[];
  /** Check the agency's audit log. */
  readonly audit: readonly string[];
  /** See and acknowledge statutory deadline alerts (the notification centre). */
  readonly alerts: readonly string[];
}

const POLICE_STAFF = ["police-officer", "police-legal"];
// Unit leaders (所队领导) read their unit's cases and get its deadline alerts.
const POLICE_READERS = [...POLICE_STAFF, "unit-leader"];
const POLICE_LEGAL = ["police-legal"];
const PROSECUTOR = ["prosecutor"];
const COURT_STAFF = ["judge", "court-clerk"];
const JUDGE = ["judge"];
const JUSTICE_BUREAU = ["duty-lawyer", "mediator"];
const NOTARY = ["notary"];

/**
 * The one table of who may do what at each agency: the services enforce it, the gateway declares its
 * routes from it (so the two cannot disagree).
 */
export const AGENCY_ROLES: Readonly<Record<SealAgency, TransferRoles>> = {
  police: { send: POLICE_LEGAL, decide: POLICE_LEGAL, read: POLICE_READERS, openCases: POLICE_STAFF, approveCases: POLICE_LEGAL, audit: POLICE_LEGAL, alerts: POLICE_READERS },
  prosecution: { send: PROSECUTOR, decide: PROSECUTOR, read: PROSECUTOR, openCases: PROSECUTOR, approveCases: PROSECUTOR, audit: PROSECUTOR, alerts: PROSECUTOR },
  court: { send: JUDGE, decide: COURT_STAFF, read: COURT_STAFF, openCases: COURT_STAFF, approveCases: JUDGE, audit: JUDGE, alerts: COURT_STAFF },
  judicial: { send: JUSTICE_BUREAU, decide: JUSTICE_BUREAU, read: JUSTICE_BUREAU, openCases: JUSTICE_BUREAU, approveCases: JUSTICE_BUREAU, audit: JUSTICE_BUREAU, alerts: JUSTICE_BUREAU },
  notary: { send: NOTARY, decide: NOTARY, read: NOTARY, openCases: NOTARY, approveCases: NOTARY, audit: NOTARY, alerts: NOTARY },
};

/** Roles of what only the procuratorate and the court do. */
export const CASE_ROLES = {
  /** Indict an accepted case (prosecution). */
  indict: PROSECUTOR,
  /** Register an accepted indictment as a court case. */
  registerCase: COURT_STAFF,
  /** Record the judgment. */
  recordJudgment: JUDGE,
} as const;

/** Roles of the platform operator (agency "platform"), who watches every agency's security incidents. */
export const PLATFORM_ROLES = {
  /** List the security incidents of every agency. */
  incidents: ["platform-admin"],
} as const;
