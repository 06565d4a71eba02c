import { readdir, stat } from "node:fs/promises";
import { basename, dirname, resolve } from "node:path";
import type { Rate, StepAction, StepFn } from "../graph/ir.js";
import { suggest } from "../graph/topology.js";
import { parseRate } from "../graph/units.js";
import type { Span } from "./ast.js";
import type { DiagnosticSink } from "./diagnostics.js";
import { isModuleDef, type ModuleDef } from "./module-def.js";
import type { ModuleLoader } from "./module-loader.js";
import { T, typeFromJsonSchema, type Type } from "./types.js";

/** Names the language defines itself; a module export with one of these names cannot be called. */
export const BUILTINS = ["file", "glob", "lines", "jsonl", "output", "exec", "sh", "map"] as const;

/** A callable module of a flow, from an export of a `use` file. */
export interface FlowModule {
  name: string;
  /** Absolute path of the file that exports it. */
  file: string;
  exportName: string;
  /** Parameter types; undefined when unknown (a plain function: any arguments, checked at run time). */
  params?: Type[];
  /** Fewest arguments a call may pass (trailing Optional inputs may be left out). */
  minArgs: number;
  result: Type;
  /** What a step of this module does. */
  action: StepAction;
  version?: string;
  concurrency?: number;
  rate?: Rate;
  /** The `use` statement it came from. */
  use: Span;
}

export interface UseRef {
  path: string;
  pathSpan: Span;
  span: Span;
}

const SCHEMA_TARGET = { target: "draft-2020-12" } as const;

/**
 * Imports every `use` file (relative to `baseDir`, in parallel, with `load`) and turns each exported
 * function or `module(...)` into a FlowModule. Failures are diagnostics at the `use` line; it never throws.
 */
export async function loadModules(
  uses: readonly UseRef[],
  baseDir: string,
  sink: DiagnosticSink,
  load: ModuleLoader,
): Promise<{ modules: Map<string, FlowModule>; files: string[]; failed: boolean }> {
  const modules = new Map<string, FlowModule>();
  const files: string[] = [];
  let failed = false;
  const seen = new Map<string, UseRef>();
  const unique: { use: UseRef; abs: string }[] = [];
  for (const use of uses) {
    const abs = resolve(baseDir, use.path);
    const first = seen.get(abs);
    if (first) {
      const { line } = sink.lines.position(first.span.start);
      sink.warning(
        "duplicate-use",
        `${use.path} is already used on line ${line}`,
        use.span.start,
        use.span.end,
      );
      continue;
    }
    seen.set(abs, use);
    unique.push({ use, abs });
  }
  const loaded = await Promise.all(
    unique.map(async ({ use, abs }) => {
      try {
        const st = await stat(abs);
        if (!st.isFile()) {
          return { use, abs, error: `${use.path} is not a file`, hint: undefined };
        }
      } catch {
        return { use, abs, error: `cannot find module file ${use.path}`, hint: await nearbyFile(abs) };
      }
      try {
        return { use, abs, exports: await load(abs) };
      } catch (err) {
        return { use, abs, ...describeLoadError(err, abs, use.path) };
      }
    }),
  );
  for (const r of loaded) {
    const { use, abs } = r;
    if (!("exports" in r) || r.exports === undefined) {
      failed = true;
      sink.error("module-load", r.error!, use.pathSpan.start, use.pathSpan.end, r.hint);
      continue;
    }
    files.push(abs);
    let count = 0;
    for (const exportName of Object.keys(r.exports)) {
      if (exportName === "default" || exportName === "module.exports") continue;
      let value: unknown;
      try {
        value = r.exports[exportName];
      } catch {
        continue;
      }
      const mod = toModule(exportName, value, abs, use, sink);
      if (!mod) continue;
      count++;
      const prev = modules.get(exportName);
      if (prev) {
        sink.error(
          "duplicate-module",
          `module ${exportName} is exported by both ${basename(prev.file)} and ${basename(abs)}`,
          use.pathSpan.start,
          use.pathSpan.end,
          "rename one of the exports",
        );
        continue;
      }
      if ((BUILTINS as readonly string[]).includes(exportName)) {
        sink.warning(
          "shadowed-builtin",
          `export ${exportName} of ${use.path} cannot be called: ${exportName}() is a built-in`,
          use.pathSpan.start,
          use.pathSpan.end,
          "rename the export",
        );
        continue;
      }
      modules.set(exportName, mod);
    }
    if (count === 0) {
      sink.warning(
        "empty-module",
        `${use.path} exports no functions or module(...) definitions`,
        use.pathSpan.start,
        use.pathSpan.end,
      );
    }
  }
  return { modules, files, failed };
}

function toModule(
  name: string,
  value: unknown,
  file: string,
  use: UseRef,
  sink: DiagnosticSink,
): FlowModule | undefined {
  const ref = { file, exportName: name };
  if (isModuleDef(value)) return fromDefinition(name, value, file, use, sink);
  if (typeof value !== "function" || isClass(value)) return undefined;
  return {
    name,
    file,
    exportName: name,
    minArgs: 0,
    result: T.Any,
    action: { kind: "function", fn: value as StepFn, ref },
    use: use.span,
  };
}

