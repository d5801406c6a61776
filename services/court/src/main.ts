import { runService } from "@casebridge/kit";
import { common } from "@casebridge/proto";

runService({ name: "court", agency: common.Agency.AGENCY_COURT, defaultGrpcPort: 50053 });
