import { runService } from "@casebridge/kit";
import { spec } from "./spec";

runService(spec);
