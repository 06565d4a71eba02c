/** The run report: one self-contained HTML file drawn from a run's recorded events. */
export {
  buildReportModel,
  ReportModelBuilder,
  type ReportBar,
  type ReportEvent,
  type ReportModel,
  type ReportModelOptions,
  type ReportStatus,
  type ReportStep,
  type ReportTotals,
} from "./model.js";
export { embedJson, GENERATOR_META, renderReport } from "./render.js";
