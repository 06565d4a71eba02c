import { readFileSync } from "node:fs";
import { dirname, relative, resolve, sep } from "node:path";
import type { FSWatcher } from "chokidar";
import type { Listener } from "../engine/events.js";
import { UserError } from "../engine/user-error.js";
import type { Graph } from "../graph/ir.js";
import { parseFlow, type Diagnostic } from "../language/index.js";
import { InvalidFlowError, resolveFlowFile } from "./flow.js";
import { openProject, type OpenProjectOptions, type Project } from "./project.js";
import type { ProjectRunOptions, ProjectRunResult } from "./run.js";
import { globMatches, isInside, watchPlan, watchSet, type WatchSet } from "./watch-set.js";

/**
 * `run --watch`: run the flow, then run it again whenever a file it reads changes, until stopped.
 *
 * What is watched is what the run reads (watch-set.ts). Which steps rerun is the cache's business: a
 * rerun is an ordinary run, in which every step whose inputs did not change is a cache hit; there is no
 * second change detector here, only the trigger.
 *
 * Changes are debounced (a burst, like a `git checkout` of many files, is one rerun). A change during a
 * run does not cancel it: the run finishes, then the flow runs once more for everything that changed
 * meanwhile. Finishing keeps every result the run was about to have (a cancelled compile would be lost,
 * and its restart would cost as much again), each run ends with its own complete summary, and the
 * rerun costs only what really changed, because the finished steps are in the cache by then.
 *
 * The flow file is read and compiled afresh for every run: a flow that stops compiling is reported
 * (`invalid`) and the loop waits for the next change. A changed module file ends the watch instead
 * (`modulesChanged`): Node keeps every module it imported, so only a new process runs the new code.
 * Nothing is printed here: everything is an event.
 */

export type WatchEvent =
  /** A run is about to start, `changed` the files that caused it (project-relative; empty the first time). */
  | { type: "run-start"; at: Date; changed: string[] }
  | { type: "run-end"; result: ProjectRunResult; warnings: Diagnostic[]; source: string | undefined }
  /** The flow does not compile (`at`, `changed` as for run-start): waiting for the next change. */
  | { type: "invalid"; at: Date; changed: string[]; error: InvalidFlowError }
  /** The run could not start (another run holds the project, the flow file is gone): waiting. */
  | { type: "failed"; at: Date; changed: string[]; error: UserError }
  /** Waiting for changes to these many files and patterns. */
  | { type: "watching"; files: number; patterns: number };

export interface WatchOptions extends Omit<ProjectRunOptions, "onEvent" | "signal" | "handleSignals"> {
  /** Every event of every run (reporters). */
  onEvent?: Listener | Listener[];
  /** What the watch does; awaited, so a listener may prepare for the run (open a reporter). */
  onWatch?: (e: WatchEvent) => void | Promise<void>;
  /** Aborting it stops the watch (and cancels a run in progress). */
  signal?: AbortSignal;
  /** Stop on SIGINT/SIGTERM (a command-line program sets it); a second one during a run kills its steps. */
  handleSignals?: boolean;
  /** How long the files must be quiet before a rerun. Default 150 ms. */
  debounceMs?: number;
}

export interface WatchResult {
  /** Stopped by the signal (or SIGINT/SIGTERM). */
  interrupted: boolean;
  /** The last run that ran, if any. */
  last?: ProjectRunResult;
  /**
   * The watch ended because these module files changed (project-relative): code this process has
   * imported cannot be imported again, so a new process must go on (`run --watch` restarts itself).
   */
  modulesChanged?: string[];
}

const DEFAULT_DEBOUNCE_MS = 150;

