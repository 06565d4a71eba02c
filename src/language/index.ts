/** The flow language: parse, check and compile `.flow` files to the graph IR. */
export { parseFlow } from "./parser.js";
export { compileFlow, type CompileOptions, type CompileResult } from "./compiler.js";
export type { ModuleLoader } from "./module-loader.js";
export type { InputFilesPort } from "./input-files.js";
export type { FlowInfo, InputInfo } from "./checker/index.js";
export {
  formatDiagnostic,
  formatDiagnostics,
  LineMap,
  type Diagnostic,
  type FormatOptions,
} from "./diagnostics.js";
export type { FlowAst, Statement, Expr, TypeNode, Span } from "./ast.js";
export { tokenize, type Token, type TokenKind } from "./lexer.js";
export { showType, type Type } from "./types.js";
export { inputExpr } from "./checker/values.js";
export { OPTION_NAMES } from "../graph/options.js";
export {
  module,
  isModuleDef,
  ModuleValueError,
  type ModuleDef,
  type ModuleOptions,
  type InferArgs,
  type InferCallArgs,
} from "./module-def.js";
