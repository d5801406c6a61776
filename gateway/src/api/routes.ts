import { AGENCY_ROLES, agencyEnumOf, CASE_ROLES, UNITS, visibleUnits, PLATFORM_ROLES, MAX_DOCUMENT_BYTES, runningDeadlines, SEAL_AGENCIES, type SealAgency, type TransferRoles } from "@casebridge/kit";
import { deadline as dpb, transfer as pb, trust as tpb } from "@casebridge/proto";
import type { Grant } from "../auth/access";
import type { LiveUpdates } from "../live-updates";
import type { ProtoSchemas, JsonSchema } from "./proto-schema";
import type { BinaryResult, Route } from "./route";

const T = "casebridge.transfer.v1";
const D = "casebridge.deadline.v1";

/** Grants of one kind of action at each agency (or the agencies listed), from the table the services enforce. */
function grants(action: keyof TransferRoles, agencies: readonly SealAgency[] = SEAL_AGENCIES): Grant[] {
  return agencies.map((agency) => ({ agency, roles: AGENCY_ROLES[agency][action] }));
}

/** The schema of a request message as a body: `omit` fields come from the path; `required` must be present. */
function bodyOf(schemas: ProtoSchemas, message: string, omit: string[] = [], required: string[] = []): JsonSchema {
  schemas.ref(`${T}.${message}`);
  const full = schemas.components[`${T}.${message}`] as { properties: Record<string, JsonSchema> };
  const properties = Object.fromEntries(Object.entries(full.properties).filter(([name]) => !omit.includes(name)));
  return { type: "object", properties, required, additionalProperties: false };
}

/** A required text input (path or query parameter) with the schema, and so the limits, of a field of a request message. */
function required(schemas: ProtoSchemas, typeName: string, jsonName: string): JsonSchema {
  return { ...schemas.field(typeName, jsonName), minLength: 1 };
}

const PAGING = (schemas: ProtoSchemas, message: string) => ({
  pageSize: { ...schemas.field(`${T}.${message}`, "pageSize"), minimum: 1, maximum: 200 },
  pageToken: schemas.field(`${T}.${message}`, "pageToken"),
});

