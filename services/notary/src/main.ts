import { runService } from "@casebridge/kit";
import { common } from "@casebridge/proto";

runService({ name: "notary", agency: common.Agency.AGENCY_NOTARY, defaultGrpcPort: 50055 });
