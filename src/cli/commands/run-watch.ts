import type { EngineEvent } from "../../engine/events.js";
import type { OpenProjectOptions } from "../../project/project.js";
import type { ProjectRunOptions } from "../../project/run.js";
import type { WatchEvent } from "../../project/watch.js";
import { loadReporter, type ChooseReporterOptions } from "../../reporters/choose.js";
import type { Reporter } from "../../reporters/types.js";
import { EXIT } from "../exit-codes.js";
import { flowErrorsText, printWarnings } from "../flow-errors.js";
import { printOutputs } from "../output.js";

/** Clears a terminal's screen and its scrollback, cursor to the top. */
const CLEAR = "\x1b[2J\x1b[3J\x1b[H";

/**
 * `run --watch`: the watch loop of the Project API (project/watch.ts), shown. Each rerun starts on a
 * cleared screen on a terminal (a separator line elsewhere) saying when and what changed, then gets its
 * own reporter and summary; with --json the watch's own events are JSON lines too. Ends only on
 * Ctrl-C / SIGTERM: exit 130.
 */
export async function runWatch(
  fileArg: string | undefined,
  open: OpenProjectOptions,
  run: Omit<ProjectRunOptions, "onEvent" | "signal" | "handleSignals">,
  view: ChooseReporterOptions,
): Promise<number> {
  const { watchProject } = await import("../../project/watch.js");
  const json = view.json === true;
  const tty = !json && process.stderr.isTTY === true;
  let reporter: Reporter | undefined;
  let runs = 0;
  const line = (text: string) => process.stderr.write(`${text}\n`);
  const jsonLine = (e: Record<string, unknown>) => process.stdout.write(`${JSON.stringify(e)}\n`);

  /** Before each run or failed attempt after the first: when, and what changed. */
  const header = (at: Date, changed: string[]) => {
    if (runs++ === 0) return;
    if (json) {
      jsonLine({ type: "watch-rerun", at: at.toISOString(), changed });
      return;
    }
    const what = changed.length === 0 ? "" : `: ${listed(changed)} changed`;
    const text = `── ${at.toTimeString().slice(0, 8)}${what} ──`;
    if (tty) process.stderr.write(CLEAR);
    else line("");
    line(text);
  };

  const onWatch = async (e: WatchEvent): Promise<void> => {
    switch (e.type) {
      case "run-start":
        header(e.at, e.changed);
        reporter = await loadReporter(view);
        return;
      case "run-end":
        reporter?.close();
        reporter = undefined;
        if (!e.result.noOp) await printWarnings(e.source, e.warnings);
        printOutputs(
          e.result.ok ? e.result.outputs : undefined,
          e.result.declaredOutputs,
          json || view.quiet === true,
        );
        return;
      case "invalid":
        header(e.at, e.changed);
        line(await flowErrorsText(fileArg, e.error));
        return;
      case "failed":
        header(e.at, e.changed);
        line(e.error.message);
        return;
      case "stale-modules":
        line(
          `warning: ${listed(e.files)} changed, but JavaScript modules are imported once per process: restart to use ${e.files.length === 1 ? "it" : "them"} (TypeScript modules are imported afresh for every run)`,
        );
        return;
      case "watching":
        if (json) jsonLine({ type: "watching", files: e.files, patterns: e.patterns });
        else if (view.quiet !== true)
          line(
            `watching ${e.files} file${e.files === 1 ? "" : "s"}${e.patterns > 0 ? ` and ${e.patterns} pattern${e.patterns === 1 ? "" : "s"}` : ""} for changes (Ctrl-C to stop)`,
          );
        return;
    }
  };

  const result = await watchProject(open, {
    ...run,
    handleSignals: true,
    onEvent: (e: EngineEvent) => reporter?.onEvent(e),
    onWatch,
  }).finally(() => reporter?.close());
  if (result.interrupted) return EXIT.interrupted;
  return result.last?.ok === false ? EXIT.stepFailed : EXIT.ok;
}

/** `a.c`, `a.c and b.c`, `a.c, b.c and 3 more`. */
function listed(files: string[]): string {
  if (files.length <= 2) return files.join(" and ");
  return `${files.slice(0, 2).join(", ")} and ${files.length - 2} more`;
}
