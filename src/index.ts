/** The public TS API of Tributary. */
export { flow, threadModule, FlowBuilder, Handle, FileInput, OutputFile } from "./api/builder.js";
export type { Arg, Args, Word, StepSettings, ModuleSettings, ThreadModule } from "./api/builder.js";
export { runGraph, type RunOptions } from "./project/run-graph.js";
export {
  openProject,
  Project,
  InvalidFlowError,
  type OpenProjectOptions,
  type ProjectRunOptions,
  type ProjectRunResult,
  watchProject,
  type WatchOptions,
  type WatchEvent,
  type WatchResult,
  type CacheSettings,
  type RemoteSettings,
  loadFlow,
  RunnableFlow,
  InvalidInputsError,
  type FlowParameter,
  type LoadFlowOptions,
  type FlowRunOptions,
  type FlowRunResult,
  type InputProblem,
  readRunRecord,
  listRunRecords,
  type RunRecord,
  type RecordedEvent,
  writeRunReport,
  RunReportWriter,
  type RunReport,
  type RunReportOptions,
} from "./project/index.js";
export { UserError } from "./engine/user-error.js";
export type { Plan, PlannedStep } from "./engine/plan.js";
export {
  openCache,
  LocalCache,
  explainLastRun,
  cacheStats,
  gc,
  clean,
  parseSize,
  formatSize,
  formatExplanation,
  type OpenCacheOptions,
  type CacheStats,
  type Explanation,
} from "./cache/index.js";
export type { Executor, Attempt } from "./engine/executor.js";
export type { Outcome, StopReason } from "./engine/outcome.js";
export { simulate, type SimulationOptions, type SimulationResult } from "./engine/simulate.js";
export type { ScheduleMode } from "./engine/scheduler.js";
export type { SlotSource, SlotToken } from "./engine/slots.js";
export { ModuleGates, processModuleGates } from "./engine/module-gates.js";
export type { EngineEvent, EventType, EventOf, Listener, StepInfo } from "./engine/events.js";
export type {
  RunResult,
  RunSummary,
  StepResult,
  StepError,
  StepErrorKind,
  StepStatus,
} from "./engine/result.js";
export type { StepCache, CacheLookup, CacheRequest } from "./engine/cache-port.js";
export { InvalidGraphError, validateGraph } from "./graph/validate.js";
export {
  buildTopology,
  toposort,
  layers,
  bottomLevels,
  findCycle,
  type GraphError,
  type Topology,
} from "./graph/topology.js";
export type * from "./graph/ir.js";
export { isFileValue } from "./graph/ir.js";
export { parseDuration, parseRate } from "./graph/units.js";
export {
  parseFlow,
  formatDiagnostic,
  formatDiagnostics,
  module,
  type CompileOptions,
  type CompileResult,
  type InputFilesPort,
  type Diagnostic,
  type FlowInfo,
  type ModuleDef,
} from "./language/index.js";
export { chooseReporter, type Reporter } from "./reporters/index.js";

import { dirname, resolve } from "node:path";
import { loadModuleFile } from "./executors/load-module.js";
import { diskInputFiles } from "./project/input-files.js";
import { compileFlow as compileWith, type CompileOptions, type CompileResult } from "./language/index.js";

/**
 * The language's compileFlow, importing the flow's `use` files in this process (TypeScript through tsx)
 * and checking its `file(...)` and `glob(...)` inputs on the disk, under the root, as `tributary check`
 * does (pass `inputFiles: undefined` to leave them unchecked).
 */
export function compileFlow(
  source: string,
  file: string,
  options: CompileOptions = {},
): Promise<CompileResult> {
  const root = resolve(options.root ?? dirname(resolve(file)));
  return compileWith(source, file, {
    loadModule: loadModuleFile,
    inputFiles: diskInputFiles(root),
    ...options,
  });
}
