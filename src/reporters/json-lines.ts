import type { EngineEvent } from "../engine/events.js";
import type { StepError, StepResult } from "../engine/result.js";
import type { OutputStream, Reporter } from "./types.js";

export interface JsonLinesOptions {
  /** Include step values and run outputs. Default true. */
  values?: boolean;
  /** A value whose JSON is longer than this is replaced by `{ "$truncated": true, "bytes": n }`. */
  maxValueBytes?: number;
}

const MAX_DEPTH = 32;

/**
 * A JSON-safe copy of any value; never throws. Non-finite numbers become `"NaN"`/`"Infinity"`, bigints
 * `"123n"`, functions `"[Function f]"`, symbols their description, cycles `"[Circular]"`, Maps
 * `{ "$map": [[k, v], …] }`, Sets `{ "$set": […] }`, binary data `{ "$bytes": length }`, Errors
 * `{ "$error": name, "message": … }`, and anything whose inspection throws `"[Unserializable: …]"`.
 */
export function toJsonSafe(value: unknown): unknown {
  return safe(value, [], 0);
}

/**
 * true when JSON.stringify gives `value` the very text it gives its toJsonSafe copy: strings, finite
 * numbers, booleans, null, and arrays and plain objects of them (no undefined, no toJSON, not too deep).
 * Such a value, most of what steps return and every run's outputs, is written without being copied.
 */
function isPlainJson(value: unknown): boolean {
  try {
    return plain(value, 0);
  } catch {
    return false; // a getter or a proxy that throws: the careful copy says what it is
  }
}

function plain(v: unknown, depth: number): boolean {
  switch (typeof v) {
    case "string":
    case "boolean":
      return true;
    case "number":
      return Number.isFinite(v);
    case "object":
      break;
    default:
      return false;
  }
  if (v === null) return true;
  if (depth >= MAX_DEPTH) return false; // a cycle ends here too
  const proto: unknown = Object.getPrototypeOf(v);
  if (proto === Array.prototype) {
    const a = v as unknown[];
    for (let i = 0; i < a.length; i++) if (!(i in a) || !plain(a[i], depth + 1)) return false;
    return true;
  }
  if (proto !== Object.prototype && proto !== null) return false;
  // An own toJSON is a function, which is not plain; an inherited one is on another prototype.
  const o = v as Record<string, unknown>;
  for (const k of Object.keys(o)) if (!plain(o[k], depth + 1)) return false;
  return true;
}

function safe(v: unknown, stack: object[], depth: number): unknown {
  try {
    switch (typeof v) {
      case "string":
      case "boolean":
        return v;
      case "number":
        return Number.isFinite(v) ? v : String(v);
      case "bigint":
        return `${v}n`;
      case "undefined":
        return null;
      case "symbol":
        return v.toString();
      case "function":
        return `[Function${v.name ? ` ${v.name}` : ""}]`;
    }
    if (v === null) return null;
    const o = v as object;
    if (stack.includes(o)) return "[Circular]";
    if (depth >= MAX_DEPTH) return "[Too deep]";
    if (o instanceof Date) return Number.isNaN(o.getTime()) ? "Invalid Date" : o.toISOString();
    if (ArrayBuffer.isView(o)) return { $bytes: o.byteLength };
    if (o instanceof ArrayBuffer || o instanceof SharedArrayBuffer) return { $bytes: o.byteLength };
    if (o instanceof RegExp) return String(o);
    if (o instanceof Promise || o instanceof WeakMap || o instanceof WeakSet) {
      return `[${o.constructor.name}]`;
    }
    stack.push(o);
    try {
      if (o instanceof Error) {
        const out: Record<string, unknown> = { $error: o.name, message: o.message };
        const code = (o as { code?: unknown }).code;
        if (code !== undefined) out.code = safe(code, stack, depth + 1);
        return out;
      }
      if (Array.isArray(o)) return o.map((x) => safe(x, stack, depth + 1));
      if (o instanceof Map) {
        return { $map: [...o].map(([k, x]) => [safe(k, stack, depth + 1), safe(x, stack, depth + 1)]) };
      }
      if (o instanceof Set) return { $set: [...o].map((x) => safe(x, stack, depth + 1)) };
      const toJSON = (o as { toJSON?: unknown }).toJSON;
      if (typeof toJSON === "function") return safe(toJSON.call(o), stack, depth + 1);
      const out: Record<string, unknown> = {};
      for (const k of Object.keys(o)) {
        let x: unknown;
        try {
          x = (o as Record<string, unknown>)[k];
        } catch (err) {
          x = `[Unserializable: ${messageOf(err)}]`;
        }
        if (x === undefined || typeof x === "function" || typeof x === "symbol") continue;
        out[k] = safe(x, stack, depth + 1);
      }
      return out;
    } finally {
      stack.pop();
    }
  } catch (err) {
    return `[Unserializable: ${messageOf(err)}]`;
  }
}

