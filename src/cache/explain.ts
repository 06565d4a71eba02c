import { appendFileSync, mkdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join } from "node:path";
import { writeFileAtomic } from "./atomic-write.js";
import { digestBytes } from "../graph/digest.js";
import { diffComponents, type Change, type Json } from "./fingerprint-diff.js";

export { diffComponents, type Change } from "./fingerprint-diff.js";

/** What the cache decided for a step when the engine looked it up. */
export type Outcome = "hit" | "miss" | "forced" | "uncacheable";

/** One lookup of this run. */
export interface LookupRecord {
  key?: string;
  outcome: Outcome;
  /** Why a miss with an unchanged key missed (evicted, damaged, could not restore), or why uncacheable. */
  detail?: string;
}

/** Why a step ran or was restored. */
export type Cause =
  /** Nothing changed since its last run: restored. */
  | "unchanged"
  /** Something changed since its last run (see `changes`): ran, or restored when that state was cached. */
  | "changed"
  /** No earlier run of this step is recorded: ran, or restored from an entry saved elsewhere. */
  | "new"
  /** The cache was not read for it (a forced rerun, `--force`): ran. */
  | "forced"
  /** The step cannot be cached (see `detail`): ran. */
  | "uncacheable"
  /** Its key was unchanged, but the entry was gone or damaged, or its outputs could not be restored: ran. */
  | "unavailable"
  /** The whole run was answered from the record of the one before: nothing any step depends on changed. */
  | "no-op-run"
  | "unknown";

export interface Explanation {
  stepId: string;
  /** restored: the cache supplied the result; ran: the step had to run; unknown: no record of it. */
  decision: "restored" | "ran" | "unknown";
  cause: Cause;
  detail?: string;
  /** For `changed`: what differs from the previous run's fingerprint. */
  changes: Change[];
  key?: string;
  previousKey?: string;
  /** Whether this describes the current process's run or the last recorded one. */
  run: "current" | "last";
}

interface StepRecord {
  key?: string;
  prev?: string;
  cause: Cause;
  decision: "restored" | "ran";
  detail?: string;
}

/**
 * The per-project memory behind `explain`: for each step its last key, the key before it and the
 * cause (steps.jsonl, rewritten only when a run differs from the one before), and for each key the
 * fingerprint components it hashes (fingerprints.log, append-only, self-verifying: a line counts only
 * if its key is the SHA-256 of its text).
 */
export class ExplainState {
  private readonly current = new Map<string, LookupRecord>();
  private pendingFingerprints: string[] = [];
  private pendingBytes = 0;
  private previous: Map<string, StepRecord> | undefined;
  /** The fingerprints log by key, once read (see fingerprintTexts). */
  private written: Map<string, string> | undefined;
  private readonly stepsFile: string;
  private readonly fingerprintsFile: string;

  constructor(
    stateDir: string,
    /** Digest of the previous run's lookup records (from run.json): equal means nothing to write. */
    private readonly previousRunDigest: string | undefined,
  ) {
    this.stepsFile = join(stateDir, "steps.jsonl");
    this.fingerprintsFile = join(stateDir, "fingerprints.log");
  }

  get lookups(): number {
    return this.current.size;
  }

  record(stepId: string, r: LookupRecord): void {
    this.current.set(stepId, r);
  }

  /** Remembers what a key hashes (written at flush). */
  noteFingerprint(key: string, text: string): void {
    const line = `${key}\t${text}\n`;
    this.pendingFingerprints.push(line);
    this.pendingBytes += line.length;
    if (this.pendingBytes > PENDING_FINGERPRINT_BYTES) this.writeFingerprints();
  }

  /** A digest of this run's lookups, in a stable order (for run.json). */
  runDigest(): string {
    const lines: string[] = [];
    for (const [id, r] of this.current)
      lines.push(`${JSON.stringify(id)}\t${r.key ?? ""}\t${r.outcome}\t${r.detail ?? ""}`);
    lines.sort();
    return digestBytes(lines.join("\n"));
  }

  /** Writes what this run learnt. Returns the run digest to store in run.json. */
  async flush(): Promise<string> {
    this.writeFingerprints();
    const digest = this.runDigest();
    if (this.current.size === 0 || digest === this.previousRunDigest) return digest;
    const prev = this.loadPrevious();
    const merged = new Map(prev);
    for (const [id, r] of this.current) merged.set(id, resolveRecord(r, prev.get(id)));
    let text = "";
    for (const [id, r] of merged)
      text +=
        JSON.stringify([id, r.key ?? null, r.prev ?? null, r.cause, r.decision, r.detail ?? null]) + "\n";
    await writeFileAtomic(this.stepsFile, text, { createDirs: true });
    await this.compactFingerprints(merged);
    return digest;
  }

  /** Each step's key as last recorded (steps that could not be cached have none). */
  lastKeys(): Map<string, string> {
    const keys = new Map<string, string>();
    for (const [id, r] of this.loadPrevious()) if (r.key) keys.set(id, r.key);
    return keys;
  }