/** Runs the project's flow and reruns it on every change of what it reads, until stopped. */
export async function watchProject(open: OpenProjectOptions, opts: WatchOptions = {}): Promise<WatchResult> {
  const stop = new AbortController();
  const onAbort = () => stop.abort();
  if (opts.signal?.aborted) stop.abort();
  opts.signal?.addEventListener("abort", onAbort, { once: true });
  const onSignal = () => stop.abort();
  if (opts.handleSignals) {
    process.on("SIGINT", onSignal);
    process.on("SIGTERM", onSignal);
  }
  // The flow file is named once: a later run of the same file must not depend on the working directory.
  const flowFile =
    open.graph || (open.flow === undefined && open.root !== undefined)
      ? undefined
      : resolveFlowFile(open.flow);
  const options: OpenProjectOptions = flowFile ? { ...open, flow: flowFile } : open;
  const watcher = new Watcher(opts.debounceMs ?? DEFAULT_DEBOUNCE_MS, stop.signal);
  const tell = async (e: WatchEvent) => {
    await opts.onWatch?.(e);
  };
  const { onWatch: _onWatch, debounceMs: _debounce, signal: _signal, ...runOptions } = opts;
  const root = projectRoot(options, flowFile);
  const shown = (f: string) => displayed(f, root);
  let last: ProjectRunResult | undefined;
  let set: WatchSet | undefined;
  let changed: string[] = [];
  try {
    while (!stop.signal.aborted) {
      const at = new Date();
      let project: Project | undefined;
      let graph: Graph | undefined;
      try {
        project = openProject(options);
        graph = await project.graph();
      } catch (err) {
        if (!(err instanceof UserError)) throw err;
        const invalid = err instanceof InvalidFlowError;
        await tell(
          invalid
            ? { type: "invalid", at, changed: changed.map(shown), error: err }
            : { type: "failed", at, changed: changed.map(shown), error: err },
        );
        // Until it compiles again: the flow file, its `use` files, the inputs it names and what the last
        // good run read.
        const now = await watchSet({
          ...sources(options, flowFile, undefined, invalid ? err.source : undefined),
          // A missing input or an empty glob is fixed by creating the file: watch for it.
          literals:
            invalid && err.info ? { files: err.info.inputFiles, globs: err.info.inputGlobs } : undefined,
        });
        set = set ? mergeSets(set, now) : now;
        await watcher.watch(set);
      }
      if (project && graph) {
        const modules = (await project.info())?.modules ?? [];
        set = await watchSet(sources(options, flowFile, { graph, modules }, undefined));
        // Watching before the run: what changes while it runs causes the next one. The flow file was read
        // before the watcher was ready: if it changed in between, that is a change too.
        await watcher.watch(set);
        if (flowFile && project.sourceText !== readText(flowFile)) watcher.changed(flowFile);
        await tell({ type: "run-start", at, changed: changed.map(shown) });
        try {
          last = await project.run({ ...runOptions, signal: stop.signal });
          const warnings = await project.warnings();
          await tell({ type: "run-end", result: last, warnings, source: project.sourceText });
        } catch (err) {
          if (!(err instanceof UserError)) throw err;
          await tell({ type: "failed", at, changed: changed.map(shown), error: err });
        }
      }
      if (stop.signal.aborted) break;
      await tell({ type: "watching", files: set?.files.size ?? 0, patterns: set?.globs.length ?? 0 });
      const next = await watcher.nextChange(set, root);
      if (!next) break;
      changed = next;
      const code = next.filter((f) => set?.moduleCode.has(f));
      if (code.length > 0) return { interrupted: false, last, modulesChanged: code.map(shown) };
    }
  } finally {
    opts.signal?.removeEventListener("abort", onAbort);
    if (opts.handleSignals) {
      process.off("SIGINT", onSignal);
      process.off("SIGTERM", onSignal);
    }
    await watcher.close();
  }
  return { interrupted: stop.signal.aborted, last };
}

function projectRoot(open: OpenProjectOptions, flowFile: string | undefined): string {
  return resolve(open.root ?? (flowFile ? dirname(flowFile) : process.cwd()));
}

/** Where the watch set comes from this time: a compiled flow, or only the text of one that is not. */
function sources(
  open: OpenProjectOptions,
  flowFile: string | undefined,
  compiled: { graph: Graph; modules: string[] } | undefined,
  source: string | undefined,
): Parameters<typeof watchSet>[0] {
  const root = projectRoot(open, flowFile);
  const ignoredDirs = [resolve(open.stateDir ?? resolve(root, ".tributary"))];
  if (open.cache && open.cache.dir !== undefined) ignoredDirs.push(resolve(open.cache.dir));
  return {
    root,
    flowFile,
    graph: compiled?.graph,
    modules: compiled ? compiled.modules : useFiles(source, flowFile),
    ignoredDirs,
  };
}

function mergeSets(a: WatchSet, b: WatchSet): WatchSet {
  const patterns = new Set(b.globs.map((g) => g.pattern));
  return {
    files: new Set([...a.files, ...b.files]),
    globs: [...b.globs, ...a.globs.filter((g) => !patterns.has(g.pattern))],
    outputs: new Set([...a.outputs, ...b.outputs]),
    ignoredDirs: [...new Set([...a.ignoredDirs, ...b.ignoredDirs])],
    moduleCode: new Set([...a.moduleCode, ...b.moduleCode]),
  };
}

/** The `use` files of a flow that did not compile: its `use` lines, as far as it parses. */
function useFiles(source: string | undefined, flowFile: string | undefined): string[] {
  if (source === undefined || flowFile === undefined) return [];
  return parseFlow(source, flowFile)
    .ast.statements.filter((s) => s.kind === "use")
    .map((s) => resolve(dirname(flowFile), s.path));
}

function readText(file: string): string | undefined {
  try {
    return readFileSync(file, "utf8");
  } catch {
    return undefined;
  }
}

