/**
 * Step processes run in their own process group, so a worker killed with SIGKILL (or by the OOM killer)
 * would leave them running: still writing outputs after another worker re-ran the step. Node cannot ask
 * for a parent-death signal, so each worker starts a tiny reaper process holding a pipe from it. When the
 * pipe closes, the worker is gone, and the reaper kills every process that carries the worker's token in
 * its environment (inherited by everything a step starts). Linux only (/proc); elsewhere it does nothing.
 */
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";

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
}

/** Starts the reaper for this process; undefined where there is no /proc to find processes in. */
export function startReaper(): Reaper | undefined {
  if (process.platform !== "linux" || !existsSync("/proc/self/environ")) return undefined;
  const token = randomBytes(12).toString("hex");
  const child = spawn(process.execPath, ["-e", REAPER, token], {
    detached: true,
    stdio: ["pipe", "ignore", "ignore"],
    env: { PATH: process.env.PATH ?? "" },
  });
  child.on("error", () => {});
  child.stdin!.on("error", () => {});
  // Neither the reaper nor the pipe to it may keep the worker alive.
  child.unref();
  (child.stdin as unknown as { unref?: () => void }).unref?.();
  return { token, env: { [STEP_OWNER_ENV]: token } };
}