  /** Why the step ran or was restored, in this run if it was looked up, else in the last recorded run. */
  explain(stepId: string): Explanation {
    const prev = this.loadPrevious();
    const now = this.current.get(stepId);
    let rec: StepRecord | undefined;
    let run: "current" | "last";
    if (now) {
      rec = resolveRecord(now, prev.get(stepId));
      run = "current";
    } else {
      rec = prev.get(stepId);
      run = "last";
    }
    if (!rec)
      return {
        stepId,
        decision: "unknown",
        cause: "unknown",
        changes: [],
        run,
        detail: "no lookup of this step is recorded (cache: false, or it has not run with the cache)",
      };
    const out: Explanation = { stepId, decision: rec.decision, cause: rec.cause, changes: [], run };
    if (rec.key) out.key = rec.key;
    if (rec.prev) out.previousKey = rec.prev;
    if (rec.detail) out.detail = rec.detail;
    if (rec.cause === "changed" && rec.key && rec.prev) {
      const texts = this.fingerprintTexts(new Set([rec.key, rec.prev]));
      const a = texts.get(rec.prev);
      const b = texts.get(rec.key);
      if (a && b) out.changes = diffComponents(parseRecorded(a), parseRecorded(b));
      else out.detail = "the details of the earlier fingerprint are no longer recorded";
    }
    return out;
  }

  /** {@link explain} of this run's lookup of a step in one line; undefined when it was not looked up. */
  reasonOf(stepId: string): string | undefined {
    if (!this.current.has(stepId)) return undefined;
    return explanationLine(this.explain(stepId));
  }

  private loadPrevious(): Map<string, StepRecord> {
    if (this.previous) return this.previous;
    const m = new Map<string, StepRecord>();
    let text = "";
    try {
      text = readFileSync(this.stepsFile, "utf8");
    } catch {
      // none yet
    }
    for (const line of text.split("\n")) {
      if (!line) continue;
      try {
        const [id, key, prev, cause, decision, detail] = JSON.parse(line) as [
          string,
          string | null,
          string | null,
          Cause,
          "restored" | "ran",
          string | null,
        ];
        const r: StepRecord = { cause, decision };
        if (key) r.key = key;
        if (prev) r.prev = prev;
        if (detail) r.detail = detail;
        m.set(id, r);
      } catch {
        // a damaged line: that step is simply unknown
      }
    }
    this.previous = m;
    return m;
  }

  private writeFingerprints(): void {
    if (this.pendingFingerprints.length === 0) return;
    mkdirSync(dirname(this.fingerprintsFile), { recursive: true });
    appendFileSync(this.fingerprintsFile, this.pendingFingerprints.join(""));
    if (this.written) for (const line of this.pendingFingerprints) indexLine(this.written, line.slice(0, -1));
    this.pendingFingerprints = [];
    this.pendingBytes = 0;
  }

  /**
   * key → `<text>` or `<text>\t<argv JSON>` as recorded. The log is read once per run: the engine asks
   * for the reason of every miss, and a run may miss thousands of steps.
   */
  private fingerprintTexts(keys: Set<string>): Map<string, string> {
    if (!this.written) {
      this.written = new Map();
      let text = "";
      try {
        text = readFileSync(this.fingerprintsFile, "utf8");
      } catch {
        // none
      }
      for (const line of text.split("\n")) indexLine(this.written, line);
    }
    const lines = this.written;
    const found = new Map<string, string>();
    const check = (key: string, body: string | undefined) => {
      if (body === undefined) return;
      const tab2 = body.indexOf("\t");
      if (digestBytes(tab2 < 0 ? body : body.slice(0, tab2)) === key) found.set(key, body);
    };
    for (const key of keys) check(key, lines.get(key));
    if (found.size < keys.size) {
      const pending = new Map<string, string>();
      for (const line of this.pendingFingerprints) indexLine(pending, line.slice(0, -1));
      for (const key of keys) if (!found.has(key)) check(key, pending.get(key));
    }
    return found;
  }

  private async compactFingerprints(records: Map<string, StepRecord>): Promise<void> {
    // The size alone: reading the log to measure it held megabytes at the end of every large run.
    const size = statSync(this.fingerprintsFile, { throwIfNoEntry: false })?.size;
    if (size === undefined || size < 16 * 1024 * 1024) return;
    const wanted = new Set<string>();
    for (const r of records.values()) {
      if (r.key) wanted.add(r.key);
      if (r.prev) wanted.add(r.prev);
    }
    const texts = this.fingerprintTexts(wanted);
    let out = "";
    for (const [k, t] of texts) out += `${k}\t${t}\n`;
    await writeFileAtomic(this.fingerprintsFile, out);
  }
}

