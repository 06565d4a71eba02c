/** The checker: names, types, options and outputs of a parsed flow, compiled to the graph IR. */
export { Checker } from "./lower.js";
export type { CheckInput, FlowInfo, InputInfo, LiteralInputs } from "./scope.js";
export { suggest } from "./hints.js";
export { outputPathProblem } from "./paths.js";
export { convertInput, valueToExpr } from "./values.js";