/** Every REST route of the gateway. */
export function apiRoutes(schemas: ProtoSchemas, live: LiveUpdates, systemStatus: () => Promise<unknown>): Route[] {
  const transfer = (res: { transfer?: pb.Transfer }) => pb.Transfer.toJSON(res.transfer!);
  const caseFile = (res: { caseFile?: pb.CaseFile }) => pb.CaseFile.toJSON(res.caseFile!);
  const transferJson = { status: 200, json: schemas.ref(`${T}.Transfer`) } as const;
  const caseFileJson = { status: 200, json: schemas.ref(`${T}.CaseFile`) } as const;
  const transferParams = { transferId: required(schemas, `${T}.GetTransferRequest`, "transferId") };
  const caseParam = (message: string) => ({ caseId: required(schemas, `${T}.${message}`, "caseId") });
  return [
    {
      method: "get",
      path: "/api/v1/me",
      operationId: "whoAmI",
      summary: "Who is signed in: name, roles, agency and unit",
      tag: "session",
      access: "any-user",
      response: {
        status: 200,
        json: {
          type: "object",
          required: ["user", "name", "roles"],
          properties: { user: { type: "string" }, name: { type: "string" }, roles: { type: "array", items: { type: "string" } }, agency: { type: "string" }, unit: { type: "string" }, unitName: { type: "string" }, expiresAt: { type: "string", format: "date-time" } },
          additionalProperties: false,
        },
      },
      handle: (_input, { principal }) =>
        Promise.resolve({ user: principal.user, name: principal.name, roles: principal.roles, agency: principal.agency, unit: principal.unit, unitName: UNITS.get(principal.unit)?.name ?? "", expiresAt: principal.expiresAt.toISOString() }),
    },
    {
      method: "get",
      path: "/api/v1/system/services",
      operationId: "listServices",
      summary: "The state of every agency service (platform operators)",
      tag: "system",
      access: [{ agency: "platform", roles: ["platform-admin"] }],
      response: { status: 200, json: { type: "object", required: ["services"], properties: { services: { type: "array", items: { type: "object" } } } } },
      handle: () => systemStatus(),
    },
    {
      method: "get",
      path: "/api/v1/cases",
      operationId: "listCases",
      summary: "Case files of the caller's agency, newest first (approval=APPROVAL_PENDING: waiting for the legal unit)",
      tag: "cases",
      access: grants("read"),
      query: { approval: schemas.field(`${T}.ListCasesRequest`, "approval"), ...PAGING(schemas, "ListCasesRequest") },
      response: { status: 200, json: schemas.ref(`${T}.ListCasesResponse`) },
      handle: async ({ query }, { services, call }) => pb.ListCasesResponse.toJSON(await services.cases.listCases(pb.ListCasesRequest.fromJSON(query), call)),
    },
    {
      method: "post",
      path: "/api/v1/cases",
      operationId: "openCase",
      summary: "Open a case; its documents (base64, or uploaded after) are sealed with the agency's seal",
      tag: "cases",
      access: grants("openCases"),
      body: { json: bodyOf(schemas, "OpenCaseRequest", [], ["case"]) },
      response: { status: 201, json: schemas.ref(`${T}.CaseFile`) },
      handle: async ({ body }, { services, call }) => caseFile(await services.cases.openCase(pb.OpenCaseRequest.fromJSON(body), call)),
    },
    {
      method: "get",
      path: "/api/v1/cases/{caseId}",
      operationId: "getCase",
      summary: "One case file with its documents",
      tag: "cases",
      access: grants("read"),
      params: caseParam("GetCaseRequest"),
      response: caseFileJson,
      handle: async ({ params }, { services, call }) => caseFile(await services.cases.getCase({ caseId: params.caseId! }, call)),
    },
    {
      method: "post",
      path: "/api/v1/cases/{caseId}/approval",
      operationId: "approveCase",
      summary: "The legal unit's review (法制审核): approve, without which a case cannot leave, or send it back to the officer with the opinion (body optional: no body approves)",
      tag: "cases",
      access: grants("approveCases"),
      params: caseParam("ApproveCaseRequest"),
      body: { json: bodyOf(schemas, "ApproveCaseRequest", ["caseId"]), optional: true },
      response: caseFileJson,
      handle: async ({ params, body }, { services, call }) => caseFile(await services.cases.approveCase(pb.ApproveCaseRequest.fromJSON({ ...((body as object | undefined) ?? {}), caseId: params.caseId }), call)),
    },
    {
      method: "post",
      path: "/api/v1/cases/{caseId}/documents",
      operationId: "uploadDocument",
      summary: "Upload one document (the request body, up to 20 MiB; Content-Type is its media type); it is sealed on arrival",
      tag: "cases",
      access: grants("openCases"),
      params: caseParam("AddDocumentsRequest"),
      query: { documentId: required(schemas, `${T}.DocumentInput`, "documentId"), title: required(schemas, `${T}.DocumentInput`, "title"), documentType: required(schemas, `${T}.DocumentInput`, "documentType") },
      body: { upload: { maxBytes: MAX_DOCUMENT_BYTES } },
      response: caseFileJson,
      handle: async ({ params, query, upload }, { services, call }) =>
        caseFile(
          await services.cases.addDocuments(
            { caseId: params.caseId!, documents: [{ documentId: String(query.documentId), title: String(query.title), documentType: String(query.documentType), mediaType: upload!.mediaType, content: upload!.bytes }] },
            call,
          ),
        ),
    },
    {
      method: "get",
      path: "/api/v1/cases/{caseId}/timeline",
      operationId: "getCaseTimeline",
      summary: "Every step of a case this agency sent, received or was told about, and the time spent at each agency",
      tag: "cases",
      access: grants("read"),
      params: caseParam("GetCaseTimelineRequest"),
      response: { status: 200, json: schemas.ref(`${T}.GetCaseTimelineResponse`) },
      handle: async ({ params }, { services, call }) => pb.GetCaseTimelineResponse.toJSON(await services.transfers.getCaseTimeline({ caseId: params.caseId! }, call)),
    },
    {
      method: "get",
      path: "/api/v1/transfers",
      operationId: "listTransfers",
      summary: "Inbox or outbox of the caller's units, filtered (state, case, kind, fast-track, time of last change, unit, case number or party name), sorted by last change, with the count of matches",
      tag: "transfers",
      access: grants("read"),
      query: {
        box: { ...schemas.field(`${T}.ListTransfersRequest`, "box"), enum: ["BOX_INBOX", "BOX_OUTBOX"] },
        ...Object.fromEntries(
          ["states", "caseId", "query", "caseKind", "fastTrackOnly", "updatedFrom", "updatedTo", "unitId", "sort"].map((name) => [name, schemas.field(`${T}.ListTransfersRequest`, name)]),
        ),
        ...PAGING(schemas, "ListTransfersRequest"),
      },
      response: { status: 200, json: schemas.ref(`${T}.ListTransfersResponse`) },
      handle: async ({ query }, { services, call }) => pb.ListTransfersResponse.toJSON(await services.transfers.listTransfers(pb.ListTransfersRequest.fromJSON(query), call)),
    },
    {
      method: "post",
      path: "/api/v1/transfers",
      operationId: "submitTransfer",
      summary: "Send an approved case to another agency with its sealed bundle, or resubmit a returned transfer (transferId)",
      tag: "transfers",
      access: grants("send"),
      body: { json: bodyOf(schemas, "SubmitTransferRequest") },
      response: { status: 201, json: schemas.ref(`${T}.Transfer`) },
      handle: async ({ body }, { services, call }) => transfer(await services.transfers.submitTransfer(pb.SubmitTransferRequest.fromJSON(body), call)),
    },
    {
      method: "get",
      path: "/api/v1/transfers/{transferId}",
      operationId: "getTransfer",
      summary: "One transfer with its bundle and the receiver's verification",
      tag: "transfers",
      access: grants("read"),
      params: transferParams,
      response: transferJson,
      handle: async ({ params }, { services, call }) => transfer(await services.transfers.getTransfer({ transferId: params.transferId! }, call)),
    },
    {
      method: "post",
      path: "/api/v1/transfers/{transferId}/acceptance",
      operationId: "acceptTransfer",
      summary: "Accept a received transfer (every seal verified)",
      tag: "transfers",
      access: grants("decide"),
      params: transferParams,
      response: transferJson,
      handle: async ({ params }, { services, call }) => transfer(await services.transfers.acceptTransfer({ transferId: params.transferId! }, call)),
    },
    {
      method: "post",
      path: "/api/v1/transfers/{transferId}/return",
      operationId: "returnTransfer",
      summary: "Send a received transfer back with a reason (退回补充侦查 at most twice)",
      tag: "transfers",
      access: grants("decide"),
      params: transferParams,
      body: { json: bodyOf(schemas, "ReturnTransferRequest", ["transferId"], ["reason"]) },
      response: transferJson,
      handle: async ({ params, body }, { services, call }) => transfer(await services.transfers.returnTransfer(pb.ReturnTransferRequest.fromJSON({ ...(body as object), transferId: params.transferId }), call)),
    },
    {
      method: "post",
      path: "/api/v1/transfers/{transferId}/withdrawal",
      operationId: "withdrawTransfer",
      summary: "Take back a transfer the receiver has not accepted yet",
      tag: "transfers",
      access: grants("send"),
      params: transferParams,
      body: { json: bodyOf(schemas, "WithdrawTransferRequest", ["transferId"], ["reason"]) },
      response: transferJson,
      handle: async ({ params, body }, { services, call }) => transfer(await services.transfers.withdrawTransfer(pb.WithdrawTransferRequest.fromJSON({ ...(body as object), transferId: params.transferId }), call)),
    },
    {
      method: "get",
      path: "/api/v1/transfers/{transferId}/documents/{documentId}",
      operationId: "getDocument",
      summary: "One document of a transfer and its seal verification report (verified again now)",
      tag: "documents",
      access: grants("read"),
      params: { transferId: required(schemas, `${T}.GetDocumentRequest`, "transferId"), documentId: required(schemas, `${T}.GetDocumentRequest`, "documentId") },
      response: { status: 200, json: bodyOf(schemas, "GetDocumentResponse", ["content"], ["document", "verification"]) },
      handle: async ({ params }, { services, call }) => {
        const { document, verification } = await services.transfers.getDocument({ transferId: params.transferId!, documentId: params.documentId!, includeContent: false }, call);
        return pb.GetDocumentResponse.toJSON({ document, verification, content: Buffer.alloc(0) });
      },
    },
    {
      method: "get",
      path: "/api/v1/transfers/{transferId}/documents/{documentId}/content",
      operationId: "downloadDocument",
      summary: "The bytes of one document of a transfer",
      tag: "documents",
      access: grants("read"),
      params: { transferId: required(schemas, `${T}.GetDocumentRequest`, "transferId"), documentId: required(schemas, `${T}.GetDocumentRequest`, "documentId") },
      response: "binary",
      handle: async ({ params }, { services, call }): Promise<BinaryResult> => {
        const { document, content } = await services.transfers.getDocument({ transferId: params.transferId!, documentId: params.documentId!, includeContent: true }, call);
        return { binary: Buffer.from(content), mediaType: document?.ref?.mediaType || "application/octet-stream", filename: document?.ref?.title || params.documentId! };
      },
    },
    {
      method: "get",
      path: "/api/v1/transfers/{transferId}/evidence",
      operationId: "exportEvidence",
      summary: "The transfer's offline evidence package (ZIP): documents, sealed manifest, seals with time-stamps, chain and CRLs, signed receipts, and the OpenSSL commands that verify it without CaseBridge",
      tag: "documents",
      access: grants("read"),
      params: transferParams,
      response: "binary",
      handle: async ({ params }, { services, call }): Promise<BinaryResult> => {
        const exported = await services.transfers.exportEvidence({ transferId: params.transferId! }, call);
        return { binary: Buffer.from(exported.package), mediaType: "application/zip", filename: exported.fileName };
      },
    },
    {
      method: "post",
      path: "/api/v1/transfers/{transferId}/indictment",
      operationId: "indict",
      summary: "Indict an accepted case to court with the sealed indictment (起诉书)",
      tag: "prosecution",
      access: [{ agency: "prosecution", roles: CASE_ROLES.indict }],
      params: transferParams,
      body: { json: bodyOf(schemas, "IndictRequest", ["transferId"], ["indictment"]) },
      response: { status: 201, json: schemas.ref(`${T}.Transfer`) },
      handle: async ({ params, body }, { services, call }) => transfer(await services.prosecution.indict(pb.IndictRequest.fromJSON({ ...(body as object), transferId: params.transferId }), call)),
    },
    {
      method: "post",
      path: "/api/v1/transfers/{transferId}/registration",
      operationId: "registerCourtCase",
      summary: "File an accepted indictment as a court case (立案)",
      tag: "court",
      access: [{ agency: "court", roles: CASE_ROLES.registerCase }],
      params: transferParams,
      response: { status: 200, json: schemas.ref(`${T}.RegisterCaseResponse`) },
      handle: async ({ params }, { services, call }) => pb.RegisterCaseResponse.toJSON(await services.court.registerCase({ transferId: params.transferId! }, call)),
    },
    {
      method: "post",
      path: "/api/v1/transfers/{transferId}/judgment",
      operationId: "recordJudgment",
      summary: "Seal the judgment and send the outcome to every agency on the case's path",
      tag: "court",
      access: [{ agency: "court", roles: CASE_ROLES.recordJudgment }],
      params: transferParams,
      body: { json: bodyOf(schemas, "RecordJudgmentRequest", ["transferId"], ["judgment", "outcome"]) },
      response: { status: 201, json: schemas.ref(`${T}.RecordJudgmentResponse`) },
      handle: async ({ params, body }, { services, call }) => pb.RecordJudgmentResponse.toJSON(await services.court.recordJudgment(pb.RecordJudgmentRequest.fromJSON({ ...(body as object), transferId: params.transferId }), call)),
    },
    {
      method: "get",
      path: "/api/v1/deadlines",
      operationId: "listDeadlines",
      summary: "Statutory time limits running at the caller's agency, soonest first",
      tag: "cases",
      access: grants("read"),
      response: {
        status: 200,
        json: {
          type: "object",
          required: ["deadlines"],
          properties: {
            deadlines: {
              type: "array",
              items: {
                type: "object",
                required: ["caseId", "kind", "dueAt"],
                properties: {
                  caseId: { type: "string" },
                  caseNumber: { type: "string" },
                  transferId: { type: "string" },
                  kind: { type: "string", enum: ["supplementary-investigation", "prosecution-review", "trial", "measure-ends"] },
                  startedAt: { type: "string", format: "date-time" },
                  dueAt: { type: "string", format: "date-time" },
                  rule: { type: "string" },
                },
                additionalProperties: false,
              },
            },
          },
        },
      },
      handle: async (_input, { services, call, agency }) => {
        const active = [pb.TransferState.TRANSFER_STATE_RECEIVED, pb.TransferState.TRANSFER_STATE_ACCEPTED, pb.TransferState.TRANSFER_STATE_RETURNED];
        const [inbox, outbox, cases] = await Promise.all([
          services.transfers.listTransfers(pb.ListTransfersRequest.fromPartial({ box: pb.Box.BOX_INBOX, states: active, caseId: "", pageSize: 200, pageToken: "" }), call),
          services.transfers.listTransfers(pb.ListTransfersRequest.fromPartial({ box: pb.Box.BOX_OUTBOX, states: [], caseId: "", pageSize: 200, pageToken: "" }), call),
          services.cases.listCases({ approval: pb.Approval.APPROVAL_UNSPECIFIED, pageSize: 200, pageToken: "" }, call),
        ]);
        // A case judged here has no running trial limit: the court's timeline says so.
        const onTrial = inbox.transfers.filter((t) => t.purpose === pb.TransferPurpose.TRANSFER_PURPOSE_INDICTMENT).map((t) => t.case?.caseId ?? "");
        const judged = await Promise.all(onTrial.map(async (caseId) => ((await services.transfers.getCaseTimeline({ caseId }, call)).entries.some((e) => e.action === "judgment" && e.agency === agencyEnumOf(agency)) ? caseId : "")));
        const deadlines = runningDeadlines([...inbox.transfers, ...outbox.transfers], cases.caseFiles, agencyEnumOf(agency), new Set(judged.filter(Boolean)));
        return { deadlines: deadlines.map((d) => ({ ...d, startedAt: d.startedAt.toISOString(), dueAt: d.dueAt.toISOString() })) };
      },
    },
    {
      method: "post",
      path: "/api/v1/cases/{caseId}/measures/{measureId}",
      operationId: "changeMeasure",
      summary: "Extend (new end) or lift (release) a coercive measure; its deadline alerts are rescheduled or cancelled",
      tag: "cases",
      access: grants("openCases", ["police"]),
      params: { caseId: required(schemas, `${T}.ChangeMeasureRequest`, "caseId"), measureId: required(schemas, `${T}.ChangeMeasureRequest`, "measureId") },
      body: { json: bodyOf(schemas, "ChangeMeasureRequest", ["caseId", "measureId"], ["reason"]) },
      response: caseFileJson,
      handle: async ({ params, body }, { services, call }) =>
        caseFile(await services.cases.changeMeasure(pb.ChangeMeasureRequest.fromJSON({ ...(body as object), caseId: params.caseId, measureId: params.measureId }), call)),
    },
    {
      method: "get",
      path: "/api/v1/alerts",
      operationId: "listAlerts",
      summary: "List the statutory deadline alerts the caller gets, newest first, with the caller's unread count (measures: officer in charge, unit leaders, the legal unit once escalated; review, supplementary investigation, trial: the agency's case handlers)",
      tag: "alerts",
      access: grants("alerts", ["police", "prosecution", "court"]),
      query: {
        unacknowledgedOnly: schemas.field(`${D}.ListAlertsRequest`, "unacknowledgedOnly"),
        pageSize: { ...schemas.field(`${D}.ListAlertsRequest`, "pageSize"), minimum: 1, maximum: 200 },
        pageToken: schemas.field(`${D}.ListAlertsRequest`, "pageToken"),
      },
      response: { status: 200, json: schemas.ref(`${D}.ListAlertsResponse`) },
      handle: async ({ query }, { services, call }) => dpb.ListAlertsResponse.toJSON(await services.alerts.listAlerts(dpb.ListAlertsRequest.fromJSON(query), call)),
    },
    {
      method: "post",
      path: "/api/v1/alerts/{alertId}/acknowledgement",
      operationId: "acknowledgeAlert",
      summary: "Acknowledge a deadline alert: the caller has seen it and acts on it",
      tag: "alerts",
      access: grants("alerts", ["police", "prosecution", "court"]),
      params: { alertId: required(schemas, `${D}.AcknowledgeAlertRequest`, "alertId") },
      response: { status: 200, json: schemas.ref(`${D}.Alert`) },
      handle: async ({ params }, { services, call }) => dpb.Alert.toJSON((await services.alerts.acknowledgeAlert({ alertId: params.alertId! }, call)).alert!),
    },
    {
      method: "get",
      path: "/api/v1/incidents",
      operationId: "listIncidents",
      summary: "Security incidents of every agency, newest first: inbound events refused (forged, misrouted, replayed elsewhere) and notices of such sent in an agency's name",
      tag: "audit",
      access: [{ agency: "platform", roles: [...PLATFORM_ROLES.incidents] }],
      query: { limit: { type: "integer", minimum: 1, maximum: 200 } },
      response: {
        status: 200,
        json: {
          type: "object",
          required: ["incidents", "unavailable"],
          properties: {
            incidents: { type: "array", items: schemas.ref("casebridge.trust.v1.SecurityIncident") },
            unavailable: { type: "array", items: { type: "string" }, description: "Agencies whose service did not answer" },
          },
        },
      },
      handle: async ({ query }, { clientsOf, call }) => {
        const limit = Number(query.limit ?? 100);
        const answers = await Promise.allSettled(SEAL_AGENCIES.map((agency) => clientsOf(agency).incidents.listIncidents({ pageSize: limit, pageToken: "" }, call)));
        const all = answers.flatMap((answer) => (answer.status === "fulfilled" ? answer.value.incidents : []));
        // The copy an agency keeps of a notice ("sent in your name") is the same incident as the refusing agency's record: one row.
        const recorded = new Set(all.filter((incident) => !incident.reportedByCounterpart).map((incident) => incident.incidentId));
        const notified = new Set(all.filter((incident) => incident.reportedByCounterpart).map((incident) => incident.incidentId));
        const incidents = all
          .filter((incident) => !incident.reportedByCounterpart || !recorded.has(incident.incidentId))
          .map((incident) => ({ ...incident, namedSenderNotified: !incident.reportedByCounterpart && notified.has(incident.incidentId) }));
        incidents.sort((a, b) => (b.at?.getTime() ?? 0) - (a.at?.getTime() ?? 0));
        return {
          incidents: incidents.slice(0, limit).map((incident) => tpb.SecurityIncident.toJSON(incident)),
          unavailable: SEAL_AGENCIES.filter((_agency, index) => answers[index]!.status === "rejected"),
        };
      },
    },
    {
      method: "get",
      path: "/api/v1/audit/verification",
      operationId: "verifyAuditLog",
      summary: "Recompute the caller's agency's hash-chained audit log",
      tag: "audit",
      access: grants("audit"),
      response: { status: 200, json: schemas.ref(`${T}.VerifyAuditLogResponse`) },
      handle: async (_input, { services, call }) => pb.VerifyAuditLogResponse.toJSON(await services.transfers.verifyAuditLog({}, call)),
    },
    {
      method: "get",
      path: "/api/v1/events",
      operationId: "streamChanges",
      summary: "Server-sent events: a `change` event each time a transfer or case of the caller's agency changes, held by a unit the caller sees",
      tag: "transfers",
      access: grants("read"),
      response: "events",
      handle: async (_input, { agency, principal }, res) =>
        live.stream(agency, { user: principal.user, units: visibleUnits({ agency: agencyEnumOf(agency), unit: principal.unit }), expiresAt: principal.expiresAt, session: principal.session }, res),
    },
  ];
}
