/**
 * Executor conformance: the same table of cases (conformance-cases.ts) runs against every executor
 * configuration, and each must return the same result. A new executor joins by adding one line to
 * CONFIGURATIONS. A configuration that cannot run a case says so in `excluded`, with the reason, and the
 * exclusion is printed with the results table; the point is that there are none.
 */
import { copyFileSync, mkdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { threadId } from "node:worker_threads";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createRedisExecutor, type RedisExecutor } from "../../src/executors/remote/index.js";
import type { StepResult } from "../../src/engine/result.js";
import type { ModuleRef, Step, StepAction, StepOptions, ValueExpr } from "../../src/graph/ir.js";
import { runGraph, type RunOptions } from "../../src/project/run-graph.js";
import { Cluster } from "../distributed/cluster.js";
import { eventually, processesMatching, uniqueSleep } from "../helpers/procs.js";
import {
  FUNCTION_CASES,
  PROCESS_CASES,
  type CaseContext,
  type Expected,
  type FunctionCase,
  type ProcessCase,
} from "./conformance-cases.js";

const FUNCTIONS_FILE = "conformance-steps.ts";
/** How a remote worker says where an error happened; stripped before messages are compared. */
const ON_WORKER = / \(on worker [^\s()]+:\d+\)$/;

interface Configuration {
  name: string;
  runs: "process" | "function";
  options: () => Partial<RunOptions>;
  /** How a function step runs here (function configurations). */
  functionAction?: (ref: ModuleRef) => StepAction;
  /** Appended to error messages by this configuration. */
  messageSuffix?: RegExp;
  /** Cases (by name) this configuration cannot run, each with why. */
  excluded?: Record<string, string>;
  /** Whether a step ran where this configuration runs steps (none may quietly fall back to another). */
  ranWhere: (w: Where) => boolean;
}

/**
 * Where a step ran. A process step reports the process that started it (pid), that one's command name and
 * parent; a function step its own process and thread.
 */
interface Where {
  pid: number;
  comm?: string;
  parentPid?: number;
  threadId?: number;
}

let cluster: Cluster;
let remote: RedisExecutor;
let workerPid: number;

/** Every executor configuration. A new executor is one more entry here. */
const CONFIGURATIONS: Configuration[] = [
  {
    name: "process (direct)",
    runs: "process",
    options: () => ({ spawn: "direct" }),
    ranWhere: (w) => w.pid === process.pid,
  },
  {
    name: "process (job server)",
    runs: "process",
    options: () => ({ spawn: "auto" }),
    ranWhere: (w) => /^python/.test(w.comm ?? "") && w.parentPid === process.pid,
  },
  {
    name: "remote",
    runs: "process",
    options: () => ({ remote }),
    messageSuffix: ON_WORKER,
    // Started through the worker's job server (its default spawner).
    ranWhere: (w) => /^python/.test(w.comm ?? "") && w.parentPid === workerPid,
  },
  {
    name: "in-process",
    runs: "function",
    options: () => ({}),
    functionAction: (ref) => ({ kind: "function", ref }),
    excluded: {
      "a value that cannot be passed on":
        "in-process values are passed on by reference, so a function is a value like any other (the cache, when on, refuses it)",
    },
    ranWhere: (w) => w.pid === process.pid && w.threadId === threadId,
  },
  {
    name: "thread",
    runs: "function",
    options: () => ({}),
    functionAction: (ref) => ({ kind: "function", ref, thread: true }),
    ranWhere: (w) => w.pid === process.pid && w.threadId !== threadId,
  },
  {
    name: "remote",
    runs: "function",
    options: () => ({ remote }),
    functionAction: (ref) => ({ kind: "function", ref }),
    messageSuffix: ON_WORKER,
    ranWhere: (w) => w.pid === workerPid && w.threadId === 0,
  },
  {
    name: "remote (thread)",
    runs: "function",
    options: () => ({ remote }),
    functionAction: (ref) => ({ kind: "function", ref, thread: true }),
    messageSuffix: ON_WORKER,
    ranWhere: (w) => w.pid === workerPid && w.threadId !== 0,
  },
];

/** What each configuration did with each case, printed after the file. */
const outcomes = new Map<Configuration, Map<ProcessCase | FunctionCase, string>>();

function record(config: Configuration, kase: ProcessCase | FunctionCase, cell: string): void {
  if (!outcomes.has(config)) outcomes.set(config, new Map());
  outcomes.get(config)!.set(kase, cell);
}

beforeAll(async () => {
  cluster = await Cluster.start();
  copyFileSync(
    join(dirname(fileURLToPath(import.meta.url)), "fixtures", FUNCTIONS_FILE),
    join(cluster.root, FUNCTIONS_FILE),
  );
  // One worker, using its default spawner (the job server), shared by every remote case of the file.
  workerPid = (await cluster.worker(["-c", "8"])).pid;
  remote = await createRedisExecutor({ url: cluster.url, projectRoot: cluster.root });
});

afterAll(async () => {
  await Promise.allSettled([remote?.close()]);
  await cluster?.stop();
  printTable();
});

let nextCase = 0;

function contextFor(): CaseContext {
  const rel = join("cases", String(nextCase++));
  const dir = join(cluster.root, rel);
  mkdirSync(dir, { recursive: true });
  return { root: cluster.root, dir, rel, marker: uniqueSleep() };
}

type StepSpec = ReturnType<ProcessCase["step"]> | ReturnType<FunctionCase["step"]>;

