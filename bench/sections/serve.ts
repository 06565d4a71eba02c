/**
 * Serving flows (issue 13, "Benchmarks"), two parts, each reporting its own failure while the other runs:
 *
 * 1. HTTP under load: bench/serve/profile-bench.flow (three calls of 100, 150 and 80 ms, then a 20 ms
 *    join) served by `tributary serve`, beside a hand-written Fastify handler doing the same
 *    (bench/serve/fastify-peer.mjs), each a separate process, loaded by autocannon in this process at 64
 *    and 512 connections: latency, throughput, errors, the server's CPU and peak RSS (bench/serve/driver.ts).
 * 2. In-process: bench/serve/noop20.flow (20 no-op steps, fan-out/fan-in) loaded once with `loadFlow` and
 *    run 100,000 times, one after another and 64 at once, beside the same 20 calls made directly
 *    (bench/serve/loadflow-child.mjs, a fresh `node --expose-gc` per measurement).
 */
import { isDeepStrictEqual } from "node:util";
import { join } from "node:path";
import {
  cpuSeconds,
  loadTest,
  peakRssKb,
  peerCommand,
  postJson,
  PROFILE_ROUTE,
  serveAvailable,
  serveCommand,
  SERVE_DIR,
  startServer,
  type LoadResult,
} from "../serve/driver.js";
import { tributaryCli } from "../peers.js";
import { fmt, heading, median, mustTime, progress, table } from "../util.js";
import { checkDist, REPO, repsOf, type SectionOptions } from "./common.js";

/** The line the section prints when the build has no `tributary serve` (the brief's wording). */
export const SERVE_MISSING = "serve not available in this build";

const CONNECTIONS = [64, 512];
/** The flow's critical path: GetOrders (150 ms), then BuildProfile (20 ms). */
const CRITICAL_PATH_MS = 170;
/** Above any connection count, so serve never turns a request of the load away. */
const MAX_IN_FLIGHT = 4096;
const BODY = { userId: "42" };

const TARGET_P50_OVERHEAD_MS = 1;
const TARGET_P99_RATIO = 1.1;
const TARGET_THROUGHPUT_RATIO = 0.9;
const TARGET_US_PER_STEP = 3;
const TARGET_RSS_GROWTH = 0.1;

export async function serveSection(o: SectionOptions): Promise<string> {
  const warning = checkDist();
  const parts: string[] = [];
  for (const [name, part] of [
    ["HTTP under load", () => httpPart(o, httpScale(o))],
    ["in-process", () => inProcessPart(o, o.quick ? 10_000 : 100_000)],
  ] as const) {
    try {
      parts.push(await part());
    } catch (err) {
      parts.push(`#### serve: ${name}\n\n**failed:** ${(err as Error).stack ?? String(err)}`);
    }
  }
  return [
    heading(
      "Serving flows: `tributary serve` under HTTP load, and `loadFlow` runs in-process (issue 13)",
      "Two benchmarks: a served flow beside a hand-written Fastify handler, both loaded by autocannon in this " +
        "invocation; and a loaded flow run many times in one process beside the same calls made directly.",
    ),
    ...(warning ? [warning] : []),
    parts.join("\n\n"),
  ].join("\n");
}

// ---------------------------------------------------------------------------------------------------
// 1. HTTP under load

interface Measured {
  tool: string;
  /** Tributary's row (else the peer's). */
  ours: boolean;
  load: LoadResult;
  serverCpuS: number;
  /** The bench process's CPU during the load: autocannon, the load generator. */
  loaderCpuS: number;
  peakRssKb: number;
  exitCode: number | null;
}

/** How hard the HTTP part loads: connection counts, and seconds of warm-up and of load for each. */
export interface HttpScale {
  connections: number[];
  warmS: number;
  durationS: number;
}

const httpScale = (o: SectionOptions): HttpScale => ({
  connections: CONNECTIONS,
  warmS: o.quick ? 1 : 2,
  durationS: o.quick ? 3 : 10,
});

