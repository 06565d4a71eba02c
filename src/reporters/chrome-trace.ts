import type { EngineEvent } from "../engine/events.js";
import { errorHeadline, formatCommand } from "./format.js";
import type { OutputStream, Reporter } from "./types.js";

/** One entry of the Chrome trace-event format (what chrome://tracing and Perfetto read). */
export interface TraceEvent {
  name: string;
  ph: "X" | "i" | "M";
  pid: number;
  tid: number;
  /** Microseconds. */
  ts: number;
  dur?: number;
  cat?: string;
  s?: "g" | "p" | "t";
  args?: Record<string, unknown>;
}

export interface ChromeTrace {
  traceEvents: TraceEvent[];
  displayTimeUnit: "ms";
}

const PID = 1;
/** Lane 0 holds what is not a running attempt: map groups, cache hits, blocked steps. */
const RUN_LANE = 0;

const us = (ms: number): number => Math.round(ms * 1000);

/**
 * Collects events into a Chrome trace: every attempt of every step is a slice on the lane of the slot
 * it ran in (the lowest slot free when it started), so the picture shows how full the slots were.
 */
export class ChromeTraceRecorder {
  private readonly events: TraceEvent[] = [];
  /** Which step occupies each slot (undefined: free). */
  private readonly slots: (string | undefined)[] = [];
  private readonly open = new Map<
    string,
    { slot: number; ts: number; attempt: number; command?: string[] }
  >();
  private readonly lanes = new Set<number>([RUN_LANE]);
  private readonly modules = new Map<string, string>();

  onEvent(e: EngineEvent): void {
    switch (e.type) {
      case "run-start":
      case "steps-added":
        for (const s of e.steps) this.modules.set(s.id, s.module);
        if (e.type === "steps-added") {
          this.events.push({
            name: `${e.parent}: +${e.steps.length} items`,
            ph: "i",
            s: "t",
            pid: PID,
            tid: RUN_LANE,
            ts: us(e.t),
          });
        }
        break;
      case "step-start": {
        this.close(e.id, e.t, { outcome: "interrupted" });
        let slot = this.slots.indexOf(undefined);
        if (slot < 0) slot = this.slots.push(undefined) - 1;
        this.slots[slot] = e.id;
        this.lanes.add(slot + 1);
        this.open.set(e.id, { slot, ts: e.t, attempt: e.attempt, command: e.command });
        break;
      }
      case "step-retry":
        this.close(e.id, e.t, { outcome: "retry", error: errorHeadline(e.error), delayMs: e.delayMs });
        break;
      case "step-end": {
        const r = e.result;
        const args: Record<string, unknown> = { status: r.cached ? "cached" : r.status, module: r.module };
        if (r.error && r.status !== "blocked") args.error = errorHeadline(r.error);
        if (r.blockedBy) args.blockedBy = r.blockedBy;
        if (this.close(r.id, e.t, args)) break;
        if (r.startMs !== undefined && r.endMs !== undefined && !r.cached) {
          // A step that never started an attempt of its own but spans time: a map collecting its items.
          this.events.push({
            name: r.id,
            cat: r.module,
            ph: "X",
            pid: PID,
            tid: RUN_LANE,
            ts: us(r.startMs),
            dur: us(r.endMs - r.startMs),
            args,
          });
        } else {
          this.events.push({
            name: `${r.id} (${args.status})`,
            cat: r.module,
            ph: "i",
            s: "t",
            pid: PID,
            tid: RUN_LANE,
            ts: us(e.t),
            args,
          });
        }
        break;
      }
      case "warning":
        this.events.push({
          name: `warning: ${e.message}`,
          ph: "i",
          s: "g",
          pid: PID,
          tid: RUN_LANE,
          ts: us(e.t),
        });
        break;
      default:
        break;
    }
  }

  /** Ends the open slice of a step, if there is one. */
  private close(id: string, t: number, args: Record<string, unknown>): boolean {
    const o = this.open.get(id);
    if (!o) return false;
    this.open.delete(id);
    this.slots[o.slot] = undefined;
    const a: Record<string, unknown> = { attempt: o.attempt, ...args };
    if (o.command) a.command = formatCommand(o.command);
    this.events.push({
      name: id,
      cat: this.modules.get(id),
      ph: "X",
      pid: PID,
      tid: o.slot + 1,
      ts: us(o.ts),
      dur: Math.max(0, us(t) - us(o.ts)),
      args: a,
    });
    return true;
  }

  trace(): ChromeTrace {
    const meta: TraceEvent[] = [
      { name: "process_name", ph: "M", pid: PID, tid: 0, ts: 0, args: { name: "tributary run" } },
    ];
    for (const lane of [...this.lanes].sort((a, b) => a - b)) {
      const name = lane === RUN_LANE ? "run" : `slot ${lane}`;
      meta.push({ name: "thread_name", ph: "M", pid: PID, tid: lane, ts: 0, args: { name } });
      meta.push({
        name: "thread_sort_index",
        ph: "M",
        pid: PID,
        tid: lane,
        ts: 0,
        args: { sort_index: lane },
      });
    }
    return { traceEvents: [...meta, ...this.events], displayTimeUnit: "ms" };
  }
}

/** Writes the whole trace as one JSON document to the stream when the run ends (or at close). */
export class ChromeTraceReporter implements Reporter {
  private readonly recorder = new ChromeTraceRecorder();
  private written = false;

  constructor(private readonly stream: OutputStream) {
    this.onEvent = this.onEvent.bind(this);
  }

  onEvent(e: EngineEvent): void {
    if (this.written) return;
    this.recorder.onEvent(e);
    if (e.type === "run-end") this.flush();
  }

  close(): void {
    this.flush();
  }

  private flush(): void {
    if (this.written) return;
    this.written = true;
    this.stream.write(JSON.stringify(this.recorder.trace()) + "\n");
  }
}

export function createChromeTraceReporter(stream: OutputStream): ChromeTraceReporter {
  return new ChromeTraceReporter(stream);
}