function displayed(abs: string, root: string): string {
  const r = relative(root, abs);
  return r.startsWith(`..${sep}`) || r === ".." ? abs : r.split(sep).join("/");
}

/**
 * The file watcher (chokidar, loaded only by a watch): the files of a watch set and the directories of
 * its globs, with every event collected until the files have been quiet for the debounce time.
 */
class Watcher {
  private fs: FSWatcher | undefined;
  private roots = "";
  private set: WatchSet | undefined;
  /** Directories looked into beyond the globs' (see watchPlan). */
  private lookInto = new Set<string>();
  private readonly pending = new Set<string>();
  private events = 0;
  private wake: (() => void) | undefined;

  constructor(
    private readonly debounceMs: number,
    private readonly signal: AbortSignal,
  ) {
    signal.addEventListener("abort", () => this.wake?.(), { once: true });
  }

  /** Watches this set (a new watcher only when the directories to watch changed), ready when it resolves. */
  async watch(set: WatchSet): Promise<void> {
    this.set = set;
    const plan = watchPlan(set);
    this.lookInto = plan.lookInto;
    const roots = plan.roots.sort();
    const key = JSON.stringify([roots, set.globs.map((g) => [g.pattern, g.depth])]);
    if (this.fs && key === this.roots) return;
    await this.fs?.close();
    this.roots = key;
    const { watch } = await import("chokidar");
    const fs = watch(roots, {
      ignoreInitial: true,
      ignored: (path) => this.ignored(resolve(path)),
    });
    this.fs = fs;
    fs.on("all", (event, path) => {
      // A new directory counts (the glob check in nextChange looks inside it): a file created in it
      // before the watcher looked inside has no event of its own.
      if (event === "unlinkDir") return;
      this.pending.add(resolve(path));
      this.events++;
      this.wake?.();
    });
    // A watcher error (a directory removed under it, too many watches) must not end the process.
    fs.on("error", () => {});
    await new Promise<void>((r) => fs.once("ready", () => r()));
  }

  /** Counts a change the watcher could not see (it happened before the watcher was ready). */
  changed(file: string): void {
    this.pending.add(file);
    this.events++;
    this.wake?.();
  }

  /** What not to watch: state, outputs, and under a glob's directory what its pattern cannot match. */
  private ignored(path: string): boolean {
    const set = this.set;
    if (!set) return false;
    if (set.files.has(path)) return false;
    if (set.outputs.has(path) || set.ignoredDirs.some((d) => isInside(path, d))) return true;
    for (const g of set.globs) {
      if (!isInside(path, g.base)) continue;
      const rel = relative(g.base, path);
      if (rel === "") return false;
      const parts = rel.split(sep);
      // glob() skips names starting with a dot; node_modules is no source tree.
      if (
        parts.some((p) => p.startsWith(".") || (p === "node_modules" && !g.pattern.includes("node_modules")))
      )
        continue;
      if (g.depth === undefined || parts.length <= g.depth + 1) return false;
    }
    // Neither a watched file nor where a glob may match: only a watched file's own directory is looked
    // at, and those on the way to a file or glob directory that does not exist yet (watchPlan).
    return !this.lookInto.has(path);
  }

  /**
   * The files that changed (absolute), once they have been quiet for the debounce time: only those the
   * flow reads (a new file in a glob's directory counts when the glob matches it); undefined when stopped.
   */
  async nextChange(set: WatchSet | undefined, root: string): Promise<string[] | undefined> {
    for (;;) {
      while (this.pending.size === 0) {
        if (this.signal.aborted) return undefined;
        await new Promise<void>((r) => (this.wake = r));
        this.wake = undefined;
      }
      // Quiet for debounceMs: a burst of changes is one rerun.
      for (let seen = -1; seen !== this.events;) {
        seen = this.events;
        await this.sleep(this.debounceMs);
        if (this.signal.aborted) return undefined;
      }
      const batch = [...this.pending];
      this.pending.clear();
      if (!set) return batch;
      const relevant = new Set(batch.filter((f) => set.files.has(f)));
      for (const g of set.globs) {
        const inside = batch.filter((f) => !relevant.has(f) && isInside(f, g.base));
        if (inside.length === 0) continue;
        const now = await globMatches(g, root);
        for (const f of inside) if (g.matches.has(f) || now.has(f)) relevant.add(f);
        for (const f of now) if (!g.matches.has(f)) relevant.add(f);
      }
      if (relevant.size > 0) return [...relevant].sort();
    }
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((r) => {
      const done = () => {
        clearTimeout(t);
        this.signal.removeEventListener("abort", done);
        r();
      };
      const t = setTimeout(done, ms);
      this.signal.addEventListener("abort", done, { once: true });
    });
  }

  async close(): Promise<void> {
    await this.fs?.close();
    this.fs = undefined;
  }
}
