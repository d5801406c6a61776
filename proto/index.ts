/** The generated CaseBridge contracts, one namespace per proto package. */
export * as common from "./gen/casebridge/common/v1/common";
export * as system from "./gen/casebridge/system/v1/system";
export * as timestamp from "./gen/google/protobuf/timestamp";