function messageOf(err: unknown): string {
  try {
    return err instanceof Error ? err.message : String(err);
  } catch {
    return "unknown error";
  }
}

function errorJson(e: StepError | undefined): Record<string, unknown> | undefined {
  if (!e) return undefined;
  const out: Record<string, unknown> = { kind: e.kind, message: String(e.message) };
  if (e.exitCode !== undefined) out.exitCode = e.exitCode;
  if (e.signal !== undefined) out.signal = e.signal;
  if (e.stack !== undefined) out.stack = e.stack;
  return out;
}

/** The version of the event format: every JSON event carries it as `v` (see docs/events.md). */
export const EVENTS_VERSION = 1;

/**
 * One JSON object per event, one per line. Field names are stable (docs/events.md, schema in
 * docs/events.schema.json): `v` (the format's version), `type` and `t` (ms since the run started)
 * always, then per type:
 *
 * - run-start: `concurrency`, `steps: [{ id, module, estimateMs?, deps }]`, and from a project run
 *   `runId`, `flow`, `startedAt`, `liveOutput`
 * - steps-added: `parent`, `steps`
 * - cache: `id`, `decision` (hit, miss, uncacheable), `source?` (hits), `reason?` (misses)
 * - step-start: `id`, `attempt`, `command?`
 * - step-output: `id`, `stream`, `chunk`
 * - step-retry: `id`, `attempt`, `maxAttempts`, `delayMs`, `error`
 * - step-end: `id`, `module`, `status`, `cached`, `attempts`, `startMs?`, `endMs?`, `durationMs?`,
 *   `queuedMs?`, `error?`, `blockedBy?`, `command?`, `outputTail?`, `value?`
 * - warning: `message`, `id?`
 * - run-end: `ok`, `summary` (with `remoteCache` when a remote cache is configured), `outputs?`
 *
 * `error` is `{ kind, message, exitCode?, signal?, stack? }`.
 *
 * Nothing of a step's output is cut: every `step-output` chunk is printed whole, as the step wrote it
 * (this is where `--verbose`, which shows at most LIVE_OUTPUT_LIMITS of it, points to for all of it).
 * `outputTail` is the last 16 KiB; a `value` or `outputs` entry over `maxValueBytes` (default 1 MiB of
 * JSON) is replaced by `{ "$truncated": true, "bytes": n }`.
 */
export function eventToJson(e: EngineEvent, opts: JsonLinesOptions = {}): Record<string, unknown> {
  const withValues = opts.values !== false;
  const v = EVENTS_VERSION;
  switch (e.type) {
    case "run-start": {
      const out: Record<string, unknown> = { v, type: e.type, t: e.t };
      if (e.runId !== undefined) out.runId = e.runId;
      if (e.flow !== undefined) out.flow = e.flow;
      if (e.startedAt !== undefined) out.startedAt = e.startedAt;
      if (e.liveOutput !== undefined) out.liveOutput = e.liveOutput;
      out.concurrency = e.concurrency;
      out.steps = e.steps.map(stepInfo);
      return out;
    }
    case "steps-added":
      return { v, type: e.type, t: e.t, parent: e.parent, steps: e.steps.map(stepInfo) };
    case "cache":
      return {
        v,
        type: e.type,
        t: e.t,
        id: e.id,
        decision: e.decision,
        source: e.source,
        reason: e.reason,
      };
    case "step-start":
      return { v, type: e.type, t: e.t, id: e.id, attempt: e.attempt, command: e.command };
    case "step-output":
      return { v, type: e.type, t: e.t, id: e.id, stream: e.stream, chunk: e.chunk };
    case "step-retry":
      return {
        v,
        type: e.type,
        t: e.t,
        id: e.id,
        attempt: e.attempt,
        maxAttempts: e.maxAttempts,
        delayMs: e.delayMs,
        error: errorJson(e.error),
      };
    case "step-end":
      return { v, type: e.type, t: e.t, ...stepResult(e.result, withValues, opts.maxValueBytes) };
    case "warning":
      return { v, type: e.type, t: e.t, message: e.message, id: e.id };
    case "run-end": {
      const out: Record<string, unknown> = {
        v,
        type: e.type,
        t: e.t,
        ok: e.result.ok,
        summary: e.result.summary,
      };
      if (withValues) out.outputs = capped(e.result.outputs, opts.maxValueBytes);
      return out;
    }
    default:
      // An event type this reporter does not know yet: pass it on as it is, safely.
      return { v, ...(toJsonSafe(e) as Record<string, unknown>) };
  }
}

