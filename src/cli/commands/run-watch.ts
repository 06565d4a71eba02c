import type { EngineEvent } from "../../engine/events.js";
import { EVENTS_VERSION } from "../../reporters/json-lines.js";
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
 * own reporter and summary; with --json the watch's own events are JSON lines too. A changed module
 * file restarts the command in a new process (Node cannot import changed code again). Ends only on
 * Ctrl-C / SIGTERM: exit 130.
 */
export async function runWatch(
  fileArg: string | undefined,
  open: OpenProjectOptions,
  run: Omit<ProjectRunOptions, "onEvent" | "signal" | "handleSignals">,
  view: ChooseReporterOptions,
  root: string,
): Promise<number> {
  // Where the command was given: a restart runs the same command line from there.
  const cwd = process.cwd();
  // In-process steps see the project root as their working directory, as processes do.
  process.chdir(root);
  const { watchProject } = await import("../../project/watch.js");
  const json = view.json === true;
  const tty = !json && process.stderr.isTTY === true;
  let reporter: Reporter | undefined;
  let runs = 0;
  const line = (text: string) => process.stderr.write(`${text}\n`);
  const jsonLine = (e: Record<string, unknown>) =>
    process.stdout.write(`${JSON.stringify({ v: EVENTS_VERSION, ...e })}\n`);

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
        printOutputs(e.result, json || view.quiet === true);
        return;
      case "invalid":
        header(e.at, e.changed);
        line(await flowErrorsText(fileArg, e.error));
        return;
      case "failed":
        header(e.at, e.changed);
        line(e.error.message);
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
  if (result.modulesChanged) {
    const at = new Date().toTimeString().slice(0, 8);
    const text = `${listed(result.modulesChanged)} changed: restarting to import the new module code`;
    if (json) jsonLine({ type: "watch-restart", changed: result.modulesChanged });
    else line(`\n── ${at}: ${text} ──`);
    if (process.env[RESTARTED] !== undefined) return EXIT_RESTART;
    return superviseRestarts(cwd);
  }
  if (result.interrupted) return EXIT.interrupted;
  return result.last?.ok === false ? EXIT.stepFailed : EXIT.ok;
}

/** Set in the processes a watch restarts; they end with EXIT_RESTART to be restarted again. */
const RESTARTED = "TRIBUTARY_WATCH_RESTARTED";
const EXIT_RESTART = 75;

/**
 * Goes on watching in a new process (the same command line, from where it was given), again each time
 * that one ends because module code changed; ends as it ends. The first process stays as the one that
 * restarts, so there is never more than one watching process below it. The new one gets a process group
 * of its own, so a Ctrl-C reaches it once, from here.
 */
async function superviseRestarts(cwd: string): Promise<number> {
  const { spawn } = await import("node:child_process");
  let child: import("node:child_process").ChildProcess | undefined;
  const forward = (sig: NodeJS.Signals) => child?.kill(sig);
  process.on("SIGINT", forward);
  process.on("SIGTERM", forward);
  try {
    for (;;) {
      const c = spawn(process.execPath, [...process.execArgv, ...process.argv.slice(1)], {
        cwd,
        env: { ...process.env, [RESTARTED]: "1" },
        stdio: "inherit",
        detached: true,
      });
      child = c;
      const code = await new Promise<number>((r) =>
        c.on("close", (code, signal) => r(code ?? (signal ? EXIT.interrupted : 1))),
      );
      if (code !== EXIT_RESTART) return code;
    }
  } finally {
    process.off("SIGINT", forward);
    process.off("SIGTERM", forward);
  }
}

/** `a.c`, `a.c and b.c`, `a.c, b.c and 3 more`. */
function listed(files: string[]): string {
  if (files.length <= 2) return files.join(" and ");
  return `${files.slice(0, 2).join(", ")} and ${files.length - 2} more`;
}
