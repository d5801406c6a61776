import { runService } from "@casebridge/kit";
import { common } from "@casebridge/proto";

runService({ name: "police", agency: common.Agency.AGENCY_POLICE, defaultGrpcPort: 50051 });
