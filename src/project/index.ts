/** The Project API: open a flow or a graph with its cache, history and workers; plan, run, explain. */
export { openProject, Project, type OpenProjectOptions } from "./project.js";
export type { ProjectRunOptions, ProjectRunResult } from "./run.js";
export { watchProject, type WatchOptions, type WatchEvent, type WatchResult } from "./watch.js";
export type { CacheSettings } from "./cache.js";
export type { CleanResult } from "./clean.js";
export type { RemoteSettings } from "./remote.js";
export { InvalidFlowError, DEFAULT_FLOW_FILE, resolveFlowFile } from "./flow.js";
export { runGraph, type RunOptions } from "./run-graph.js";
export {
  loadFlow,
  RunnableFlow,
  InvalidInputsError,
  type FlowParameter,
  type LoadFlowOptions,
  type FlowRunOptions,
  type FlowRunResult,
  type InputProblem,
} from "./runnable.js";
export { localExecutors, closeExecutors } from "./executors.js";
export { tributaryVersion } from "./version.js";
export { readRunRecord, listRunRecords, type RunRecord, type RecordedEvent } from "./run-record.js";
export {
  writeRunReport,
  RunReportWriter,
  REPORT_FILE,
  type RunReport,
  type RunReportOptions,
} from "./report.js";
export { formatExplanation, type Explanation } from "../cache/explain.js";
export { formatSize, parseSize, type CacheStats } from "../cache/maintenance.js";
