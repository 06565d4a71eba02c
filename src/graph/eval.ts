import { isAbsolute, relative, resolve, sep } from "node:path";
import { readFile } from "node:fs/promises";
import type { FileValue, PathPart, Step, ValueExpr } from "../graph/ir.js";
import { NotAPath, pathPartField, pathPartOf } from "./path-part.js";
import { globFiles } from "./glob-files.js";
import { isFileValue } from "../graph/ir.js";
import { setOwn } from "./own.js";
import { quoteFor, shellQuote, templateContexts, type ShellContext } from "./shell-context.js";

/** An input that cannot be computed; the step fails with this message (kind "input"). */
export class InputError extends Error {
  override name = "InputError";
}

export interface EvalEnv {
  /** The value of a finished step. */
  valueOf(stepId: string): unknown;
  /** Project root: relative paths are resolved against it and outputs must stay inside it. */
  root: string;
  /** Content digest of a file (absolute path); may use a stat cache. */
  digest(absPath: string): Promise<string>;
}

/** True when evaluating the expression touches the file system (so it must be awaited). */
export function needsIO(e: ValueExpr): boolean {
  switch (e.kind) {
    case "file":
    case "glob":
    case "lines":
      return true;
    case "pathPart":
      return needsIO(e.of);
    case "list":
      return e.items.some(needsIO);
    case "record":
      return Object.values(e.fields).some(needsIO);
    case "concat":
      return e.parts.some(needsIO);
    default:
      return false;
  }
}

/** The project-relative paths a step declares it writes with `output(...)`. */
export function declaredOutputs(step: Step): string[] {
  const out: string[] = [];
  const walk = (e: ValueExpr): void => {
    // The same file named twice (written, then appended to) is one output.
    if (e.kind === "output") {
      if (!out.includes(e.path)) out.push(e.path);
    } else if (e.kind === "list") e.items.forEach(walk);
    else if (e.kind === "record") Object.values(e.fields).forEach(walk);
    else if (e.kind === "concat") e.parts.forEach(walk);
  };
  step.inputs.forEach(walk);
  return out;
}

/**
 * A step's declared outputs as project-relative paths, normalized (`./out/x` -> `out/x`); throws an
 * InputError for a path outside the project. Run and plan must agree on these: they key the cache.
 */
export function projectOutputs(step: Step, root: string): string[] {
  return declaredOutputs(step).map((o) => projectPath(o, root, "output"));
}

/** Evaluates an expression without I/O; only valid when !needsIO(e). */
export function evalSync(e: ValueExpr, env: EvalEnv): unknown {
  switch (e.kind) {
    case "lit":
      return e.value;
    case "ref":
      return e.path ? pick(env.valueOf(e.step), e.step, e.path) : env.valueOf(e.step);
    case "list":
      return e.items.map((x) => evalSync(x, env));
    case "record": {
      const o: Record<string, unknown> = {};
      for (const k of Object.keys(e.fields)) setOwn(o, k, evalSync(e.fields[k]!, env));
      return o;
    }
    case "concat":
      return concat(
        e.parts.map((p) => evalSync(p, env)),
        e.parts,
        e.quote,
      );
    case "output":
      return projectPath(e.path, env.root, "output");
    case "pathPart":
      return pathPart(evalSync(e.of, env), e.part);
    case "item":
    case "itemOutput":
      throw new InputError("internal: an item placeholder outside a map's items");
    case "input":
      throw new InputError(`internal: input ${e.name} was not bound before the run`);
    default:
      throw new InputError(`internal: ${e.kind} needs I/O`);
  }
}

export async function evalAsync(e: ValueExpr, env: EvalEnv): Promise<unknown> {
  switch (e.kind) {
    case "file": {
      const p = await evalAsync(e.path, env);
      const path = isFileValue(p) ? p.$file : String(p);
      return fileValue(path, env);
    }
    case "glob": {
      const found = await globFiles(e.pattern, env.root);
      return Promise.all(found.map((f) => fileValue(f, env)));
    }
    case "list":
      return Promise.all(e.items.map((x) => evalAsync(x, env)));
    case "record": {
      const o: Record<string, unknown> = {};
      for (const k of Object.keys(e.fields)) setOwn(o, k, await evalAsync(e.fields[k]!, env));
      return o;
    }
    case "concat":
      return concat(await Promise.all(e.parts.map((p) => evalAsync(p, env))), e.parts, e.quote);
    case "pathPart":
      return pathPart(await evalAsync(e.of, env), e.part);
    case "lines":
      return linesOf(await evalAsync(e.of, env), e.json === true, env);
    default:
      return evalSync(e, env);
  }
}

