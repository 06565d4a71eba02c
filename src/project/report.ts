import { closeSync, openSync, readSync, statSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { writeFileAtomicSync } from "../cache/atomic-write.js";
import { makeDirsSync } from "../cache/fs-ops.js";
import type { EngineEvent } from "../engine/events.js";
import { UserError } from "../engine/user-error.js";
import {
  buildReportModel,
  GENERATOR_META,
  renderReport,
  ReportModelBuilder,
  type ReportEvent,
  type ReportModel,
} from "../reporters/html/index.js";
import { readRunRecordIn } from "./run-record.js";

/** Where a project's report goes unless told otherwise, in its state directory. */
export const REPORT_FILE = "report.html";

export interface RunReportOptions {
  /** The run to report (default: the last one recorded). */
  runId?: string;
  /** The file to write (default `<stateDir>/report.html`); relative to the current directory. */
  file?: string;
  /** The project's state directory (default `<root>/.tributary`). */
  stateDir?: string;
}

export interface RunReport {
  file: string;
  runId: string | undefined;
  /** False when the record has no run-end (a killed run) or damaged lines: the report says so. */
  complete: boolean;
  steps: number;
  bytes: number;
}

/**
 * Writes the HTML report of a recorded run (`tributary report`): one self-contained file (graph,
 * timeline, step details, totals) that any browser opens without a network.
 */
export function writeRunReport(root: string, opts: RunReportOptions = {}): RunReport {
  const stateDir = resolve(opts.stateDir ?? join(root, ".tributary"));
  const file = resolve(opts.file ?? join(stateDir, REPORT_FILE));
  checkReportFile(file);
  const record = readRunRecordIn(stateDir, opts.runId);
  const model = buildReportModel(record.events, { runId: record.runId, complete: record.complete });
  return writeReport(model, file);
}

/**
 * The report of the run it listens to (`run --report`), built as the events come: the run's record is
 * not read back, and of each step's output only the tail the report shows is kept.
 *
 *     const report = new RunReportWriter();
 *     await project.run({ onEvent: report.onEvent });
 *     report.write("report.html");
 */
export class RunReportWriter {
  private readonly builder = new ReportModelBuilder();
  readonly onEvent = (e: EngineEvent): void => this.builder.add(e as unknown as ReportEvent);

  /** Writes the report of what it was told; call once, after the run. */
  write(file: string): RunReport {
    checkReportFile(resolve(file));
    return writeReport(this.builder.finish(), resolve(file));
  }
}

/**
 * `--report` takes an optional file name, so `run --report build.flow` names the flow as the report:
 * a flow file, or any existing file that is not an earlier report, is never written over.
 */
export function checkReportFile(file: string): void {
  const hint =
    "(`--report` takes an optional file name: put it after the flow, `tributary run build.flow --report`, or name an .html file)";
  if (file.endsWith(".flow")) {
    throw new UserError(`will not write the report to ${file}: it is named like a flow file ${hint}`);
  }
  const stat = statSync(file, { throwIfNoEntry: false });
  if (!stat) return;
  if (stat.isDirectory()) {
    throw new UserError(`cannot write the report to ${file}: it is a directory; name a file in it`);
  }
  let head = "";
  try {
    const fd = openSync(file, "r");
    try {
      const buf = Buffer.alloc(4096);
      head = buf.toString("utf8", 0, readSync(fd, buf, 0, buf.length, 0));
    } finally {
      closeSync(fd);
    }
  } catch {
    /* unreadable: not a report we wrote */
  }
  if (!head.includes(GENERATOR_META)) {
    throw new UserError(
      `will not write the report over ${file}: it exists and is not a Tributary report ${hint}`,
    );
  }
}

/** Writes a report to a file {@link checkReportFile} allowed. */
function writeReport(model: ReportModel, file: string): RunReport {
  const html = renderReport(model);
  try {
    makeDirsSync(dirname(file));
    writeFileAtomicSync(file, html);
  } catch (err) {
    if (err instanceof UserError) throw err;
    const why = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
    throw new UserError(`cannot write the report to ${file} (${why}); name another file with -o FILE`);
  }
  return {
    file,
    runId: model.runId,
    complete: model.complete,
    steps: model.steps.length,
    bytes: Buffer.byteLength(html),
  };
}
