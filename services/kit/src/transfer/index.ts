export * from "./document-store";
export * from "./domain";
export * from "./transfer-engine";
export * from "./transfer.handlers";
export * from "./transfer-setup";
export * from "./audit-cli";
export * from "./roles";
export * from "./deadlines";
