import type { common } from "@casebridge/proto";
import { agencyEnumOf, sealAgencyOf, type SealAgency } from "../seal/pki";

/** One organisational unit of an agency: a police station, a legal unit, a prosecution office, a court. */
export interface UnitInfo {
  /** Stable id: the 6-digit administrative division code, the agency, a suffix ("320582-PSB-YANGSHE"); the `unit` claim of its users. */
  readonly id: string;
  /** Official name, e.g. 张家港市公安局杨舍派出所. */
  readonly name: string;
  readonly agency: SealAgency;
  /** Units whose cases this unit's members see besides its own (legal units, higher offices and courts). */
  readonly supervises?: readonly string[];
}

/*
 * The one table of units and who supervises whom, kept here in the kit and not in the realm.
 * Why: every service and the gateway decide with it, so it must be the same reviewed, versioned and
 * unit-tested data everywhere, read without a call to Keycloak; the realm holds only each user's
 * membership (the `unit` claim), which is what an administrator changes day to day, and its user
 * profile lists these ids as the claim's only allowed values (a test checks the two agree). A
 * re-organisation is a reviewed change of this table, like a change of the legal routes. At national
 * scale it would move to a signed configuration bucket read at start, with the same functions.
 *
 * Demo data: two county-level cities of Suzhou (苏州市 320500): 张家港市 320582 and 常熟市 320581.
 */
const UNIT_LIST: readonly UnitInfo[] = [
  // 张家港市 (320582)
  { id: "320582-PSB-YANGSHE", name: "张家港市公安局杨舍派出所", agency: "police" },
  { id: "320582-PSB-JINGANG", name: "张家港市公安局金港派出所", agency: "police" },
  { id: "320582-PSB-PROPERTY", name: "张家港市公安局涉案财物管理中心", agency: "police" },
  // 法制大队: reviews (法制审核) and sends the cases of the county's stations.
  { id: "320582-PSB-LEGAL", name: "张家港市公安局法制大队", agency: "police", supervises: ["320582-PSB-YANGSHE", "320582-PSB-JINGANG"] },
  { id: "320582-PRO", name: "张家港市人民检察院", agency: "prosecution" },
  { id: "320582-CRT", name: "张家港市人民法院", agency: "court" },
  { id: "320582-JUS", name: "张家港市司法局", agency: "judicial" },
  { id: "320582-NOT", name: "江苏省张家港市公证处", agency: "notary" },
  // 常熟市 (320581)
  { id: "320581-PSB-YUSHAN", name: "常熟市公安局虞山派出所", agency: "police" },
  { id: "320581-PSB-LEGAL", name: "常熟市公安局法制大队", agency: "police", supervises: ["320581-PSB-YUSHAN"] },
  { id: "320581-PRO", name: "常熟市人民检察院", agency: "prosecution" },
  { id: "320581-CRT", name: "常熟市人民法院", agency: "court" },
  // 苏州市 (320500): the higher procuratorate and the intermediate court see the counties' cases.
  { id: "320500-PRO", name: "苏州市人民检察院", agency: "prosecution", supervises: ["320582-PRO", "320581-PRO"] },
  { id: "320500-CRT", name: "苏州市中级人民法院", agency: "court", supervises: ["320582-CRT", "320581-CRT"] },
];

/** Every unit by id. */
export const UNITS: ReadonlyMap<string, UnitInfo> = new Map(UNIT_LIST.map((unit) => [unit.id, unit]));

/**
 * Where a case goes by default (地域管辖): for each administrative division, the unit of each agency
 * that takes cases from it. The sender may name another unit of the recipient agency (e.g. a
 * designated jurisdiction, 指定管辖).
 */
export const JURISDICTION: Readonly<Record<string, Partial<Record<SealAgency, string>>>> = {
  "320582": { police: "320582-PSB-LEGAL", prosecution: "320582-PRO", court: "320582-CRT", judicial: "320582-JUS", notary: "320582-NOT" },
  "320581": { police: "320581-PSB-LEGAL", prosecution: "320581-PRO", court: "320581-CRT" },
  // A case the city procuratorate reviewed (e.g. one it took over) goes to the intermediate court.
  "320500": { prosecution: "320500-PRO", court: "320500-CRT" },
};

/** Who acts, as far as units are concerned: the agency and the `unit` claim of the token. */
export interface UnitMember {
  readonly agency: common.Agency;
  readonly unit: string;
}

/** The unit `unitId` when it is a unit of `agency`; undefined otherwise. */
export function unitOf(unitId: string, agency: common.Agency): UnitInfo | undefined {
  const unit = UNITS.get(unitId);
  return unit && agencyEnumOf(unit.agency) === agency ? unit : undefined;
}

/** The AgencyUnit message of a unit of the table (id and name as recorded on cases and transfers). */
export function agencyUnitOf(unit: UnitInfo): common.AgencyUnit {
  return { agency: agencyEnumOf(unit.agency), unitId: unit.id, name: unit.name };
}

/**
 * The units whose cases a member sees: their own and every unit it supervises, directly or through
 * another (a city office over the county offices). Nothing for a member without a known unit of
 * their own agency: an unknown or foreign unit claim fails closed.
 */
export function visibleUnits(member: UnitMember): string[] {
  const own = unitOf(member.unit, member.agency);
  if (!own) return [];
  const seen = new Set<string>([own.id]);
  const queue = [own];
  for (let unit = queue.shift(); unit; unit = queue.shift()) {
    for (const id of unit.supervises ?? []) {
      const below = unitOf(id, member.agency);
      if (below && !seen.has(below.id)) {
        seen.add(below.id);
        queue.push(below);
      }
    }
  }
  return [...seen];
}

/** Whether `member` may see and act on a record held by `unitId` (own unit or one it supervises). */
export function mayAccess(member: UnitMember, unitId: string | undefined): boolean {
  return Boolean(unitId) && visibleUnits(member).includes(unitId!);
}

/** The administrative division code of a unit id ("320582" of "320582-PSB-YANGSHE"). */
export function divisionOf(unitId: string): string {
  return /^(\d{6})-/.exec(unitId)?.[1] ?? "";
}

/**
 * The unit of `recipient` a transfer from `senderUnitId` goes to: `requested` when given (it must be
 * a unit of that agency), else the one with jurisdiction over the sender's division; undefined when
 * there is none (the caller says which field is wrong).
 */
export function recipientUnitFor(senderUnitId: string, recipient: common.Agency, requested = ""): UnitInfo | undefined {
  if (requested) return unitOf(requested, recipient);
  const agency = sealAgencyOf(recipient);
  const id = agency ? JURISDICTION[divisionOf(senderUnitId)]?.[agency] : undefined;
  return id ? unitOf(id, recipient) : undefined;
}