function stepInfo(s: {
  id: string;
  module: string;
  estimateMs?: number;
  deps?: string[];
}): Record<string, unknown> {
  return { id: s.id, module: s.module, estimateMs: s.estimateMs, deps: s.deps ?? [] };
}

function stepResult(
  r: StepResult,
  withValues: boolean,
  maxBytes: number | undefined,
): Record<string, unknown> {
  const out: Record<string, unknown> = {
    id: r.id,
    module: r.module,
    status: r.status,
    cached: r.cached === true,
    attempts: r.attempts,
    startMs: r.startMs,
    endMs: r.endMs,
    durationMs:
      r.startMs !== undefined && r.endMs !== undefined ? Math.max(0, r.endMs - r.startMs) : undefined,
    queuedMs: r.queuedMs,
    error: errorJson(r.error),
    blockedBy: r.blockedBy,
    command: r.command,
    outputTail: r.outputTail,
  };
  if (withValues && r.status === "ok" && "value" in r) out.value = capped(r.value, maxBytes);
  return out;
}

const DEFAULT_MAX_VALUE_BYTES = 1024 * 1024;

function capped(value: unknown, maxBytes = DEFAULT_MAX_VALUE_BYTES): unknown {
  const { json, text } = jsonOf(value);
  return text.length > maxBytes ? truncated(text) : json;
}

/** JSON.stringify(capped(value, maxBytes)), serializing the value once. */
function cappedText(value: unknown, maxBytes = DEFAULT_MAX_VALUE_BYTES): string {
  const { text } = jsonOf(value);
  return text.length > maxBytes ? JSON.stringify(truncated(text)) : text;
}

/** The value as JSON can hold it (the value itself when it is plain), and its text. */
function jsonOf(value: unknown): { json: unknown; text: string } {
  const json = isPlainJson(value) ? value : toJsonSafe(value);
  return { json, text: JSON.stringify(json) ?? "null" };
}

function truncated(text: string): { $truncated: true; bytes: number } {
  return { $truncated: true, bytes: Buffer.byteLength(text) };
}

/** What a line ends with, when it carries a value (see stepResult and run-end in eventToJson). */
function lineValue(e: EngineEvent): { key: string; value: unknown } | undefined {
  if (e.type === "run-end") return { key: "outputs", value: e.result.outputs };
  if (e.type === "step-end" && e.result.status === "ok" && "value" in e.result)
    return { key: "value", value: e.result.value };
  return undefined;
}

/** One line of JSON for an event; never throws. */
export function formatJsonLine(e: EngineEvent, opts: JsonLinesOptions = {}): string {
  try {
    // The value is serialized once: its text is both the size capped() measures and what the line
    // holds, where JSON.stringify(eventToJson(e)) made it twice (and copied it first).
    const last = opts.values === false ? undefined : lineValue(e);
    if (last === undefined) return JSON.stringify(eventToJson(e, opts));
    const rest = JSON.stringify(eventToJson(e, { ...opts, values: false }));
    return `${rest.slice(0, -1)},"${last.key}":${cappedText(last.value, opts.maxValueBytes)}}`;
  } catch {
    /* fall through to the careful path */
  }
  try {
    return JSON.stringify({ v: EVENTS_VERSION, ...(toJsonSafe(e) as object) });
  } catch (err) {
    return JSON.stringify({ v: EVENTS_VERSION, type: "reporter-error", t: 0, message: messageOf(err) });
  }
}

export class JsonLinesReporter implements Reporter {
  private closed = false;

  constructor(
    private readonly stream: OutputStream,
    private readonly opts: JsonLinesOptions = {},
  ) {
    this.onEvent = this.onEvent.bind(this);
  }

  onEvent(e: EngineEvent): void {
    if (this.closed) return;
    this.stream.write(formatJsonLine(e, this.opts) + "\n");
  }

  close(): void {
    this.closed = true;
  }
}

export function createJsonLinesReporter(
  stream: OutputStream,
  opts: JsonLinesOptions = {},
): JsonLinesReporter {
  return new JsonLinesReporter(stream, opts);
}
