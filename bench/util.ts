/** Shared helpers of the benchmark harness: timing external commands, statistics, markdown tables. */
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

/** Root of every work dir the harness creates: `<tmpdir>/tributary-bench`. */
export const BENCH_TMP = join(tmpdir(), "tributary-bench");

const TIME_BIN = "/usr/bin/time";
const HAS_TIME = existsSync(TIME_BIN);
let timeOutDir: string | undefined;

export interface Timed {
  /** Wall time measured around the child, ms. */
  ms: number;
  /** Peak RSS in KiB, from /usr/bin/time (undefined when it is not installed). */
  rssKb?: number;
  status: number | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs one /bin/sh command line in `cwd` and times it. Every timed command of the harness goes through
 * here, wrapped the same way (`/usr/bin/time -f %M`, when present, for peak RSS), so the fixed cost of
 * the wrapper hits every tool equally.
 */
export function timeShell(cmd: string, cwd: string, env?: NodeJS.ProcessEnv): Timed {
  let argv = ["/bin/sh", "-c", cmd];
  let rssFile: string | undefined;
  if (HAS_TIME) {
    timeOutDir ??= mkdtempSync(join(tmpdir(), "tributary-bench-time-"));
    rssFile = join(timeOutDir, "rss");
    rmSync(rssFile, { force: true });
    argv = [TIME_BIN, "-f", "%M", "-o", rssFile, ...argv];
  }
  const t0 = performance.now();
  const r = spawnSync(argv[0]!, argv.slice(1), {
    cwd,
    env: env ?? process.env,
    stdio: ["ignore", "pipe", "pipe"],
    maxBuffer: 256 * 1024 * 1024,
    encoding: "utf8",
  });
  const ms = performance.now() - t0;
  let rssKb: number | undefined;
  if (rssFile && existsSync(rssFile)) {
    // The last line holds %M; /usr/bin/time writes "Command exited with non-zero status" before it.
    const lines = readFileSync(rssFile, "utf8").trim().split("\n");
    const v = Number(lines[lines.length - 1]);
    if (Number.isFinite(v)) rssKb = v;
  }
  if (r.error) throw r.error;
  return { ms, rssKb, status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** Like {@link timeShell} but throws, with the command's output, when it does not exit 0. */
export function mustTime(cmd: string, cwd: string, what: string): Timed {
  const r = timeShell(cmd, cwd);
  if (r.status !== 0) {
    const tail = (r.stdout + r.stderr).slice(-2000);
    throw new Error(`${what}: \`${cmd}\` in ${cwd} exited ${r.status}\n${tail}`);
  }
  return r;
}

export function median(xs: number[]): number {
  if (xs.length === 0) return NaN;
  const s = xs.slice().sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

export function max(xs: number[]): number {
  return xs.length === 0 ? NaN : Math.max(...xs);
}

/** A markdown table. */
export function table(header: string[], rows: (string | number)[][]): string {
  const line = (cells: (string | number)[]): string => `| ${cells.join(" | ")} |`;
  return [line(header), line(header.map(() => "---")), ...rows.map(line)].join("\n");
}

export const fmt = {
  ms(v: number | undefined): string {
    if (v === undefined || !Number.isFinite(v)) return "–";
    if (v >= 10_000) return `${(v / 1000).toFixed(1)} s`;
    if (v >= 1000) return `${(v / 1000).toFixed(2)} s`;
    return `${v.toFixed(v >= 100 ? 0 : 1)} ms`;
  },
  s(v: number | undefined): string {
    return v === undefined || !Number.isFinite(v) ? "–" : (v / 1000).toFixed(2);
  },
  ratio(v: number | undefined): string {
    return v === undefined || !Number.isFinite(v) ? "–" : v.toFixed(2);
  },
  pct(v: number): string {
    return `${(v * 100).toFixed(2)}%`;
  },
  mib(kb: number | undefined): string {
    return kb === undefined || !Number.isFinite(kb) ? "–" : (kb / 1024).toFixed(1);
  },
};

/** Deterministic PRNG (mulberry32), so generated graphs are identical from run to run. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Progress for the person waiting; stdout stays pure markdown. */
export function progress(msg: string): void {
  process.stderr.write(`[bench] ${msg}\n`);
}

/** The one-line header above each table: what was measured, reps, and that peers ran alongside. */
export function heading(title: string, detail: string): string {
  return `### ${title}\n\n${detail}\n`;
}
