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
}

const POLICE_STAFF = ["police-officer", "police-legal"];
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
  police: { send: POLICE_LEGAL, decide: POLICE_LEGAL, read: POLICE_STAFF, openCases: POLICE_STAFF, approveCases: POLICE_LEGAL, audit: POLICE_LEGAL },
  prosecution: { send: PROSECUTOR, decide: PROSECUTOR, read: PROSECUTOR, openCases: PROSECUTOR, approveCases: PROSECUTOR, audit: PROSECUTOR },
  court: { send: JUDGE, decide: COURT_STAFF, read: COURT_STAFF, openCases: COURT_STAFF, approveCases: JUDGE, audit: JUDGE },
  judicial: { send: JUSTICE_BUREAU, decide: JUSTICE_BUREAU, read: JUSTICE_BUREAU, openCases: JUSTICE_BUREAU, approveCases: JUSTICE_BUREAU, audit: JUSTICE_BUREAU },
  notary: { send: NOTARY, decide: NOTARY, read: NOTARY, openCases: NOTARY, approveCases: NOTARY, audit: NOTARY },
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