/** The one step of a case's graph, as this configuration runs it. */
function stepOf(config: Configuration, spec: StepSpec, options: StepOptions = {}): Step {
  const lits = (values: unknown[]): ValueExpr[] => values.map((value) => ({ kind: "lit", value }));
  if ("argv" in spec)
    return { id: "step", module: "exec", action: spec.action, inputs: lits(spec.argv), options };
  const ref = { file: join(cluster.root, FUNCTIONS_FILE), exportName: spec.exportName };
  return {
    id: "step",
    module: spec.exportName,
    action: config.functionAction!(ref),
    inputs: lits(spec.args),
    options,
  };
}

/** The result as compared: the fields a case expects, the message without where it ran. */
function observed(r: StepResult, config: Configuration) {
  const e = r.error;
  const message = e && config.messageSuffix ? e.message.replace(config.messageSuffix, "") : e?.message;
  return {
    status: r.status,
    attempts: r.attempts,
    value: r.value,
    error: e && { kind: e.kind, message, exitCode: e.exitCode, signal: e.signal },
  };
}

function expected(x: Expected) {
  const e = x.error;
  const message = e && (typeof e.message === "string" ? e.message : expect.stringMatching(e.message));
  return {
    status: x.status,
    attempts: x.attempts,
    value: x.value,
    error: e && { kind: e.kind, message, exitCode: e.exitCode, signal: e.signal },
  };
}

async function runCase(config: Configuration, kase: ProcessCase | FunctionCase): Promise<void> {
  const c = contextFor();
  const controller = new AbortController();
  const warnings: string[] = [];
  const running = runGraph(
    { steps: [stepOf(config, kase.step(c), kase.options)] },
    {
      root: c.root,
      concurrency: 2,
      signal: controller.signal,
      onEvent: (e) => void (e.type === "warning" && warnings.push(e.message)),
      ...config.options(),
      ...kase.run?.(c),
    },
  );
  let duringFailed: unknown;
  await kase
    .during?.(c, () => controller.abort())
    .catch((err: unknown) => {
      duringFailed = err;
      controller.abort();
    });
  const result = await running;
  const step = result.steps[0]!;
  try {
    if (duringFailed) throw duringFailed;
    const want = kase.expect(c);
    expect(observed(step, config)).toEqual(expected(want));
    for (const text of want.tail ?? []) expect(step.outputTail ?? "").toContain(text);
    if (want.gone) {
      const marker = want.gone;
      expect(await eventually(() => processesMatching(marker).length === 0)).toBe(true);
    }
    kase.after?.(c);
    // E.g. the job server being unavailable: then "process (job server)" would not be what it says.
    expect(warnings).toEqual([]);
    record(config, kase, "ok");
  } catch (err) {
    record(config, kase, `FAILED, returned ${brief(observed(step, config))}`);
    throw err;
  }
}

/** Where a probe step runs: what started its process (and that one's parent), or its process and thread. */
async function whereItRuns(config: Configuration): Promise<Where> {
  const probe: StepSpec =
    config.runs === "function"
      ? { exportName: "whereAmI", args: [] }
      : {
          action: { kind: "process" },
          argv: [
            "sh",
            "-c",
            'p=$PPID; printf "%s %s %s" $p "$(cat /proc/$p/comm)" "$(cut -d" " -f4 /proc/$p/stat)"',
          ],
        };
  const result = await runGraph(
    { steps: [stepOf(config, probe)] },
    { root: cluster.root, ...config.options() },
  );
  const { status, value, error } = result.steps[0]!;
  expect(status, JSON.stringify(error)).toBe("ok");
  if (config.runs === "function") return value as Where;
  const [pid, comm, parentPid] = String(value).split(" ");
  return { pid: Number(pid), comm, parentPid: Number(parentPid) };
}

for (const config of CONFIGURATIONS) {
  const cases: (ProcessCase | FunctionCase)[] = config.runs === "process" ? PROCESS_CASES : FUNCTION_CASES;
  describe.concurrent(`${config.name} (${config.runs} steps)`, () => {
    it("runs steps where it says it does", async () => {
      const where = await whereItRuns(config);
      expect(config.ranWhere(where), JSON.stringify(where)).toBe(true);
    });
    for (const kase of cases) {
      const why = config.excluded?.[kase.name];
      if (why !== undefined) {
        record(config, kase, `excluded: ${why}`);
        continue;
      }
      it(kase.name, () => runCase(config, kase));
    }
  });
}

/** One markdown table per kind of step: case × configuration. */
function printTable(): void {
  const lines = ["", "Executor conformance (case × configuration):"];
  for (const [runs, cases] of [
    ["process", PROCESS_CASES],
    ["function", FUNCTION_CASES],
  ] as const) {
    const configs = CONFIGURATIONS.filter((c) => c.runs === runs);
    lines.push("", `| ${runs} step | ${configs.map((c) => c.name).join(" | ")} |`);
    lines.push(`|---|${configs.map(() => "---").join("|")}|`);
    for (const kase of cases) {
      const cells = configs.map((c) => outcomes.get(c)?.get(kase) ?? "did not finish");
      lines.push(`| ${kase.name} | ${cells.join(" | ")} |`);
    }
  }
  console.log(lines.join("\n"));
}

/** A result on one line, long strings cut. */
function brief(o: unknown): string {
  return JSON.stringify(o, (_k, v: unknown) =>
    typeof v === "string" && v.length > 80 ? `${v.slice(0, 80)}… (${v.length} chars)` : v,
  );
}
