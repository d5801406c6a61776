export * from "./binding";
export * from "./envelope";
export * from "./incidents";
export * from "./routes";
export * from "./inbox";
