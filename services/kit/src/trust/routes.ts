import { common, transfer as pb } from "@casebridge/proto";
import { PermissionDeniedError } from "../errors";

const { Agency } = common;
const { TransferPurpose: Purpose } = pb;

/** One legal route: who may send a case for what to whom, and the law that says so. */
export interface LegalRoute {
  readonly from: common.Agency;
  readonly to: common.Agency;
  readonly purpose: pb.TransferPurpose;
  readonly basis: string;
}

/**
 * The legal routes of cases between agencies: the one table both the sender and the receiver check.
 * The fast-track, mediation and property workflows add their routes here.
 */
export const LEGAL_ROUTES: readonly LegalRoute[] = [
  // 刑事诉讼法 第162条: 公安机关侦查终结的案件, 应当写出起诉意见书, 连同案卷材料、证据一并移送同级人民检察院审查决定.
  { from: Agency.AGENCY_POLICE, to: Agency.AGENCY_PROSECUTION, purpose: Purpose.TRANSFER_PURPOSE_PROSECUTION_REVIEW, basis: "刑事诉讼法 第162条 (移送审查起诉)" },
  // 刑事诉讼法 第176条: 人民检察院认为应当追究刑事责任的, 应当作出起诉决定, 向人民法院提起公诉.
  { from: Agency.AGENCY_PROSECUTION, to: Agency.AGENCY_COURT, purpose: Purpose.TRANSFER_PURPOSE_INDICTMENT, basis: "刑事诉讼法 第176条 (提起公诉)" },
];

/** The legal route from `from` to `to` for `purpose`, or undefined when the law provides none. */
export function legalRoute(from: common.Agency, to: common.Agency, purpose: pb.TransferPurpose): LegalRoute | undefined {
  return LEGAL_ROUTES.find((route) => route.from === from && route.to === to && route.purpose === purpose);
}

/** One sentence saying why a route is not allowed and which routes the purpose has. */
export function routeRefusal(from: common.Agency, to: common.Agency, purpose: pb.TransferPurpose): string {
  const allowed = LEGAL_ROUTES.filter((route) => route.purpose === purpose).map((route) => `${agencyName(route.from)} → ${agencyName(route.to)}`);
  return `${pb.transferPurposeToJSON(purpose)} may not go from ${agencyName(from)} to ${agencyName(to)}; the law allows ${allowed.join(", ") || "no route"}`;
}

/** Throws PermissionDeniedError unless the route is legal (the sender's check). */
export function assertLegalRoute(from: common.Agency, to: common.Agency, purpose: pb.TransferPurpose): LegalRoute {
  const route = legalRoute(from, to, purpose);
  if (!route) throw new PermissionDeniedError(routeRefusal(from, to, purpose));
  return route;
}

/** True when a case that reached `holder` may lawfully have gone on to `downstream` (along one or more legal routes). */
export function reachableDownstream(holder: common.Agency, downstream: common.Agency): boolean {
  const seen = new Set<common.Agency>([holder]);
  const queue = [holder];
  while (queue.length > 0) {
    const at = queue.shift()!;
    for (const route of LEGAL_ROUTES) {
      if (route.from !== at || seen.has(route.to)) continue;
      if (route.to === downstream) return true;
      seen.add(route.to);
      queue.push(route.to);
    }
  }
  return false;
}

function agencyName(agency: common.Agency): string {
  return common.agencyToJSON(agency).replace("AGENCY_", "").toLowerCase();
}