/** Adds a log line (`<key>\t<body>`) to `into`; a later line of the same key wins, as in a rescan. */
function indexLine(into: Map<string, string>, line: string): void {
  if (line.indexOf("\t") !== 64) return;
  into.set(line.slice(0, 64), line.slice(65));
}

/** A recorded fingerprint: its components, with the command line (if any) put back into `command`. */
function parseRecorded(recorded: string): Record<string, Json> {
  const tab = recorded.indexOf("\t");
  const c = JSON.parse(tab < 0 ? recorded : recorded.slice(0, tab)) as Record<string, Json>;
  if (tab >= 0 && c.command && typeof c.command === "object" && !Array.isArray(c.command)) {
    try {
      c.command = { ...c.command, argv: JSON.parse(recorded.slice(tab + 1)) as Json };
    } catch {
      // a damaged tail: without the command line
    }
  }
  return c;
}

function resolveRecord(r: LookupRecord, prev: StepRecord | undefined): StepRecord {
  const out: StepRecord = { cause: "unknown", decision: r.outcome === "hit" ? "restored" : "ran" };
  if (r.key) out.key = r.key;
  if (prev?.key) out.prev = prev.key;
  if (r.detail) out.detail = r.detail;
  switch (r.outcome) {
    case "forced":
      out.cause = "forced";
      break;
    case "uncacheable":
      out.cause = "uncacheable";
      break;
    case "hit":
    case "miss":
      if (!prev?.key) out.cause = "new";
      else if (prev.key !== r.key) out.cause = "changed";
      else out.cause = r.outcome === "hit" ? "unchanged" : "unavailable";
      break;
  }
  return out;
}

const CAUSE_TEXT: Record<Cause, string> = {
  unchanged: "nothing changed since its last run",
  changed: "something changed since its last run",
  new: "no earlier run of it is recorded",
  forced: "the cache was not read (forced rerun)",
  uncacheable: "it cannot be cached",
  unavailable: "nothing changed, but its cache entry was not usable",
  "no-op-run": "nothing any step depends on changed since the run before (a no-op run)",
  unknown: "unknown",
};

/** At most this many changes are named in a one-line reason. */
const LINE_CHANGES = 3;
/**
 * Fingerprint texts held before they are appended to the log: a few hundred of a large run's steps. More
 * only holds memory for the whole run (4 MiB held about 7,000 of W2's 10,000 texts to the end).
 */
const PENDING_FINGERPRINT_BYTES = 256 * 1024;

/**
 * An explanation in one line, for a `cache` event's `reason`: the cause, then its detail or what
 * changed (`something changed since its last run: input file src/a.c: 1f2e3d4c5b6a → 9a8b7c6d5e4f`).
 */
export function explanationLine(e: Explanation): string {
  let line = CAUSE_TEXT[e.cause];
  const parts = e.changes.slice(0, LINE_CHANGES).map(formatChange);
  if (e.changes.length > LINE_CHANGES) parts.push(`and ${e.changes.length - LINE_CHANGES} more`);
  if (parts.length > 0) line += `: ${parts.join("; ")}`;
  else if (e.detail) line += `: ${e.detail}`;
  return line;
}

/** A human-readable explanation, a few lines. */
export function formatExplanation(e: Explanation): string {
  const head =
    e.decision === "unknown"
      ? `${e.stepId}: no record`
      : `${e.stepId}: ${e.decision === "restored" ? "restored from the cache" : "ran"} — ${CAUSE_TEXT[e.cause]}`;
  const lines = [e.run === "last" ? `${head} (last recorded run)` : head];
  if (e.detail) lines.push(`  ${e.detail}`);
  for (const c of e.changes) lines.push(`  ${formatChange(c)}`);
  return lines.join("\n");
}

function short(d: string | undefined | null): string {
  if (d === undefined) return "(none)";
  if (d === null) return "(unset)";
  return /^[0-9a-f]{64}$/.test(d) ? d.slice(0, 12) : d;
}

export function formatChange(c: Change): string {
  const fromTo = (from: string | null | undefined, to: string | null | undefined): string => {
    if (from === undefined) return `added (${short(to)})`;
    if (to === undefined) return `removed (was ${short(from)})`;
    return `${short(from)} → ${short(to)}`;
  };
  switch (c.kind) {
    case "input-file":
      return `input file ${c.path}: ${fromTo(c.from, c.to)}`;
    case "input-value":
      return `${c.label}: ${fromTo(c.from, c.to)}`;
    case "command":
      return `command ${c.field === "argv" ? "line" : c.field}: ${fromTo(c.from, c.to)}`;
    case "code":
      return `code ${c.file}: ${fromTo(c.from, c.to)}`;
    case "env":
      return `env ${c.name}: ${fromTo(c.from, c.to)}`;
    case "option":
      return `option ${c.name}: ${fromTo(c.from, c.to)}`;
    case "other":
      return `${c.what}: ${fromTo(c.from, c.to)}`;
  }
}
