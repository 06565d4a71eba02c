import { readdirSync, readFileSync } from "node:fs";
import { join, posix, resolve } from "node:path";
import { createRequire } from "node:module";
import type * as Tinyglobby from "tinyglobby";
import type { Graph, Step, ValueExpr } from "../graph/ir.js";
import { nonBlankLines, projectOutputs } from "../graph/eval.js";
import { GLOB_OPTIONS, globBase } from "../graph/glob-files.js";
import { itemSteps } from "../graph/item-template.js";
import { forEachFileInput } from "../graph/file-inputs.js";

/**
 * What a run snapshot (run-snapshot.ts) of a graph has to watch. Apart from the record itself so that
 * checking a record does not load the engine's value code.
 */

export interface SnapshotScope {
  /** Every input and output file, relative to the root (or absolute). */
  files: string[];
  /** Directories a glob lists: a file added to or removed from one changes the list. */
  dirs?: string[];
  /** The env vars the steps declare. */
  env: string[];
}

/**
 * The local files a module's code is made of (the module and what it imports, transitively), as its
 * steps' cache keys took them; undefined when the run did not read them.
 */
export type CodeFiles = (moduleFile: string) => readonly string[] | undefined;

/**
 * The files a snapshot would have to watch, or why this graph cannot have one. A function step counts
 * like a command: its cache key is its inputs and its module's code, so the record watches the code's
 * files (`codeFiles`) beside the inputs.
 */
export function snapshotScope(
  graph: Graph,
  root: string,
  codeFiles: CodeFiles = () => undefined,
): SnapshotScope | { reason: string } {
  const files = new Set<string>();
  const dirs = new Set<string>();
  const env = new Set<string>();
  for (const graphStep of graph.steps) {
    let steps: readonly Step[] = [graphStep];
    if (graphStep.action.kind === "map") {
      const items = mapItems(graphStep, root, files, dirs);
      if (typeof items === "string") return { reason: `${graphStep.id}: ${items}` };
      steps = items;
    }
    for (const step of steps) {
      const why = stepScope(step, root, files, env, codeFiles);
      if (why) return { reason: why };
    }
  }
  return { files: [...files], dirs: [...dirs], env: [...env] };
}

/** Adds what one step reads and writes; a reason when it cannot be recorded. */
function stepScope(
  step: Step,
  root: string,
  files: Set<string>,
  env: Set<string>,
  codeFiles: CodeFiles,
): string | undefined {
  {
    const a = step.action;
    if (a.kind === "function") {
      // A declared version stands for the code in the key (cache/fingerprint.ts): nothing to watch.
      if (step.options.version === undefined) {
        const code = a.ref && codeFiles(a.ref.file);
        if (!code) return `the code of ${step.id} is not known`;
        for (const f of code) files.add(f);
      }
    } else if (a.kind !== "process") {
      return `${step.id} is not a command or a module's function`;
    }
    if (step.options.cache === false) return `${step.id} is not cached`;
    for (const name of step.options.env ?? []) env.add(name);
    for (const input of step.inputs) {
      const why = literalFiles(input, files);
      if (why) return `${step.id}: ${why}`;
    }
    try {
      for (const o of projectOutputs(step, root)) files.add(o);
    } catch (err) {
      return (err as Error).message;
    }
  }
  return undefined;
}

/**
 * The items of a map whose list the record can watch: a glob (its files, and the directories it
 * lists), the lines of a named file, or a literal list. Anything computed by a step: a reason.
 */
function mapItems(step: Step, root: string, files: Set<string>, dirs: Set<string>): Step[] | string {
  const list = step.inputs[0]!;
  let items: unknown[];
  if (list.kind === "glob") {
    // Loaded here (its CommonJS build: this must be synchronous), not with the module: most flows never glob.
    const { globSync } = createRequire(import.meta.url)("tinyglobby") as typeof Tinyglobby;
    const found = globSync(list.pattern, { cwd: root, ...GLOB_OPTIONS }).sort();
    for (const f of found) files.add(f);
    for (const d of globDirs(list.pattern, root)) dirs.add(d);
    // The digest is not needed here: only paths make outputs and file names.
    items = found.map((f) => ({ $file: f, digest: "" }));
  } else if (list.kind === "lines" && list.of.kind === "file" && list.of.path.kind === "lit") {
    const path = String(list.of.path.value);
    files.add(path);
    let text: string;
    try {
      text = readFileSync(resolve(root, path), "utf8");
    } catch {
      return `cannot read ${path}`;
    }
    const lines = nonBlankLines(text).map((l) => l.text);
    items = lines;
    if (list.json === true) {
      try {
        items = lines.map((l) => JSON.parse(l) as unknown);
      } catch {
        return `${path} has a line that is not JSON`;
      }
    }
  } else if (list.kind === "lit" && Array.isArray(list.value)) {
    items = list.value;
  } else {
    return "its list is known only at run time";
  }
  try {
    return itemSteps(step, items);
  } catch (err) {
    return (err as Error).message;
  }
}

/**
 * The directories whose entries decide what a glob matches: the fixed part of the pattern (`src` of
 * `src/*.c`) and, when a wildcard spans directories (`src/**` or `src/*` + `/x.c`), every directory below it.
 */
function globDirs(pattern: string, root: string): string[] {
  const { base: fixed, depth } = globBase(pattern);
  const base = fixed || ".";
  const out = [base];
  if (depth !== 0) {
    const walk = (dir: string): void => {
      let entries;
      try {
        entries = readdirSync(resolve(root, dir), { withFileTypes: true });
      } catch {
        return;
      }
      for (const e of entries) {
        if (!e.isDirectory() || e.name.startsWith(".")) continue;
        const sub = dir === "." ? e.name : posix.join(dir, e.name);
        out.push(sub);
        walk(sub);
      }
    };
    walk(base);
  }
  return out.map((d) => (d === "." ? join(root) : d));
}

/** Adds the literal file inputs of `e` to `out`; says why when `e` reads files a record cannot watch. */
function literalFiles(e: ValueExpr, out: Set<string>): string | undefined {
  return forEachFileInput(e, (input) => {
    if (input.kind === "glob") return "glob() can match new files";
    if (input.path === undefined) return "a computed file() path";
    out.add(input.path);
    return undefined;
  });
}
