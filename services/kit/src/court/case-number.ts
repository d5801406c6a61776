import { divisionOf } from "../units/units";

/** The one-character abbreviation (简称) of each province-level division, by the first two digits of its code (GB/T 2260). */
const PROVINCE_ABBREVIATIONS: Readonly<Record<string, string>> = {
  "11": "京", "12": "津", "13": "冀", "14": "晋", "15": "内", "21": "辽", "22": "吉", "23": "黑", "31": "沪", "32": "苏", "33": "浙", "34": "皖",
  "35": "闽", "36": "赣", "37": "鲁", "41": "豫", "42": "鄂", "43": "湘", "44": "粤", "45": "桂", "46": "琼", "50": "渝", "51": "川", "52": "贵",
  "53": "云", "54": "藏", "61": "陕", "62": "甘", "63": "青", "64": "宁", "65": "新",
};

/** The case-type code (类型代字) of a criminal case of first instance. */
export const CRIMINAL_FIRST_INSTANCE = "刑初";

/**
 * The case number (案号) a basic people's court gives a case, in the national format: （year）
 * province abbreviation + the court's 4-digit code + type code + sequence + 号, e.g.
 * （2026）苏0582刑初123号 for the 123rd criminal case of first instance the court of 320582 (张家港)
 * registered in 2026. Throws for a unit with no division code or an unknown province.
 */
export function courtCaseNumber(courtUnitId: string, year: number, sequence: number, typeCode = CRIMINAL_FIRST_INSTANCE): string {
  const division = divisionOf(courtUnitId);
  const province = PROVINCE_ABBREVIATIONS[division.slice(0, 2)];
  if (!division || !province) throw new Error(`no court code for unit ${courtUnitId}`);
  if (!Number.isInteger(sequence) || sequence < 1 || !Number.isInteger(year)) throw new Error(`bad year ${year} or sequence ${sequence}`);
  return `（${year}）${province}${division.slice(2)}${typeCode}${sequence}号`;
}

/** The calendar year at `at` in China Standard Time (case numbers count per year there). */
export function yearInChina(at: Date): number {
  return Number(new Intl.DateTimeFormat("en", { timeZone: "Asia/Shanghai", year: "numeric" }).format(at));
}

/** The key of a court's sequence of one type and year in its store. */
export function sequenceKey(courtUnitId: string, typeCode: string, year: number): string {
  return `${courtUnitId}.${Buffer.from(typeCode).toString("hex")}.${year}`;
}