function fromDefinition(
  name: string,
  def: ModuleDef,
  file: string,
  use: UseRef,
  sink: DiagnosticSink,
): FlowModule {
  def.name ??= name;
  const bad = (what: string, hint?: string): void => {
    sink.error("bad-module", `module ${name}: ${what}`, use.pathSpan.start, use.pathSpan.end, hint);
  };
  const ref = { file, exportName: name };
  const mod: FlowModule = {
    name,
    file,
    exportName: name,
    minArgs: 0,
    result: T.Any,
    action:
      def.cpu === true
        ? { kind: "function", thread: true, ref }
        : { kind: "function", fn: def.run as StepFn, ref },
    use: use.span,
  };
  if (def.input !== undefined) {
    if (!Array.isArray(def.input)) {
      bad("input must be a list of schemas, like input: [z.string()]");
    } else {
      const optional = def.input.map(acceptsUndefined);
      mod.params = def.input.map((s, i) =>
        optional[i] ? T.optional(schemaType(s, "input")) : schemaType(s, "input"),
      );
      let min = mod.params.length;
      while (min > 0 && optional[min - 1]) min--;
      mod.minArgs = min;
    }
  }
  if (def.output !== undefined) mod.result = schemaType(def.output, "output");
  if (def.version !== undefined) {
    if (typeof def.version !== "string" || def.version === "") bad("version must be a non-empty string");
    else mod.version = def.version;
  }
  if (def.cpu !== undefined && typeof def.cpu !== "boolean") bad("cpu must be true or false");
  if (def.concurrency !== undefined) {
    if (!Number.isInteger(def.concurrency) || def.concurrency < 1) {
      bad(`concurrency must be a whole number of at least 1, got ${String(def.concurrency)}`);
    } else mod.concurrency = def.concurrency;
  }
  if (def.throttle !== undefined) {
    const rate = typeof def.throttle === "string" ? parseRate(def.throttle) : undefined;
    if (!rate || !Number.isInteger(rate.tokens)) {
      bad(`throttle ${JSON.stringify(def.throttle)} is not a rate`, 'write it like "20/s" or "100/1min"');
    } else mod.rate = rate;
  }
  return mod;
}

/** The flow type of a Standard Schema, through its JSON Schema when the library provides one. */
function schemaType(schema: unknown, which: "input" | "output"): Type {
  try {
    const conv = (schema as { "~standard"?: { jsonSchema?: Record<string, unknown> } })?.["~standard"]
      ?.jsonSchema;
    const fn = conv?.[which];
    if (typeof fn !== "function") return T.Any;
    return typeFromJsonSchema((fn as (o: typeof SCHEMA_TARGET) => unknown)(SCHEMA_TARGET));
  } catch {
    // Some schemas (dates, functions, transforms) have no JSON Schema: checked at run time only.
    return T.Any;
  }
}

/** A schema that accepts a missing value (`z.string().optional()`): such trailing arguments may be left out. */
function acceptsUndefined(schema: unknown): boolean {
  try {
    const r = (schema as { "~standard": { validate: (v: unknown) => unknown } })["~standard"].validate(
      undefined,
    );
    if (r && typeof (r as Promise<unknown>).then === "function") {
      (r as Promise<unknown>).then(undefined, () => {});
      return false;
    }
    return !(r as { issues?: unknown }).issues;
  } catch {
    return false;
  }
}

function isClass(fn: unknown): boolean {
  try {
    return /^class[\s{]/.test(Function.prototype.toString.call(fn));
  } catch {
    return false;
  }
}

/** The useful part of an import failure: the reason, and where in the module when the stack says. */
function describeLoadError(err: unknown, abs: string, shown: string): { error: string; hint?: string } {
  const msg = err instanceof Error ? err.message : String(err);
  const lines = msg
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => l !== "");
  let reason = lines[0] ?? "unknown error";
  // esbuild (through tsx): "Transform failed with 1 error:\n/path/x.ts:1:13: ERROR: Expected ..."
  if (/^Transform failed/.test(reason) && lines[1]) reason = lines[1].replace(/ERROR: /, "");
  const name = basename(abs);
  const frame =
    err instanceof Error
      ? err.stack
          ?.split("\n")
          .map((l) => l.trim())
          .find((l) => l.startsWith("at ") && l.includes(name) && !l.includes("data:") && /:\d+:\d+/.test(l))
      : undefined;
  const where = frame
    ?.replace(/^at\s+/, "")
    .replace(/\?[^:)]*(?=:\d)/, "")
    .replace(/^.*\((.*)\)$/, "$1")
    .replace(/^file:\/\//, "");
  return { error: `cannot load ${shown}: ${reason}`, hint: where ? `thrown at ${where}` : undefined };
}

async function nearbyFile(abs: string): Promise<string | undefined> {
  try {
    const names = await readdir(dirname(abs));
    const s = suggest(basename(abs), names);
    return s ?? undefined;
  } catch {
    return undefined;
  }
}
