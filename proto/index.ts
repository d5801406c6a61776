/** The generated CaseBridge contracts, one namespace per proto package. */
export * as common from "./gen/casebridge/common/v1/common";
export * as seal from "./gen/casebridge/seal/v1/seal";
export * as system from "./gen/casebridge/system/v1/system";
export * as timestamp from "./gen/google/protobuf/timestamp";
export * as transfer from "./gen/casebridge/transfer/v1/transfer";
