import { closeSync, existsSync, fstatSync, openSync, readdirSync, readSync, statSync } from "node:fs";
import { dirname, isAbsolute, relative, resolve } from "node:path";
import { UserError } from "../engine/user-error.js";
import type { Graph } from "../graph/ir.js";
import type { Diagnostic, FlowInfo } from "../language/index.js";

export const DEFAULT_FLOW_FILE = "pipeline.flow";

/** The flow file a path names (default ./pipeline.flow; a directory means its pipeline.flow). */
export function resolveFlowFile(arg: string | undefined, cwd = process.cwd()): string {
  const file = resolve(cwd, arg ?? DEFAULT_FLOW_FILE);
  if (!existsSync(file)) {
    const hint = arg === undefined ? undefined : flowFilesBeside(file, cwd);
    throw new UserError(
      arg
        ? `flow file not found: ${arg}${hint ? `; ${hint}` : ""}`
        : `no ${DEFAULT_FLOW_FILE} in ${cwd}; pass a flow file: tributary run path/to/file.flow`,
    );
  }
  if (statSync(file).isDirectory()) {
    const inside = resolve(file, DEFAULT_FLOW_FILE);
    if (existsSync(inside)) return inside;
    throw new UserError(`${arg} is a directory without a ${DEFAULT_FLOW_FILE}; pass the flow file itself`);
  }
  return file;
}

/**
 * For a flow file that is not there: the flow files that are, in the directory it names (a few), so a
 * misspelt name is answered with the right one. Listed rather than guessed: this runs before anything
 * else is loaded, and the suggestion by edit distance lives with the graph.
 */
function flowFilesBeside(file: string, cwd: string): string | undefined {
  let names: string[];
  try {
    names = readdirSync(dirname(file)).filter((n) => n.endsWith(".flow"));
  } catch {
    return undefined;
  }
  if (names.length === 0) return undefined;
  const shown = names.sort().slice(0, 5);
  const where = relative(cwd, dirname(file)) || ".";
  return `flow files in ${where}: ${shown.join(", ")}${names.length > shown.length ? ", …" : ""}`;
}

/**
 * The largest flow file read. A hand-written flow is a few kB and a generated one of 10,000 steps about
 * 1 MB; past this it is not a flow (a binary, a log, /dev/zero) and compiling it would only exhaust
 * memory. Bigger graphs are built with the TypeScript API.
 */
export const MAX_FLOW_BYTES = 16 * 1024 * 1024;

/**
 * The flow file's bytes, refused with one line naming the limit when there are more than
 * MAX_FLOW_BYTES. Read to its end rather than trusting its size: a pipe or a device has none (and
 * /dev/zero has no end), a file may grow while it is read.
 */
export function readFlowFile(file: string, cwd = process.cwd()): Buffer {
  const fd = openSync(file, "r");
  try {
    const size = fstatSync(fd).size;
    if (size > MAX_FLOW_BYTES) throw tooBig(file, cwd);
    let buf = Buffer.allocUnsafe(size + 1);
    let n = 0;
    for (;;) {
      if (n === buf.length) {
        if (n > MAX_FLOW_BYTES) throw tooBig(file, cwd);
        const bigger = Buffer.allocUnsafe(Math.min(MAX_FLOW_BYTES + 1, 2 * n + 64 * 1024));
        buf.copy(bigger, 0, 0, n);
        buf = bigger;
      }
      const got = readSync(fd, buf, n, buf.length - n, null);
      if (got === 0) return buf.subarray(0, n);
      n += got;
    }
  } finally {
    closeSync(fd);
  }
}

function tooBig(file: string, cwd: string): UserError {
  const shown = relative(cwd, file);
  const name = shown.startsWith("..") || isAbsolute(shown) ? file : shown;
  return new UserError(
    `${name} is larger than ${MAX_FLOW_BYTES / 1024 / 1024} MiB, the most a flow file may be; build a graph this big with the TypeScript API`,
  );
}

/** A flow file with errors: every diagnostic of the file, to be shown with its source. */
export class InvalidFlowError extends UserError {
  override name = "InvalidFlowError";

  constructor(
    message: string,
    readonly file: string,
    readonly source: string,
    readonly diagnostics: readonly Diagnostic[],
    /** What the compiler found out about the flow even so (its modules, inputs, input files). */
    readonly info?: FlowInfo,
  ) {
    super(message);
  }
}

export interface CompiledFlow {
  graph: Graph;
  info: FlowInfo;
  /** Diagnostics of severity "warning" (the flow compiled). */
  warnings: Diagnostic[];
}

/**
 * Checks and compiles a flow file; its `use` modules are imported in this process. Rejects with an
 * InvalidFlowError holding every error of the file at once.
 */
export async function compileProjectFlow(
  file: string,
  source: string,
  inputs: Record<string, unknown>,
  root: string,
  /**
   * perRunInputs: inputs not in `inputs` are given per run (see RunnableFlow). freshModules: module files
   * whose content changed since they were imported are imported again (a flow reloaded while serving).
   */
  options: { perRunInputs?: boolean; freshModules?: boolean } = {},
): Promise<CompiledFlow> {
  // The language loads only when a flow is compiled (not for a no-op run); the module loader and the
  // transpile cache only when the flow `use`s a module.
  const [{ compileFlow, formatDiagnostics }, { diskInputFiles }] = await Promise.all([
    import("../language/index.js"),
    import("./input-files.js"),
  ]);
  const loadModule = async (f: string) => {
    const [{ loadModuleFile }, { transpiledModule }] = await Promise.all([
      import("../executors/load-module.js"),
      import("../cache/transpiled-modules.js"),
    ]);
    return loadModuleFile(f, { fresh: options.freshModules, root, transpile: transpiledModule });
  };
  const { graph, diagnostics, info } = await compileFlow(source, file, {
    inputs,
    perRunInputs: options.perRunInputs,
    root,
    loadModule,
    inputFiles: diskInputFiles(root),
  });
  const errors = diagnostics.filter((d) => d.severity !== "warning");
  if (errors.length > 0 || !graph) {
    const n = errors.length;
    const text = formatDiagnostics(diagnostics, source, { color: false });
    throw new InvalidFlowError(
      `${text}\n${n} error${n === 1 ? "" : "s"} in ${file}`,
      file,
      source,
      diagnostics,
      info,
    );
  }
  return { graph, info, warnings: diagnostics.filter((d) => d.severity === "warning") };
}
