import { existsSync } from "node:fs";
import { dirname, isAbsolute, relative, resolve, sep } from "node:path";
import { projectOutputs } from "../graph/eval.js";
import { forEachFileInput } from "../graph/file-inputs.js";
import { globBase, globFiles } from "../graph/glob-files.js";
import type { Graph, StepAction } from "../graph/ir.js";
import { ModuleGraph } from "../graph/module-code.js";

/**
 * What `run --watch` watches: every file a run of the flow reads, as the project already knows it — the
 * flow file, its `use` modules with every local file they import (the walk that keys module code in the
 * cache), the `file(...)` and `glob(...)` inputs of the graph (the walk the null-run record uses), with
 * what each glob matches now (the rule the run globs by) — and what it must not react to: the files the
 * steps write and the project's state directory, so that a run never triggers itself.
 */
export interface WatchSet {
  /** Absolute paths of the files read. */
  files: Set<string>;
  /** Each glob with the directory its matches are under (absolute) and what it matches now. */
  globs: WatchedGlob[];
  /** Absolute paths written by the steps (declared outputs). */
  outputs: Set<string>;
  /** Directories nothing in which is an input: the state directory, the cache. */
  ignoredDirs: string[];
  /**
   * The module files and every local file they import: Node keeps what it imported (tsx re-imports a
   * TypeScript `use` file, but not the files it imports), so a change to one is only seen by a new process.
   */
  moduleCode: Set<string>;
}

export interface WatchedGlob {
  pattern: string;
  /** Absolute: where its matches are. */
  base: string;
  /** How deep under `base` a match may be (undefined: any depth, for `**`). */
  depth: number | undefined;
  /** Absolute paths it matches now. */
  matches: Set<string>;
}

export interface WatchSetSources {
  root: string;
  /** The flow file, when the project is one. */
  flowFile?: string;
  /** The graph, when the flow compiled. */
  graph?: Graph;
  /** Absolute paths of the `use` files (also those of a flow that did not compile). */
  modules: readonly string[];
  /** The `file("...")` paths and `glob("...")` patterns the flow writes (of a flow that did not compile). */
  literals?: { files: readonly string[]; globs: readonly string[] };
  ignoredDirs: readonly string[];
}

/** The watch set of a project as it is now. */
export async function watchSet(src: WatchSetSources): Promise<WatchSet> {
  const { root } = src;
  const files = new Set<string>();
  const outputs = new Set<string>();
  const patterns = new Set<string>();
  if (src.flowFile) files.add(resolve(src.flowFile));
  const moduleFiles = new Set(src.modules.map((m) => resolve(root, m)));
  for (const f of src.literals?.files ?? []) files.add(resolve(root, f));
  for (const g of src.literals?.globs ?? []) patterns.add(g);
  for (const step of src.graph?.steps ?? []) {
    for (const input of step.inputs) {
      forEachFileInput(input, (i) => {
        // A path computed at run time is not known here; the step reads it when it runs.
        if (i.kind === "file" && i.path !== undefined) files.add(resolve(root, i.path));
        else if (i.kind === "glob") patterns.add(i.pattern);
        return undefined;
      });
    }
    const ref = moduleOf(step.action);
    if (ref) moduleFiles.add(ref.startsWith("file:") ? new URL(ref).pathname : resolve(root, ref));
    try {
      for (const o of projectOutputs(step, root)) outputs.add(resolve(root, o));
    } catch {
      // An output outside the project fails its step; it is no input either.
    }
  }
  const modules = new ModuleGraph(root);
  const moduleCode = new Set<string>();
  await Promise.all(
    [...moduleFiles].map(async (m) => {
      files.add(m);
      moduleCode.add(m);
      try {
        const id = await modules.identity(m);
        for (const f of Object.keys(id.files)) {
          files.add(resolve(root, f));
          moduleCode.add(resolve(root, f));
        }
      } catch {
        // Unreadable now (being saved, or deleted): the module file itself is watched.
      }
    }),
  );
  const globs = await Promise.all(
    [...patterns].map(async (pattern): Promise<WatchedGlob> => {
      const { base, depth } = globBase(pattern);
      const found = await globFiles(pattern, root).catch(() => [] as string[]);
      return {
        pattern,
        base: resolve(root, base),
        depth,
        matches: new Set(found.map((f) => resolve(root, f))),
      };
    }),
  );
  for (const o of outputs) files.delete(o);
  return { files, globs, outputs, ignoredDirs: [...src.ignoredDirs], moduleCode };
}

/** The files a glob matches now (absolute), by the rule the run globs by. */
export async function globMatches(g: WatchedGlob, root: string): Promise<Set<string>> {
  const found = await globFiles(g.pattern, root).catch(() => [] as string[]);
  return new Set(found.map((f) => resolve(root, f)));
}

function moduleOf(action: StepAction): string | undefined {
  if (action.kind === "function") return action.ref?.file;
  if (action.kind === "map") return moduleOf(action.item);
  return undefined;
}

/** Whether `path` is `dir` or inside it (absolute paths). */
export function isInside(path: string, dir: string): boolean {
  const r = relative(dir, path);
  return r === "" || (!r.startsWith(`..${sep}`) && r !== ".." && !isAbsolute(r));
}

/**
 * What the watcher is given: the files and the globs' directories, each that does not exist yet (a
 * missing input, the directory of an empty glob) replaced by its nearest existing ancestor (`roots`);
 * and, beyond a glob's directory, the directories it looks into (`lookInto`): each file's own, and those
 * on the way from such an ancestor to what is missing. chokidar never reports the creation of a path
 * that was missing when it was given (40 of 40 tries, chokidar 5), and given one beside its directory it
 * drops the directory's event for it too; a directory it watches from the start reports it.
 */
export function watchPlan(set: WatchSet): { roots: string[]; lookInto: Set<string> } {
  const roots = new Set<string>();
  const lookInto = new Set<string>();
  for (const f of set.files) lookInto.add(dirname(f));
  for (const p of [...set.files, ...set.globs.map((g) => g.base)]) {
    let dir = p;
    while (!existsSync(dir) && dirname(dir) !== dir) {
      dir = dirname(dir);
      lookInto.add(dir);
    }
    roots.add(dir);
  }
  return { roots: [...roots], lookInto };
}
