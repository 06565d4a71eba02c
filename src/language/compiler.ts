import { dirname, resolve } from "node:path";
import type { Graph } from "../graph/ir.js";
import { validateGraph } from "../graph/validate.js";
import type { Statement } from "./ast.js";
import { Checker, type FlowInfo } from "./checker/index.js";
import { DiagnosticSink, LineMap, sortDiagnostics, type Diagnostic } from "./diagnostics.js";
import { checkInputFiles, type InputFilesPort } from "./input-files.js";
import type { ModuleLoader } from "./module-loader.js";
import { loadModules, type FlowModule } from "./modules.js";
import { parseWith } from "./parser.js";

export interface CompileOptions {
  /**
   * Values of the flow's inputs. Strings (as given on the command line with `--input k=v`) are converted
   * to the declared type; other values are checked against it.
   */
  inputs?: Record<string, unknown>;
  /**
   * Inputs not in `inputs` are given per run (a flow loaded once and run many times): the graph holds
   * placeholders for them, bound by graph/run-inputs.ts before each run. Where a value must be known
   * when the flow is compiled (an output path, an option, a pool size), such an input is an error.
   */
  perRunInputs?: boolean;
  /** Project root: where file(), glob() and output() paths start. Default: the flow file's directory. */
  root?: string;
  /** Imports the files of `use` lines; without it, a flow that has any is an error at each. */
  loadModule?: ModuleLoader;
  /**
   * Answers whether the flow's `file("...")` inputs exist and its `glob("...")` patterns match, so that
   * a missing input is an error at its line before anything runs. Without it, they are not checked
   * (the compiler itself reads no file): the project layer gives one that looks under the root.
   */
  inputFiles?: InputFilesPort;
}

export interface CompileResult {
  /** The graph; undefined when there is any error. */
  graph?: Graph;
  /** Errors and warnings, in source order. */
  diagnostics: Diagnostic[];
  info: FlowInfo;
}

/**
 * Parses a flow file, loads its `use` modules, checks names, types, options and cycles, and compiles it
 * to the graph IR. Never throws for bad input: every problem is a diagnostic, all of them at once.
 * `use` paths are relative to the flow file (`file`, resolved against the current directory).
 */
export async function compileFlow(
  source: string,
  file: string,
  options: CompileOptions = {},
): Promise<CompileResult> {
  const lines = new LineMap(source);
  const sink = new DiagnosticSink(file, lines);
  const flowDir = dirname(resolve(file));
  const root = resolve(options.root ?? flowDir);
  const info: FlowInfo = {
    file,
    root,
    inputs: [],
    outputs: [],
    outputTypes: {},
    modules: [],
    inputFiles: [],
    inputGlobs: [],
    steps: {},
    pools: {},
  };
  let graph: Graph | undefined;
  try {
    const ast = parseWith(source, file, sink);
    const uses = ast.statements.filter((s): s is Extract<Statement, { kind: "use" }> => s.kind === "use");
    const { modules, failed, files } = await useModules(uses, flowDir, sink, options.loadModule);
    info.modules = files;
    const checker = new Checker(sink, source, {
      statements: ast.statements,
      modules,
      modulesFailed: failed,
      inputs: options.inputs ?? {},
      perRunInputs: options.perRunInputs,
      file,
    });
    const checked = checker.run();
    // Copy the properties as they are (info.steps is a lazy getter).
    Object.defineProperties(info, Object.getOwnPropertyDescriptors(checked.info));
    info.inputFiles = [...new Set(checked.inputs.files.map((f) => f.path))];
    info.inputGlobs = [...new Set(checked.inputs.globs.map((g) => g.pattern))];
    const before = sink.errors;
    const { errors } = validateGraph(checked.graph);
    for (const e of errors) {
      if (e.code === "cycle" && e.path && e.path.length > 1) {
        // Start the cycle at the step written first, and point there.
        const ids = e.path.slice(0, -1);
        const pos = (id: string): number => checker.spanOfStep(id)?.start ?? Infinity;
        let first = 0;
        for (let i = 1; i < ids.length; i++) if (pos(ids[i]!) < pos(ids[first]!)) first = i;
        const path = [...ids.slice(first), ...ids.slice(0, first), ids[first]!];
        const at = checker.spanOfStep(path[0]!) ?? { start: 0, end: 0 };
        sink.error("cycle", `cycle: ${path.join(" -> ")}`, at.start, at.end, e.hint);
        continue;
      }
      const at = (e.step !== undefined ? checker.spanOfStep(e.step) : undefined) ?? { start: 0, end: 0 };
      if (e.code === "cycle") {
        sink.error("cycle", e.message, at.start, at.end, e.hint);
      } else if (before === 0) {
        // The checker should have caught it; report rather than hand out a graph that cannot run.
        sink.error(`graph-${e.code}`, e.message, at.start, at.end, e.hint);
      }
    }
    if (options.inputFiles) await checkInputFiles(checked.inputs, options.inputFiles, sink);
    graph = checked.graph;
  } catch (err) {
    sink.error(
      "internal",
      `internal error: ${(err as Error)?.stack ?? String(err)}`,
      0,
      0,
      "please report this",
    );
  }
  return { graph: sink.errors === 0 ? graph : undefined, diagnostics: sortDiagnostics(sink.list), info };
}

/** The modules of the `use` lines, loaded with `load`; without a loader, each line is an error. */
async function useModules(
  uses: Extract<Statement, { kind: "use" }>[],
  flowDir: string,
  sink: DiagnosticSink,
  load: ModuleLoader | undefined,
): Promise<{ modules: Map<string, FlowModule>; failed: boolean; files: string[] }> {
  if (uses.length === 0) return { modules: new Map(), failed: false, files: [] };
  if (!load) {
    for (const u of uses) {
      sink.error(
        "no-module-loader",
        `cannot use ${u.path}: modules cannot be loaded in this context`,
        u.pathSpan.start,
        u.pathSpan.end,
        "compile with the tributary package's compileFlow, or pass loadModule in the compile options",
      );
    }
    return { modules: new Map(), failed: true, files: [] };
  }
  return loadModules(
    uses.map((u) => ({ path: u.path, pathSpan: u.pathSpan, span: { start: u.start, end: u.end } })),
    flowDir,
    sink,
    load,
  );
}