/** The HTTP part's markdown; a server that fails leaves a note and the other's rows. */
export async function httpPart(o: SectionOptions, scale: HttpScale): Promise<string> {
  const { connections: levels, warmS, durationS } = scale;
  const cli = tributaryCli();
  const serve = serveAvailable(cli);
  const tools = [
    ...(serve.ok
      ? [{ name: "**tributary serve**", command: serveCommand(cli, MAX_IN_FLIGHT), ours: true }]
      : []),
    { name: "Fastify, hand-written", command: peerCommand(), ours: false },
  ];
  let reference: unknown;
  const results: Measured[] = [];
  const failures: string[] = [];
  for (const connections of levels) {
    for (const t of tools) {
      try {
        results.push(await measure(t, connections));
      } catch (err) {
        // One server failing (serve is young) still leaves the other's rows.
        failures.push(
          `**${t.name.replace(/\*/g, "")} at ${connections} connections failed:** ${(err as Error).message}`,
        );
      }
    }
  }

  async function measure(t: (typeof tools)[number], connections: number): Promise<Measured> {
    const label = t.name.replace(/\*/g, "");
    progress(`serve: ${label}, ${connections} connections: start, check, warm up ${warmS} s`);
    const server = await startServer(label, t.command);
    try {
      // Both servers must answer the same outputs before their speed means anything.
      const url = server.url + PROFILE_ROUTE;
      const first = await postJson(url, BODY);
      const outputs = (first.json as { outputs?: unknown } | undefined)?.outputs;
      if (first.status !== 200 || outputs === undefined) {
        throw new Error(`POST ${PROFILE_ROUTE} answered ${first.status}: ${JSON.stringify(first.json)}`);
      }
      if (reference === undefined) reference = outputs;
      else if (!isDeepStrictEqual(outputs, reference)) {
        throw new Error(
          `it answers ${JSON.stringify(outputs)}, the other server ${JSON.stringify(reference)}`,
        );
      }
      await loadTest(url, { connections, durationS: warmS, body: BODY });
      progress(`serve: ${label}, ${connections} connections: ${durationS} s of load`);
      const cpu0 = cpuSeconds(server.pid);
      const own0 = process.cpuUsage();
      const load = await loadTest(url, { connections, durationS, body: BODY });
      const own = process.cpuUsage(own0);
      const serverCpuS = cpuSeconds(server.pid) - cpu0;
      const rss = peakRssKb(server.pid);
      return {
        tool: t.name,
        ours: t.ours,
        load,
        serverCpuS,
        loaderCpuS: (own.user + own.system) / 1e6,
        peakRssKb: rss,
        exitCode: await server.stop(),
      };
    } catch (err) {
      await server.stop();
      throw new Error(
        `${(err as Error).message}\nits last output:\n\`\`\`\n${server.tail().trim()}\n\`\`\``,
        {
          cause: err,
        },
      );
    }
  }

  const rows = results.map((r) => [
    r.load.connections,
    r.tool,
    r.load.p50Ms.toFixed(1),
    r.load.p99Ms.toFixed(1),
    Math.round(r.load.reqPerS).toLocaleString("en"),
    r.load.errors === 0 ? "0" : `**${r.load.errors}** (${r.load.firstError ?? "?"})`,
    `${r.serverCpuS.toFixed(1)} (${(r.serverCpuS / r.load.seconds).toFixed(2)} cores)`,
    fmt.mib(r.peakRssKb),
    `${r.loaderCpuS.toFixed(1)} (${(r.loaderCpuS / r.load.seconds).toFixed(2)} cores)`,
  ]);
  const ideal = levels
    .map((c) => `${c}: ${Math.round((c * 1000) / CRITICAL_PATH_MS).toLocaleString("en")}`)
    .join(", ");
  const notes: string[] = [];
  const badExit = results.filter((r) => r.exitCode !== 0);
  if (badExit.length > 0) {
    notes.push(
      `**Not a clean stop:** ${badExit.map((r) => `${r.tool} at ${r.load.connections} exited ${r.exitCode}`).join("; ")} after SIGTERM (expected 0).`,
    );
  }
  notes.push(...failures);
  const ratioLines = serve.ok ? ratios(results, levels) : [];
  if (!serve.ok) {
    notes.push(
      `**tributary: ${SERVE_MISSING}** (${serve.reason}); only the peer ran, and there are no ratios to the targets.`,
    );
  }
  return [
    `#### 1. HTTP under load: profile-bench.flow at ${levels.join(" and ")} connections`,
    "",
    `\`POST ${PROFILE_ROUTE}\` with \`${JSON.stringify(BODY)}\`: three calls at once (100, 150, 80 ms) then the join (20 ms), ` +
      "every argument and result validated by its zod schema, no module limits. " +
      `\`${serveCommand("tributary", MAX_IN_FLIGHT).replace(REPO + "/", "")}\` beside bench/serve/fastify-peer.mjs ` +
      "(the same schemas and sleeps, `Promise.all` then the join, the same reply `{ outputs, traceId }`). " +
      `Each server a separate process, started fresh for each row, checked to answer the same outputs, warmed up for ${warmS} s, ` +
      `then loaded for ${durationS} s by autocannon (keep-alive, one request in flight per connection) in the bench process. ` +
      `Latency of every 2xx response (nearest rank); req/s = 2xx responses / seconds of load; ` +
      `ideal req/s = connections / ${CRITICAL_PATH_MS} ms (${ideal}). Server CPU = utime + stime of its process tree ` +
      "during the load (/proc/PID/stat); peak RSS = VmHWM at the end of the load (warm-up included); the last column is " +
      "the load generator's own CPU: on 2 cores the server and autocannon share them, so a server near 1 core " +
      "at 512 connections is CPU-bound, not waiting.",
    "",
    table(
      [
        "connections",
        "tool",
        "p50 ms",
        "p99 ms",
        "req/s",
        "errors",
        "server CPU s",
        "server peak RSS MiB",
        "autocannon CPU s",
      ],
      rows,
    ),
    ...(ratioLines.length > 0 ? ["", ...ratioLines] : []),
    ...(notes.length > 0 ? ["", notes.join("\n\n")] : []),
  ].join("\n");
}

