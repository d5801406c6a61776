export * from "./credentials";
export * from "./permissions";
