import { closeSync, mkdirSync, openSync, readdirSync, readFileSync, rmSync, writeSync } from "node:fs";
import { join } from "node:path";
import { writeFileAtomicSync } from "../cache/atomic-write.js";
import type { EngineEvent } from "../engine/events.js";
import { UserError } from "../engine/user-error.js";
import { suggest } from "../graph/topology.js";
import { EVENTS_VERSION, formatJsonLine, type JsonLinesOptions } from "../reporters/json-lines.js";

/**
 * The run record: each CLI run's versioned event lines (the `--json` stream) in
 * `<state>/runs/<runId>.jsonl`, appended as the run goes, so that a killed run leaves a readable prefix.
 * The format is docs/events.md's; `tributary logs` and the HTML report read it back.
 */

/** Records kept: older ones are deleted when a run starts. */
export const RECORDS_KEPT = 20;
/** Of each step's output, per stream, what the record keeps (the rest is counted). */
export const OUTPUT_KEPT_PER_STREAM = 256 * 1024;
/** A record grows to at most about this: past it, output lines are dropped (and counted in run-end). */
export const RECORD_LIMIT = 64 * 1024 * 1024;
/** Values in the record are cut sooner than on `--json`: the record is kept 20 times over. */
const RECORD_VALUE_BYTES = 64 * 1024;

const RECORD_FILE = /^(\d{8}T\d{9}Z-\d+)\.jsonl$/;

/** One line of a record, as read back. */
export interface RecordedEvent {
  v: number;
  type: string;
  t: number;
  [k: string]: unknown;
}

export interface RunRecord {
  runId: string;
  file: string;
  /** The record ends with its run-end and every line could be read. */
  complete: boolean;
  /** Its lines, parsed; a partial or damaged line is skipped (and makes it incomplete). */
  events: RecordedEvent[];
}

/** Where a project's records are, for a state directory (default `<root>/.tributary`). */
export function runsDir(stateDir: string): string {
  return join(stateDir, "runs");
}

/** Sortable and unique per machine: `YYYYMMDDTHHMMSSmmmZ-<pid>` (UTC). */
export function newRunId(now: Date = new Date(), pid: number = process.pid): string {
  const iso = now.toISOString(); // 2026-12-03T07:12:24.123Z
  return `${iso.slice(0, 19).replace(/[-:]/g, "")}${iso.slice(20, 23)}Z-${pid}`;
}

interface StreamCount {
  kept: number;
  dropped: number;
}

/**
 * Writes one run's record; `onEvent` is its Listener. Lines are written in batches (one write per turn
 * of the event loop), so a killed run loses at most the events of its last moment.
 */
export class RunRecordWriter {
  readonly file: string;
  private fd: number | undefined;
  private pending: string[] = [];
  private flushQueued = false;
  private bytes = 0;
  private droppedOutputBytes = 0;
  /** Per step, per stream: output bytes kept and dropped. */
  private readonly output = new Map<string, { stdout: StreamCount; stderr: StreamCount }>();
  private readonly format: JsonLinesOptions = { maxValueBytes: RECORD_VALUE_BYTES };

  constructor(
    stateDir: string,
    readonly runId: string,
  ) {
    const dir = runsDir(stateDir);
    mkdirSync(dir, { recursive: true });
    rotate(dir, RECORDS_KEPT - 1);
    this.file = join(dir, `${runId}.jsonl`);
    this.fd = openSync(this.file, "a");
    writeFileAtomicSync(join(dir, "last"), `${runId}\n`);
    this.onEvent = this.onEvent.bind(this);
  }

  onEvent(e: EngineEvent): void {
    if (this.fd === undefined) return;
    switch (e.type) {
      case "step-output":
        return this.outputLine(e);
      case "step-end":
        this.truncationLines(e.result.id, e.t);
        break;
      case "run-end": {
        const line = formatJsonLine(e, this.format);
        // Every record's run-end says what the 64 MiB bound left out (0: nothing).
        this.add(`${line.slice(0, -1)},"droppedOutputBytes":${this.droppedOutputBytes}}`);
        this.flush();
        return;
      }
    }
    this.add(formatJsonLine(e, this.format));
  }

  /** Writes what is pending and closes the file. Idempotent. */
  close(): void {
    this.flush();
    if (this.fd === undefined) return;
    closeSync(this.fd);
    this.fd = undefined;
  }

  private outputLine(e: Extract<EngineEvent, { type: "step-output" }>): void {
    let counts = this.output.get(e.id);
    if (!counts) {
      counts = { stdout: { kept: 0, dropped: 0 }, stderr: { kept: 0, dropped: 0 } };
      this.output.set(e.id, counts);
    }
    const c = counts[e.stream];
    const size = Buffer.byteLength(e.chunk);
    const room = OUTPUT_KEPT_PER_STREAM - c.kept;
    let chunk = e.chunk;
    if (size > room) {
      chunk = room > 0 ? utf8Prefix(chunk, room) : "";
      c.dropped += size - Buffer.byteLength(chunk);
    }
    if (chunk === "") return;
    const line = formatJsonLine(chunk === e.chunk ? e : { ...e, chunk }, this.format);
    if (this.bytes + line.length + 1 > RECORD_LIMIT) {
      this.droppedOutputBytes += Buffer.byteLength(chunk);
      return;
    }
    c.kept += Buffer.byteLength(chunk);
    this.add(line);
  }

