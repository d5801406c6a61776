import { runService } from "@casebridge/kit";
import { common } from "@casebridge/proto";

runService({ name: "prosecution", agency: common.Agency.AGENCY_PROSECUTION, defaultGrpcPort: 50052 });
