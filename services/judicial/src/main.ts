import { runService } from "@casebridge/kit";
import { common } from "@casebridge/proto";

runService({ name: "judicial", agency: common.Agency.AGENCY_JUDICIAL, defaultGrpcPort: 50054 });