  /** Before a step's end: what of its output the per-stream bound left out. */
  private truncationLines(id: string, t: number): void {
    const counts = this.output.get(id);
    if (!counts) return;
    this.output.delete(id);
    for (const stream of ["stdout", "stderr"] as const) {
      const droppedBytes = counts[stream].dropped;
      if (droppedBytes === 0) continue;
      const type = "step-output-truncated";
      this.add(JSON.stringify({ v: EVENTS_VERSION, type, t, id, stream, droppedBytes }));
    }
  }

  private add(line: string): void {
    this.pending.push(line);
    this.bytes += line.length + 1;
    if (this.flushQueued) return;
    this.flushQueued = true;
    setImmediate(() => this.flush());
  }

  private flush(): void {
    this.flushQueued = false;
    if (this.fd === undefined || this.pending.length === 0) return;
    const text = this.pending.join("\n") + "\n";
    this.pending = [];
    try {
      writeSync(this.fd, text);
    } catch {
      // A full disk must not fail the build: the record stops here (it reads as incomplete).
      closeSync(this.fd);
      this.fd = undefined;
    }
  }
}

/**
 * The record of a run answered without the engine (nothing changed): its run-start names every step it
 * stands for, its run-end is the one the listeners got.
 */
export function recordNoOpRun(
  stateDir: string,
  facts: { flow: string | null; concurrency: number },
  result: Extract<EngineEvent, { type: "run-end" }>["result"],
): void {
  const record = new RunRecordWriter(stateDir, newRunId());
  try {
    record.onEvent({
      type: "run-start",
      t: 0,
      runId: record.runId,
      flow: facts.flow,
      startedAt: new Date().toISOString(),
      liveOutput: false,
      concurrency: facts.concurrency,
      steps: result.steps.map((s) => ({ id: s.id, module: s.module })),
    });
    record.onEvent({ type: "run-end", t: 0, result });
  } finally {
    record.close();
  }
}

/** The longest prefix of `s` whose UTF-8 encoding fits in `bytes`, never splitting a character. */
function utf8Prefix(s: string, bytes: number): string {
  const b = Buffer.from(s);
  let end = Math.min(bytes, b.length);
  // Back off continuation bytes (10xxxxxx) so the cut falls on a character boundary.
  while (end > 0 && end < b.length && (b[end]! & 0xc0) === 0x80) end--;
  return b.toString("utf8", 0, end);
}

/** Deletes all but the `keep` newest records. */
function rotate(dir: string, keep: number): void {
  const ids = recordIds(dir);
  for (const id of ids.slice(keep)) rmSync(join(dir, `${id}.jsonl`), { force: true });
}

function recordIds(dir: string): string[] {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return [];
  }
  const ids: string[] = [];
  for (const n of names) {
    const m = RECORD_FILE.exec(n);
    if (m) ids.push(m[1]!);
  }
  // Newest first: the ids sort by their time (two runs in one millisecond: by pid, as text).
  return ids.sort((a, b) => (a < b ? 1 : a > b ? -1 : 0));
}

/** The run ids recorded for a project, newest first. */
export function listRunRecords(root: string): string[] {
  return listRunRecordsIn(join(root, ".tributary"));
}

/** {@link listRunRecords} for a project with its own state directory. */
export function listRunRecordsIn(stateDir: string): string[] {
  return recordIds(runsDir(stateDir));
}

/**
 * A run's record (default: the last run's), read tolerantly: a line cut short by a killed run, or
 * damaged, is skipped and makes the record incomplete.
 */
export function readRunRecord(root: string, runId?: string): RunRecord {
  return readRunRecordIn(join(root, ".tributary"), runId);
}

/** {@link readRunRecord} for a project with its own state directory. */
export function readRunRecordIn(stateDir: string, runId?: string): RunRecord {
  const dir = runsDir(stateDir);
  const ids = recordIds(dir);
  if (ids.length === 0) throw new UserError(`no run recorded in ${dir}: run \`tributary run FLOW\` first`);
  let id = runId;
  if (id === undefined) {
    id = lastPointer(dir);
    if (id === undefined || !ids.includes(id)) id = ids[0]!;
  } else if (!ids.includes(id)) {
    const hint = suggest(id, ids);
    throw new UserError(
      `no run ${id} recorded in ${dir}${hint ? `; ${hint}` : ""} (recorded: ${ids.slice(0, 5).join(", ")}${ids.length > 5 ? ", …" : ""})`,
    );
  }
  const file = join(dir, `${id}.jsonl`);
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (err) {
    const why = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
    throw new UserError(`cannot read the run record ${file} (${why})`);
  }
  const events: RecordedEvent[] = [];
  let damaged = false;
  const lines = text.split("\n");
  // The text ends with a newline when its last line is whole: then the last piece is empty.
  for (const line of lines) {
    if (line === "") continue;
    const e = parseLine(line);
    if (e) events.push(e);
    else damaged = true;
  }
  const complete = !damaged && events.some((e) => e.type === "run-end");
  return { runId: id, file, complete, events };
}

