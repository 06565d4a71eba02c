/**
 * Step processes run in their own process group, so an orchestrator or worker killed with SIGKILL (or by
 * the OOM killer) would leave them running: still writing outputs after another run re-ran the step.
 * Node cannot ask for a parent-death signal, so the owner starts a tiny reaper process holding a pipe from
 * it. When the pipe closes, the owner is gone, and the reaper kills every process that carries the owner's
 * token in its environment (inherited by everything a step starts, also what escapes its process group).
 * A new run sweeps for the token of a dead run it finds in the run lock, for what the reaper missed.
 * The job servers (job-server-script.ts) hold such a pipe too and sweep the same way when it closes, so a
 * run whose processes all start through them needs no reaper of its own: it starts one only for the
 * processes Node spawns itself.
 * Linux only (/proc); elsewhere it does nothing.
 */
import { randomBytes } from "node:crypto";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { childProcess } from "./builtins.js";

export const STEP_OWNER_ENV = "TRIBUTARY_STEP_OWNER";

const REAPER = `
const fs = require("fs");
const mark = "${STEP_OWNER_ENV}=" + process.argv[1];
process.on("SIGINT", () => {});
process.on("SIGHUP", () => {});
let done = false;
function sweep() {
  let n = 0;
  for (const e of fs.readdirSync("/proc")) {
    if (!/^[0-9]+$/.test(e)) continue;
    try {
      if (fs.readFileSync("/proc/" + e + "/environ", "latin1").split("\\0").includes(mark)) {
        process.kill(Number(e), "SIGKILL");
        n++;
      }
    } catch {}
  }
  return n;
}
function reap() {
  if (done) return;
  done = true;
  // Twice: a process may have forked while the first sweep ran.
  sweep();
  setTimeout(() => { sweep(); process.exit(0); }, 100);
}
process.stdin.on("data", () => {});
process.stdin.on("end", reap);
process.stdin.on("close", reap);
process.stdin.on("error", reap);
`;

export interface Reaper {
  /** Goes into every step process's environment. */
  token: string;
  env: Record<string, string>;
  /** Ends the reaper (it sweeps once more on its way out). */
  close(): void;
}

/** Whether processes can be found by their environment here (Linux, /proc). */
export function canReap(): boolean {
  return process.platform === "linux" && existsSync("/proc/self/environ");
}

/** A fresh owner token. */
export function ownerToken(): string {
  return randomBytes(12).toString("hex");
}

/**
 * Kills, now, every process whose environment carries `token` (a run or worker that died left them);
 * returns how many. Synchronous: it runs before a new run starts anything.
 */
export function sweepOwner(token: string): number {
  if (!canReap()) return 0;
  const mark = `${STEP_OWNER_ENV}=${token}`;
  let n = 0;
  // Twice: a process may have forked while the first sweep ran.
  for (let round = 0; round < 2; round++) {
    for (const e of readdirSync("/proc")) {
      if (!/^[0-9]+$/.test(e) || Number(e) === process.pid) continue;
      try {
        if (readFileSync(`/proc/${e}/environ`, "latin1").split("\0").includes(mark)) {
          process.kill(Number(e), "SIGKILL");
          n++;
        }
      } catch {
        // Gone, or not ours to read.
      }
    }
  }
  return n;
}

/** The variable that marks a process as the owner's: empty where processes cannot be found by it. */
export function ownerEnv(token: string): Record<string, string> {
  return canReap() ? { [STEP_OWNER_ENV]: token } : {};
}

/** Starts the reaper for this process; undefined where there is no /proc to find processes in. */
export function startReaper(token: string = ownerToken()): Reaper | undefined {
  if (!canReap()) return undefined;
  const child = childProcess().spawn(process.execPath, ["-e", REAPER, token], {
    detached: true,
    stdio: ["pipe", "ignore", "ignore"],
    env: { PATH: process.env.PATH ?? "" },
  });
  child.on("error", () => {});
  child.stdin!.on("error", () => {});
  // Neither the reaper nor the pipe to it may keep the worker alive.
  child.unref();
  (child.stdin as unknown as { unref?: () => void }).unref?.();
  return { token, env: ownerEnv(token), close: () => child.stdin!.end() };
}