function pathPart(v: unknown, part: PathPart): string {
  try {
    return pathPartOf(v, part);
  } catch (err) {
    if (err instanceof NotAPath) throw new InputError(`${err.message}, got ${describe(v)}`);
    throw err;
  }
}

/**
 * `lines(x)`: the lines of a file or a string that hold more than blanks, as xargs reads them; with
 * `json`, each parsed (a JSON-lines file). A line that is not JSON is an error naming file and line.
 */
async function linesOf(v: unknown, json: boolean, env: EvalEnv): Promise<unknown[]> {
  let text: string;
  let where: string;
  if (isFileValue(v)) {
    where = v.$file;
    try {
      text = await readFile(resolve(env.root, v.$file), "utf8");
    } catch (err) {
      throw new InputError(`cannot read ${v.$file}: ${(err as Error).message}`);
    }
  } else if (typeof v === "string") {
    where = "the text";
    text = v;
  } else {
    throw new InputError(`${json ? "jsonl" : "lines"} needs a file or a string, got ${describe(v)}`);
  }
  const lines = nonBlankLines(text);
  if (!json) return lines.map((l) => l.text);
  return lines.map(({ text: line, n }) => {
    try {
      return JSON.parse(line) as unknown;
    } catch (err) {
      throw new InputError(`${where}:${n}: not valid JSON: ${(err as Error).message}`);
    }
  });
}

/** The lines of a text that hold more than blanks (without their `\r\n`), with their 1-based numbers. */
export function nonBlankLines(text: string): { text: string; n: number }[] {
  const out: { text: string; n: number }[] = [];
  const lines = text.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!.endsWith("\r") ? lines[i]!.slice(0, -1) : lines[i]!;
    if (line.trim() !== "") out.push({ text: line, n: i + 1 });
  }
  return out;
}

async function fileValue(path: string, env: EvalEnv): Promise<FileValue> {
  const abs = resolve(env.root, path);
  try {
    return { $file: displayPath(abs, env.root), digest: await env.digest(abs) };
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === "ENOENT") throw new InputError(`input file not found: ${path}`);
    if (code === "EISDIR") throw new InputError(`input is a directory, not a file: ${path} (use glob())`);
    throw new InputError(`cannot read input file ${path}: ${(err as Error).message}`);
  }
}

/** Project-relative with forward slashes when inside the root, else absolute. */
export function displayPath(abs: string, root: string): string {
  const rel = relative(root, abs);
  if (rel === "" || rel.startsWith("..") || isAbsolute(rel)) return abs;
  return sep === "/" ? rel : rel.split(sep).join("/");
}

/** Resolves a declared output path, refusing anything that would write outside the project. */
export function projectPath(path: string, root: string, what: string): string {
  const abs = resolve(root, path);
  const rel = relative(root, abs);
  if (rel === "" || rel.startsWith("..") || isAbsolute(rel)) {
    throw new InputError(`${what} path "${path}" is outside the project directory ${root}`);
  }
  return rel.split(sep).join("/");
}

function pick(value: unknown, stepId: string, path: readonly (string | number)[]): unknown {
  let v = value;
  let where = stepId;
  for (const key of path) {
    const part = pathPartField(v, key);
    if (part !== undefined) v = part;
    else if (v === null || typeof v !== "object" || !Object.hasOwn(v, key)) {
      throw new InputError(`${where} has no field "${key}" (its value is ${describe(v)})`);
    } else v = (v as Record<string | number, unknown>)[key];
    where += typeof key === "number" ? `[${key}]` : `.${key}`;
  }
  return v;
}

function concat(values: unknown[], parts: ValueExpr[], quote: "shell" | undefined): string {
  if (quote === "shell") return shellLine(values, parts);
  let s = "";
  for (let i = 0; i < values.length; i++) s += toText(values[i], false);
  return s;
}

/**
 * A `sh` command line: template text as written, each value quoted for the place it lands in (see
 * shell-context.ts), so that no value, whatever it holds, is read by the shell as syntax.
 */
