export * from "./domain";
export * from "./deadline-alerts";
export * from "./deadline-setup";
