/**
 * GNU parallel for the fan-out section: found on PATH, or installed with apt-get (through sudo when not
 * root, as .ci/run installs the test tools). Debian's `moreutils` also ships a `parallel`, with another
 * command line: only one whose `--version` says "GNU parallel" counts.
 */
import { spawnSync } from "node:child_process";
import { progress } from "../util.js";

export type ParallelStatus =
  { ok: true; version: string; installed: boolean } | { ok: false; reason: string };

/** The first line of `parallel --version` when it is GNU parallel, else undefined. */
export function gnuParallelVersion(): string | undefined {
  const r = spawnSync("parallel", ["--will-cite", "--version"], { encoding: "utf8", timeout: 30_000 });
  if (r.error || r.status !== 0) return undefined;
  const first = r.stdout.split("\n")[0]?.trim() ?? "";
  return first.startsWith("GNU parallel") ? first : undefined;
}

function apt(args: string[]): { ok: boolean; tail: string } {
  const root = process.getuid?.() === 0;
  const argv = root ? ["apt-get", ...args] : ["sudo", "-n", "apt-get", ...args];
  const r = spawnSync(argv[0]!, argv.slice(1), {
    encoding: "utf8",
    env: { ...process.env, DEBIAN_FRONTEND: "noninteractive" },
    stdio: ["ignore", "pipe", "pipe"],
    timeout: 300_000,
  });
  const text = `${r.stdout ?? ""}${r.stderr ?? ""}${r.error ? String(r.error) : ""}`.trim();
  const tail = text.split("\n").slice(-2).join(" / ");
  return { ok: r.status === 0 && !r.error, tail: `\`${argv.join(" ")}\`: ${tail || `exit ${r.status}`}` };
}

/**
 * GNU parallel, installing the `parallel` package when it is missing: `apt-get install` first, and
 * `apt-get update` then `install` again when the package lists are stale or empty. Never throws.
 */
export function ensureGnuParallel(): ParallelStatus {
  const have = gnuParallelVersion();
  if (have) return { ok: true, version: have, installed: false };
  progress("fanout: GNU parallel is missing: apt-get install -y parallel");
  const install = ["install", "-y", "-q", "--no-install-recommends", "parallel"];
  const first = apt(install);
  let r = first;
  if (!r.ok) {
    const u = apt(["update", "-q"]);
    if (!u.ok) return { ok: false, reason: `${first.tail}; then ${u.tail}` };
    r = apt(install);
  }
  if (!r.ok) return { ok: false, reason: r.tail };
  const v = gnuParallelVersion();
  return v
    ? { ok: true, version: v, installed: true }
    : { ok: false, reason: "apt-get installed `parallel`, but `parallel --version` is not GNU parallel" };
}