function shellLine(values: unknown[], parts: ValueExpr[]): string {
  const contexts = slotContexts(parts);
  let s = "";
  for (let i = 0; i < values.length; i++) {
    const context = contexts[i];
    if (context === undefined) {
      s += toText(values[i], false);
      continue;
    }
    const v = values[i];
    if (context.kind === "bare") {
      s += toText(v, true);
      continue;
    }
    const quoted = quoteFor(context, toText(v, false));
    if (typeof quoted !== "string") {
      throw new InputError(
        `a value cannot be put safely into ${quoted.refused} of a sh command; ${quoted.fix}`,
      );
    }
    s += quoted;
  }
  return s;
}

/**
 * Where each value of a command line lands (undefined for template text). Scanned per command, not kept
 * per template: the scan costs microseconds beside the process it starts, and a table of every step's
 * contexts held 2.3 MiB through W2's 10,000 steps.
 */
function slotContexts(parts: ValueExpr[]): (ShellContext | undefined)[] {
  return templateContexts(
    parts.map((part) => (part.kind === "lit" && part.raw === true ? String(part.value) : null)),
  );
}

function toText(v: unknown, shell: boolean): string {
  if (Array.isArray(v)) return v.map((x) => toText(x, shell)).join(" ");
  const s = scalarText(v);
  return shell ? shellQuote(s) : s;
}

function scalarText(v: unknown): string {
  if (typeof v === "string") return v;
  if (typeof v === "number" || typeof v === "boolean" || typeof v === "bigint") return String(v);
  if (v === null || v === undefined) return "";
  if (isFileValue(v)) return v.$file;
  if (typeof v === "object" && isPlainData(v)) return JSON.stringify(v);
  throw new InputError(`cannot turn ${describe(v)} into text`);
}

export { shellQuote };

/** Flattens a process step's inputs into argv: lists spread, files become their paths. */
export function toArgv(values: unknown[]): string[] {
  const argv: string[] = [];
  const add = (v: unknown): void => {
    if (Array.isArray(v)) v.forEach(add);
    else argv.push(scalarText(v));
  };
  values.forEach(add);
  return argv;
}

/** JSON-like data: what can be cached, sent to a thread or process, or across machines. */
export function isPlainData(v: unknown): boolean {
  return whyNotPlainData(v) === undefined;
}

/** A short description of a value for error messages: its type, and its class or a short preview. */
export function describe(v: unknown): string {
  if (v === null) return "null";
  if (v === undefined) return "undefined";
  if (typeof v === "function") return `a function${v.name ? ` (${v.name})` : ""}`;
  if (typeof v === "symbol") return `a symbol`;
  if (typeof v === "bigint") return `a bigint (${v})`;
  if (typeof v === "number" && !Number.isFinite(v)) return `the number ${v}`;
  if (typeof v !== "object") return `${typeof v} ${JSON.stringify(v)?.slice(0, 40)}`;
  if (Array.isArray(v)) return `a list of ${v.length}`;
  const proto = Object.getPrototypeOf(v);
  if (proto && proto !== Object.prototype) return `an instance of ${proto.constructor?.name ?? "a class"}`;
  return "a record";
}

/** Why a value is not plain data, naming the offending path; undefined when it is. */
export function whyNotPlainData(
  v: unknown,
  path = "value",
  depth = 0,
  opts: { undefinedFields?: boolean } = {},
): string | undefined {
  if (depth > 200) return `${path} is nested too deeply (a cycle?)`;
  if (v === null || typeof v === "string" || typeof v === "boolean") return undefined;
  if (typeof v === "number") return Number.isFinite(v) ? undefined : `${path} is ${describe(v)}`;
  if (typeof v !== "object") return `${path} is ${describe(v)}`;
  if (Array.isArray(v)) {
    for (let i = 0; i < v.length; i++) {
      const why = whyNotPlainData(v[i], `${path}[${i}]`, depth + 1, opts);
      if (why) return why;
    }
    return undefined;
  }
  const proto = Object.getPrototypeOf(v);
  if (proto !== Object.prototype && proto !== null) return `${path} is ${describe(v)}`;
  for (const k in v) {
    const x = (v as Record<string, unknown>)[k];
    if (x === undefined && opts.undefinedFields) continue;
    const why = whyNotPlainData(x, `${path}.${k}`, depth + 1, opts);
    if (why) return why;
  }
  return undefined;
}
