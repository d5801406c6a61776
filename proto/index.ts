import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
/** The generated CaseBridge contracts, one namespace per proto package. */
export * as common from "./gen/casebridge/common/v1/common";
export * as seal from "./gen/casebridge/seal/v1/seal";
export * as system from "./gen/casebridge/system/v1/system";
export * as timestamp from "./gen/google/protobuf/timestamp";
export * as transfer from "./gen/casebridge/transfer/v1/transfer";
export * as runtime from "./gen/casebridge/runtime/v1/runtime";
export * as deadline from "./gen/casebridge/deadline/v1/deadline";
export * as trust from "./gen/casebridge/trust/v1/trust";

/** The file descriptor set of every contract (`buf build` output), for reflection such as the gateway's JSON schemas. */
export function descriptorSet(): Uint8Array {
  // From proto/dist when built, from proto/ when the sources run (tests).
  const built = join(__dirname, "..", "gen", "casebridge.binpb");
  return readFileSync(existsSync(built) ? built : join(__dirname, "gen", "casebridge.binpb"));
}