function parseLine(line: string): RecordedEvent | undefined {
  try {
    const e = JSON.parse(line) as unknown;
    if (e === null || typeof e !== "object" || Array.isArray(e)) return undefined;
    const r = e as Record<string, unknown>;
    if (typeof r.v !== "number" || typeof r.type !== "string" || typeof r.t !== "number") return undefined;
    return r as RecordedEvent;
  } catch {
    return undefined;
  }
}

function lastPointer(dir: string): string | undefined {
  try {
    return readFileSync(join(dir, "last"), "utf8").trim() || undefined;
  } catch {
    return undefined;
  }
}

/** What a record holds of one step's output (see {@link stepLog}). */
export interface StepLog {
  runId: string;
  /**
   * The step and, for a map, its items: each with its chunks in the order they were written, and
   * whether it started in this run.
   */
  parts: { id: string; ran: boolean; chunks: string[] }[];
  /** Whether the step (or any item of the map) started in this run; if not, `why` says what it was. */
  ran: boolean;
  why?: string;
  /**
   * The run did not stream output (run-start `liveOutput: false`): only a failure's tail is known, the
   * last 16 KiB of stdout and stderr interleaved, in `parts` (whatever `stream` asked).
   */
  tailOnly: boolean;
  /** Output the record left out (its 256 KiB per stream bound). */
  truncated: { id: string; stream: string; droppedBytes: number }[];
}

/**
 * The captured output of a step in a recorded run (a map: of each of its items). A step id the run does
 * not know is a UserError naming the nearest ones.
 */
export function stepLog(record: RunRecord, id: string, stream?: "stdout" | "stderr"): StepLog {
  const known: string[] = [];
  const items: string[] = [];
  let liveOutput = true;
  for (const e of record.events) {
    if (e.type === "run-start") {
      liveOutput = e.liveOutput !== false;
      for (const s of (e.steps ?? []) as { id: string }[]) known.push(s.id);
    } else if (e.type === "steps-added") {
      for (const s of (e.steps ?? []) as { id: string }[]) {
        known.push(s.id);
        if (e.parent === id) items.push(s.id);
      }
    }
  }
  if (!known.includes(id)) {
    const hint = suggest(id, known);
    throw new UserError(
      `no step ${id} in run ${record.runId}${hint ? `; ${hint}` : ""} (\`tributary logs STEP --run ID\` reads another run)`,
    );
  }
  const ids = items.length > 0 ? items : [id];
  const wanted = new Set(ids);
  const parts = new Map(ids.map((i) => [i, [] as string[]]));
  const started = new Set<string>();
  const ends = new Map<string, RecordedEvent>();
  const truncated: StepLog["truncated"] = [];
  for (const e of record.events) {
    const sid = e.id as string;
    if (!wanted.has(sid)) continue;
    if (e.type === "step-start") started.add(sid);
    else if (e.type === "step-output" && (stream === undefined || e.stream === stream))
      parts.get(sid)!.push(e.chunk as string);
    else if (e.type === "step-end") ends.set(sid, e);
    else if (e.type === "step-output-truncated" && (stream === undefined || e.stream === stream))
      truncated.push({ id: sid, stream: e.stream as string, droppedBytes: e.droppedBytes as number });
  }
  if (!liveOutput) {
    for (const [sid, e] of ends) if (typeof e.outputTail === "string") parts.get(sid)!.push(e.outputTail);
  }
  const log: StepLog = {
    runId: record.runId,
    parts: ids.map((i) => ({ id: i, ran: started.has(i), chunks: parts.get(i)! })),
    ran: started.size > 0,
    tailOnly: !liveOutput,
    truncated,
  };
  if (!log.ran) log.why = whyNotRun(ends.get(ids[0]!), record, items.length > 0);
  return log;
}

/** Said of a step, or of a map by its first item. */
function whyNotRun(end: RecordedEvent | undefined, record: RunRecord, map: boolean): string {
  if (end === undefined)
    return record.complete
      ? "it was not needed"
      : "the run ended before it started (its record is cut short)";
  if (end.cached === true)
    return map ? "its items were restored from the cache" : "it was restored from the cache";
  if (end.status === "blocked") return `it was blocked by ${String(end.blockedBy ?? "a failed step")}`;
  if (end.status === "cancelled") return "it was cancelled before it started";
  const error = end.error as { message?: string } | undefined;
  return error?.message ? `it failed before it started: ${error.message}` : String(end.status);
}
