/**
 * The HTTP half of the serve benchmark (issue 13): start a server as a separate process, load it with
 * autocannon from this process, and read what the server cost from /proc. Both servers, `tributary
 * serve` and bench/serve/fastify-peer.mjs, speak the same protocol: the first stdout line with
 * `"msg":"listening"` carries the `url`; SIGTERM drains and exits 0.
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import autocannon from "autocannon";
import { REPO } from "../sections/common.js";

export const SERVE_DIR = join(REPO, "bench", "serve");
/** The flow both servers answer, and the route serve gives it (`/flows/<file base name>`). */
export const PROFILE_FLOW = join(SERVE_DIR, "profile-bench.flow");
export const PROFILE_ROUTE = "/flows/profile-bench";
export const PEER_SCRIPT = join(SERVE_DIR, "fastify-peer.mjs");

const LISTEN_TIMEOUT_MS = 60_000;
const STOP_TIMEOUT_MS = 15_000;
/** What is kept of a server's output, for error messages. */
const TAIL_CHARS = 4000;

export interface Server {
  readonly name: string;
  readonly pid: number;
  /** `http://127.0.0.1:PORT`, from the listening line. */
  readonly url: string;
  /** The last lines the server printed (stdout and stderr). */
  tail(): string;
  /** SIGTERM, then waits for the exit (SIGKILL after 15 s): the exit code, null when it was killed. */
  stop(): Promise<number | null>;
}

/**
 * Starts `command` (a shell command line: `exec` replaces the shell, so the pid is the server's) and
 * resolves once it printed its listening line. Its output is drained all along, so a server that logs
 * every request never blocks on a full pipe.
 */
