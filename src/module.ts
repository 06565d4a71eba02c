/**
 * `tributary-flow/module`: what a module file a flow `use`s needs, and nothing else. A module is loaded
 * on every run of its flow; importing `module` from the package's main entry would load the whole
 * library's ES modules with it (about 130 of them, ~100 ms here), where this entry is two files.
 */
export {
  module,
  ModuleValueError,
  type ModuleDef,
  type ModuleOptions,
  type InferArgs,
  type InferCallArgs,
} from "./language/module-def.js";
export type { StepContext } from "./graph/ir.js";
