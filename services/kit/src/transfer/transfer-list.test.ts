import { common, transfer as pb } from "@casebridge/proto";
import { InvalidArgumentError } from "../errors";
import { transferListFields, transferListFilter, transferListOrder } from "./transfer-list";

const legalUnit = { agency: common.Agency.AGENCY_POLICE, unit: "320582-PSB-LEGAL" };
const request = (partial: Partial<pb.ListTransfersRequest>) => pb.ListTransfersRequest.fromPartial({ box: pb.Box.BOX_OUTBOX, ...partial });

describe("transfer list filters", () => {
  it("limits a list to the box and the units the caller sees, or the one of them asked for", () => {
    const all = transferListFilter(legalUnit, request({})) as { box: string; unit: { $in: string[] } };
    expect([all.box, [...all.unit.$in].sort()]).toEqual(["outbox", ["320582-PSB-JINGANG", "320582-PSB-LEGAL", "320582-PSB-YANGSHE"]]);
    expect(transferListFilter(legalUnit, request({ box: pb.Box.BOX_INBOX, unitId: "320582-PSB-YANGSHE" }))).toEqual({ box: "inbox", unit: "320582-PSB-YANGSHE" });
  });

  it("refuses a unit the caller does not see, an unknown box and an empty time range, naming the field", () => {
    const fieldOf = (partial: Partial<pb.ListTransfersRequest>) => {
      try {
        transferListFilter(legalUnit, request(partial));
      } catch (error) {
        expect(error).toBeInstanceOf(InvalidArgumentError);
        return (error as InvalidArgumentError).violations[0]!.field;
      }
      return undefined;
    };
    expect(fieldOf({ unitId: "320581-PSB-YUSHAN" })).toBe("unit_id");
    expect(fieldOf({ box: pb.Box.BOX_UNSPECIFIED })).toBe("box");
    expect(fieldOf({ updatedFrom: new Date("2026-05-02"), updatedTo: new Date("2026-05-01") })).toBe("updated_to");
    expect(fieldOf({ updatedFrom: new Date("2026-05-01"), updatedTo: new Date("2026-05-01") })).toBe("updated_to");
  });

  it("filters by state, case, kind, fast-track, time of last change and a search text taken literally", () => {
    const from = new Date("2026-05-01T00:00:00Z");
    const to = new Date("2026-06-01T00:00:00Z");
    const filter = transferListFilter(
      legalUnit,
      request({ states: [pb.TransferState.TRANSFER_STATE_RETURNED], caseId: "c-1", caseKind: pb.CaseKind.CASE_KIND_CRIMINAL, fastTrackOnly: true, updatedFrom: from, updatedTo: to, query: "  (2026)苏0582.* " }),
    );
    expect(filter).toMatchObject({
      state: { $in: [pb.TransferState.TRANSFER_STATE_RETURNED] },
      caseId: "c-1",
      caseKind: pb.CaseKind.CASE_KIND_CRIMINAL,
      fastTrack: true,
      updatedAt: { $gte: from, $lt: to },
      search: { $regex: "\\(2026\\)苏0582\\.\\*" },
    });
    expect(new RegExp((filter.search as { $regex: string }).$regex).test("(2026)苏0582.*号")).toBe(true);
    expect(new RegExp((filter.search as { $regex: string }).$regex).test("(2026)苏0582x号")).toBe(false);
    expect(transferListFilter(legalUnit, request({ updatedFrom: from })).updatedAt).toEqual({ $gte: from });
  });

  it("finds a transfer by its case number or a party's name, in any letter case", () => {
    const transfer = pb.Transfer.fromPartial({
      case: { caseNumber: "320582-2026-A17", kind: pb.CaseKind.CASE_KIND_CRIMINAL, fastTrack: true, parties: [{ name: "孙某" }, { name: "Anna Lee" }] },
    });
    const fields = transferListFields(transfer);
    expect(fields).toMatchObject({ caseKind: pb.CaseKind.CASE_KIND_CRIMINAL, fastTrack: true });
    for (const query of ["320582-2026", "a17", "孙", "anna l", "ANNA"]) {
      const { search } = transferListFilter(legalUnit, request({ query })) as { search: { $regex: string } };
      expect(new RegExp(search.$regex).test(fields.search)).toBe(true);
    }
    const { search } = transferListFilter(legalUnit, request({ query: "李" })) as { search: { $regex: string } };
    expect(new RegExp(search.$regex).test(fields.search)).toBe(false);
  });

  it("sorts by last change, newest first unless the oldest first is asked for", () => {
    expect(transferListOrder(request({}))).toBe("desc");
    expect(transferListOrder(request({ sort: pb.TransferSort.TRANSFER_SORT_UPDATED_DESC }))).toBe("desc");
    expect(transferListOrder(request({ sort: pb.TransferSort.TRANSFER_SORT_UPDATED_ASC }))).toBe("asc");
  });
});
