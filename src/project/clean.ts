import { lstatSync, rmSync } from "node:fs";
import { basename, dirname, join, relative, resolve, sep } from "node:path";
import picomatch from "picomatch";
import { declaredOutputs, projectPath } from "../graph/eval.js";
import { writablePathInside } from "../graph/inside-project.js";
import type { Graph, ValueExpr } from "../graph/ir.js";

export interface CleanOptions {
  /** List what would be removed, remove nothing. */
  dryRun?: boolean;
  /** Project-relative paths written by steps known only at run time (the items of a map), as recorded. */
  recorded?: Iterable<string>;
  /** Absolute paths never removed whatever declares them: the flow file, its modules. */
  keep?: Iterable<string>;
}

export interface CleanResult {
  /** Project-relative paths removed (with dryRun: that would be), sorted. */
  removed: string[];
  /** Outputs left in place because the flow also reads them, with why. */
  kept: { path: string; why: string }[];
  /** Outputs not removed: outside the project, not a file, or the removal failed; with why. */
  refused: { path: string; why: string }[];
  dryRun: boolean;
}

/**
 * Removes the files a flow's steps declare with `output(...)` (plus `recorded` ones), and nothing else:
 * never a file the flow reads (`file(...)`, a `glob(...)` match, the flow file and its modules), never
 * anything outside the project, also through a symbolic link on the way (refused and reported; a
 * symbolic link that is itself the output is removed, not what it points to). Directories stay.
 */
export function cleanOutputs(root: string, graph: Graph, opts: CleanOptions = {}): CleanResult {
  const result: CleanResult = { removed: [], kept: [], refused: [], dryRun: opts.dryRun === true };
  const candidates = new Set<string>();
  const add = (path: string) => {
    try {
      candidates.add(projectPath(path, root, "output"));
    } catch {
      result.refused.push({ path, why: "it is outside the project" });
    }
  };
  for (const step of graph.steps) declaredOutputs(step).forEach(add);
  for (const path of opts.recorded ?? []) add(path);

  const read = flowInputs(root, graph, opts.keep ?? []);
  for (const rel of [...candidates].sort()) {
    if (read(rel)) {
      result.kept.push({ path: rel, why: "it is also an input of the flow" });
      continue;
    }
    // Removing a directory entry writes its directory: that one must be inside the project.
    const parent = dirname(rel) === "." ? resolve(root) : writablePathInside(root, dirname(rel));
    if (parent === undefined) {
      result.refused.push({
        path: rel,
        why: "it is outside the project (a symbolic link on the way leads out)",
      });
      continue;
    }
    const abs = join(parent, basename(rel));
    const st = lstatSync(abs, { throwIfNoEntry: false });
    if (!st) continue;
    if (st.isDirectory()) {
      result.refused.push({ path: rel, why: "it is a directory, not a file a step writes" });
      continue;
    }
    if (!result.dryRun) {
      try {
        rmSync(abs);
      } catch (err) {
        result.refused.push({ path: rel, why: (err as NodeJS.ErrnoException).code ?? String(err) });
        continue;
      }
    }
    result.removed.push(rel);
  }
  return result;
}

/** Whether the flow reads a project-relative path: a literal `file(...)`, a `glob(...)`, or `keep`. */
function flowInputs(root: string, graph: Graph, keep: Iterable<string>): (rel: string) => boolean {
  const files = new Set<string>();
  const globs: ((rel: string) => boolean)[] = [];
  const inside = (abs: string) => {
    const rel = relative(resolve(root), abs);
    if (rel !== "" && !rel.startsWith("..")) files.add(rel.split(sep).join("/"));
  };
  const walk = (e: ValueExpr): void => {
    switch (e.kind) {
      case "file":
        if (e.path.kind === "lit" && typeof e.path.value === "string") inside(resolve(root, e.path.value));
        else walk(e.path);
        break;
      case "glob":
        globs.push(picomatch(e.pattern, { dot: false }));
        break;
      case "list":
        e.items.forEach(walk);
        break;
      case "record":
        Object.values(e.fields).forEach(walk);
        break;
      case "concat":
        e.parts.forEach(walk);
        break;
      default:
        break;
    }
  };
  for (const step of graph.steps) step.inputs.forEach(walk);
  for (const abs of keep) inside(abs);
  return (rel) => files.has(rel) || globs.some((g) => g(rel));
}