/** Tributary against the peer at each connection count, and the issue's targets. */
function ratios(results: Measured[], levels: number[]): string[] {
  const met = (ok: boolean): string => (ok ? "met" : "**missed**");
  const rows: string[][] = [];
  for (const c of levels) {
    const ours = results.find((r) => r.load.connections === c && r.ours);
    const peer = results.find((r) => r.load.connections === c && !r.ours);
    if (!ours || !peer) continue;
    const p50 = ours.load.p50Ms - peer.load.p50Ms;
    const p99 = ours.load.p99Ms / peer.load.p99Ms;
    const tput = ours.load.reqPerS / peer.load.reqPerS;
    rows.push([
      String(c),
      `${p50.toFixed(2)} ms: ${met(p50 <= TARGET_P50_OVERHEAD_MS)}`,
      `${p99.toFixed(2)}×: ${met(p99 <= TARGET_P99_RATIO)}`,
      `${(tput * 100).toFixed(0)}%: ${met(tput >= TARGET_THROUGHPUT_RATIO)}`,
    ]);
  }
  return [
    table(
      [
        "connections",
        `p50 overhead, tributary − peer (≤ ${TARGET_P50_OVERHEAD_MS} ms)`,
        `p99, tributary ÷ peer (≤ ${TARGET_P99_RATIO}×)`,
        `throughput, tributary ÷ peer (≥ ${TARGET_THROUGHPUT_RATIO * 100}%)`,
      ],
      rows,
    ),
  ];
}

// ---------------------------------------------------------------------------------------------------
// 2. In-process

export interface ChildResult {
  kind: "flow" | "floor";
  runs: number;
  inFlight: number;
  steps: number;
  ok: boolean;
  bad: number;
  concurrency?: number;
  loadMs: number;
  runMs: number;
  /** After a full GC: before the first run, after a tenth of the runs, after all. */
  checkpoints: { runs: number; rssKb: number; heapUsedKb: number; heapTotalKb: number; externalKb: number }[];
  peakRssKb: number;
}

export const LOADFLOW_CHILD = join(SERVE_DIR, "loadflow-child.mjs");

/** One measurement in a fresh `node --expose-gc`; throws unless every run's output was right. */
export function runChild(kind: "flow" | "floor", runs: number, inFlight: number): ChildResult {
  const r = mustTime(
    `node --expose-gc ${LOADFLOW_CHILD} ${kind} ${runs} ${inFlight}`,
    REPO,
    `serve in-process ${kind}`,
  );
  const res = JSON.parse(r.stdout) as ChildResult;
  if (!res.ok)
    throw new Error(`serve in-process ${kind} ×${inFlight}: ${res.bad} of ${runs} runs gave a wrong output`);
  return res;
}