export function startServer(name: string, command: string, cwd = REPO): Promise<Server> {
  const child = spawn("/bin/sh", ["-c", `exec ${command}`], {
    cwd,
    env: { ...process.env, NO_COLOR: "1" },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let tail = "";
  const keep = (b: Buffer): void => {
    tail = (tail + b.toString("utf8")).slice(-TAIL_CHARS);
  };
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  return new Promise<Server>((resolve, reject) => {
    const fail = (why: string): void => {
      clearTimeout(timer);
      child.kill("SIGKILL");
      reject(new Error(`${name}: ${why}\ncommand: ${command}\noutput:\n${tail}`));
    };
    const timer = setTimeout(
      () => fail(`no "listening" line within ${LISTEN_TIMEOUT_MS / 1000} s`),
      LISTEN_TIMEOUT_MS,
    );
    let pending = "";
    let url: string | undefined;
    child.stdout!.on("data", (b: Buffer) => {
      keep(b);
      if (url !== undefined) return;
      pending += b.toString("utf8");
      let nl;
      while (url === undefined && (nl = pending.indexOf("\n")) >= 0) {
        const line = pending.slice(0, nl).trim();
        pending = pending.slice(nl + 1);
        url = listeningUrl(line);
      }
      if (url === undefined) return;
      clearTimeout(timer);
      resolve(server(name, child, url, exited, () => tail));
    });
    child.stderr!.on("data", keep);
    child.once("error", (err) => fail(`cannot start: ${err.message}`));
    // "close", not "exit": by then its output is read, for the message.
    child.once("close", (code) => {
      if (url === undefined) fail(`exited ${code} before it was listening`);
    });
  });
}

/** The url of a `{"msg":"listening","url":...}` log line, else undefined. */
function listeningUrl(line: string): string | undefined {
  if (!line.startsWith("{")) return undefined;
  try {
    const o = JSON.parse(line) as { msg?: unknown; url?: unknown };
    return o.msg === "listening" && typeof o.url === "string" ? o.url.replace(/\/$/, "") : undefined;
  } catch {
    return undefined;
  }
}

function server(
  name: string,
  child: ChildProcess,
  url: string,
  exited: Promise<number | null>,
  tail: () => string,
): Server {
  return {
    name,
    pid: child.pid!,
    url,
    tail,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return exited;
      child.kill("SIGTERM");
      const killer = setTimeout(() => child.kill("SIGKILL"), STOP_TIMEOUT_MS);
      const code = await exited;
      clearTimeout(killer);
      return code;
    },
  };
}

// ---------------------------------------------------------------------------------------------------
// /proc

let clockTicks: number | undefined;

/** Clock ticks per second of /proc/PID/stat's times (`getconf CLK_TCK`; 100 on Linux). */
function ticksPerSecond(): number {
  if (clockTicks === undefined) {
    const r = spawnSync("getconf", ["CLK_TCK"], { encoding: "utf8" });
    const v = Number(r.stdout?.trim());
    clockTicks = r.status === 0 && v > 0 ? v : 100;
  }
  return clockTicks;
}

/** The fields of /proc/PID/stat after the command name (field 3 is [0]), or undefined when it is gone. */
function statFields(pid: number): string[] | undefined {
  try {
    const s = readFileSync(`/proc/${pid}/stat`, "utf8");
    // The command name (field 2) is in parentheses and may hold spaces: split after the last ")".
    return s.slice(s.lastIndexOf(")") + 2).split(" ");
  } catch {
    return undefined;
  }
}

/** `pid` and its live descendants (a server may run helpers: worker processes, a job server). */
export function processTree(pid: number): number[] {
  const children = new Map<number, number[]>();
  for (const e of readdirSync("/proc")) {
    if (!/^\d+$/.test(e)) continue;
    const ppid = Number(statFields(Number(e))?.[1]);
    if (!Number.isFinite(ppid)) continue;
    if (!children.has(ppid)) children.set(ppid, []);
    children.get(ppid)!.push(Number(e));
  }
  const tree: number[] = [];
  const walk = (p: number): void => {
    tree.push(p);
    for (const c of children.get(p) ?? []) walk(c);
  };
  walk(pid);
  return tree;
}

/** CPU seconds (user + system, every thread) the process tree of `pid` has used so far. */
export function cpuSeconds(pid: number): number {
  let ticks = 0;
  for (const p of processTree(pid)) {
    const f = statFields(p);
    // utime and stime are fields 14 and 15 of /proc/PID/stat.
    if (f) ticks += Number(f[11]) + Number(f[12]);
  }
  return ticks / ticksPerSecond();
}

/** Peak RSS of the process tree of `pid`, KiB: the sum of each process's VmHWM. */
export function peakRssKb(pid: number): number {
  let kb = 0;
  for (const p of processTree(pid)) {
    try {
      const m = /^VmHWM:\s+(\d+) kB/m.exec(readFileSync(`/proc/${p}/status`, "utf8"));
      if (m) kb += Number(m[1]);
    } catch {
      // gone meanwhile
    }
  }
  return kb;
}

// ---------------------------------------------------------------------------------------------------
// Load

export interface LoadOptions {
  connections: number;
  /** Seconds of load; or `amount` requests in all. */
  durationS?: number;
  amount?: number;
  /** The JSON body of every request. */
  body: unknown;
}

export interface LoadResult {
  connections: number;
  /** Seconds the load lasted. */
  seconds: number;
  /** 2xx responses. */
  ok: number;
  /** Connection errors (timeouts included) and non-2xx responses. */
  errors: number;
  /** The first error seen, for the report. */
  firstError?: string;
  p50Ms: number;
  p99Ms: number;
  /** 2xx responses per second. */
  reqPerS: number;
}

/**
 * POSTs `body` as JSON to `url` on `connections` keep-alive connections for a while, with autocannon in
 * this process. Latencies are taken from every 2xx response at full precision (autocannon's own
 * histogram keeps whole milliseconds, too coarse for a 1 ms overhead target).
 */
export async function loadTest(url: string, o: LoadOptions): Promise<LoadResult> {
  const latencies: number[] = [];
  let firstError: string | undefined;
  const started = performance.now();
  const r = await new Promise<autocannon.Result>((resolve, reject) => {
    const instance = autocannon(
      {
        url,
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify(o.body),
        connections: o.connections,
        ...(o.amount !== undefined ? { amount: o.amount } : { duration: o.durationS ?? 10 }),
        timeout: 30,
      },
      (err: unknown, result) => (err ? reject(err as Error) : resolve(result)),
    );
    instance.on("response", (_client: unknown, status: number, _bytes: number, ms: number) => {
      if (status >= 200 && status < 300) latencies.push(ms);
      else firstError ??= `HTTP ${status}`;
    });
    instance.on("reqError", (err: Error) => {
      firstError ??= err.message;
    });
  });
  const seconds = (performance.now() - started) / 1000;
  latencies.sort((a, b) => a - b);
  return {
    connections: o.connections,
    seconds,
    ok: latencies.length,
    // autocannon counts a timeout among its errors too.
    errors: r.errors + r.non2xx,
    ...(firstError !== undefined ? { firstError } : {}),
    p50Ms: percentile(latencies, 0.5),
    p99Ms: percentile(latencies, 0.99),
    reqPerS: latencies.length / seconds,
  };
}

/** The nearest-rank percentile of sorted values. */
export function percentile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!;
}

/** One POST of `body` as JSON: the status and the parsed reply. */
export async function postJson(url: string, body: unknown): Promise<{ status: number; json: unknown }> {
  const res = await fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  const text = await res.text();
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = text;
  }
  return { status: res.status, json };
}

// ---------------------------------------------------------------------------------------------------
// The two servers

/** The Fastify peer's command line. */
export const peerCommand = (): string => `node ${PEER_SCRIPT} --port 0`;

/** `tributary serve` of profile-bench.flow, with room for every connection of the load. */
export const serveCommand = (cli: string, maxInFlight: number): string =>
  `${cli} serve ${PROFILE_FLOW} --port 0 --max-in-flight ${maxInFlight}`;

/**
 * Whether this build has `tributary serve`: its `--help` must succeed and be serve's own (commander
 * answers an unknown command's `--help` with the program's help and exit 0).
 */
export function serveAvailable(cli: string): { ok: true } | { ok: false; reason: string } {
  const r = spawnSync("/bin/sh", ["-c", `${cli} serve --help`], { cwd: REPO, encoding: "utf8" });
  if (r.status === 0 && /usage: tributary serve/i.test(r.stdout)) return { ok: true };
  const first = `${r.stdout}${r.stderr}`.split("\n").find((l) => l.trim() !== "") ?? "";
  return {
    ok: false,
    reason:
      r.status === 0
        ? "`tributary serve --help` prints the program's help: no serve command"
        : `\`tributary serve --help\` exited ${r.status}: ${first.trim()}`,
  };
}