/** The in-process part's markdown: `runs` runs per measurement. */
export function inProcessPart(o: SectionOptions, runs: number): string {
  const reps = repsOf(o, 1);
  const modes = [1, 64];
  const samples = new Map<string, ChildResult[]>();
  for (let rep = 0; rep < reps; rep++) {
    for (const inFlight of modes) {
      for (const kind of ["flow", "floor"] as const) {
        progress(`serve: in-process, ${kind}, ${runs} runs, ${inFlight} in flight, rep ${rep + 1}/${reps}`);
        const key = `${kind}/${inFlight}`;
        samples.set(key, [...(samples.get(key) ?? []), runChild(kind, runs, inFlight)]);
      }
    }
  }
  const tenth = runs / 10;
  const verdicts: string[] = [];
  const rows = modes.map((inFlight) => {
    const flow = samples.get(`flow/${inFlight}`)!;
    const floor = samples.get(`floor/${inFlight}`)!;
    const usRun = median(flow.map((r) => (r.runMs * 1000) / runs));
    const usStep = usRun / flow[0]!.steps;
    const floorUs = median(floor.map((r) => (r.runMs * 1000) / runs));
    const at = (r: ChildResult, k: number) => r.checkpoints[k]!;
    const rssTenth = median(flow.map((r) => at(r, 1).rssKb));
    const rssEnd = median(flow.map((r) => at(r, 2).rssKb));
    const growth = rssEnd / rssTenth - 1;
    const heap = (k: number): string =>
      `${fmt.mib(median(flow.map((r) => at(r, k).heapUsedKb)))} / ${fmt.mib(median(flow.map((r) => at(r, k).heapTotalKb)))}`;
    const stepOk = usStep <= TARGET_US_PER_STEP;
    const rssOk = growth <= TARGET_RSS_GROWTH;
    // --quick compares 1,000 with 10,000 runs, still the warm-up (V8 grows its heap): no verdict on it.
    const rssVerdict = o.quick ? "(no verdict with --quick)" : rssOk ? "met" : "**missed**";
    if (!stepOk) verdicts.push(`${inFlight} in flight: ${usStep.toFixed(2)} µs per step`);
    if (!rssOk && !o.quick) verdicts.push(`${inFlight} in flight: RSS grew ${(growth * 100).toFixed(1)}%`);
    return [
      inFlight === 1 ? "one after another" : `${inFlight} at once`,
      usRun.toFixed(1),
      `${usStep.toFixed(2)}: ${stepOk ? "met" : "**missed**"}`,
      floorUs.toFixed(2),
      (usRun / floorUs).toFixed(0),
      `${fmt.mib(rssTenth)} → ${fmt.mib(rssEnd)} (${growth >= 0 ? "+" : ""}${(growth * 100).toFixed(1)}%): ${rssVerdict}`,
      `${heap(0)} → ${heap(1)} → ${heap(2)}`,
      fmt.mib(median(flow.map((r) => r.peakRssKb))),
    ];
  });
  const first = samples.get("flow/1")![0]!;
  return [
    `#### 2. In-process: a loaded 20-step flow run ${runs.toLocaleString("en")} times`,
    "",
    "bench/serve/noop20.flow: `a = Start(x)`, 18 × `Noop(a)`, `total = Join(…)`, a fan-out/fan-in of 20 plain " +
      "synchronous JS functions (bench/serve/noop20.mjs), loaded once with `loadFlow` from dist/ " +
      `(${fmt.ms(first.loadMs)}; default ${first.concurrency} slots per run) and run with \`x\` bound per run, ` +
      `every output checked. Each row runs ${runs.toLocaleString("en")} runs in a fresh \`node --expose-gc\` ` +
      `(bench/serve/loadflow-child.mjs${reps > 1 ? `, median of ${reps} reps` : ""}); the floor is the same 20 ` +
      "calls made as plain awaited function calls, in its own process. RSS and heapUsed are read at rest (full GCs " +
      "with 0.6 s idle between them, when V8 releases what it freed) " +
      `before the first run, after ${tenth.toLocaleString("en")} and after ${runs.toLocaleString("en")} runs` +
      (o.quick ? " (--quick: the RSS target is stated for 10,000 vs 100,000 runs)" : "") +
      "; a leak would show as a growing heapUsed; peak RSS is the process's maxRSS.",
    "",
    table(
      [
        "runs in flight",
        "µs per run",
        `µs per step (≤ ${TARGET_US_PER_STEP})`,
        "floor µs per run",
        "× floor",
        `RSS MiB after ${tenth.toLocaleString("en")} → ${runs.toLocaleString("en")} runs (≤ +${TARGET_RSS_GROWTH * 100}%)`,
        "heapUsed / heapTotal MiB at rest: 0 → tenth → all",
        "peak RSS MiB",
      ],
      rows,
    ),
    "",
    verdicts.length === 0 ? "Targets met." : `Targets missed: ${verdicts.join("; ")}.`,
  ].join("\n");
}
