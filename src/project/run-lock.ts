import { closeSync, openSync, readFileSync, renameSync, rmSync, statSync, writeSync } from "node:fs";
import { hostname } from "node:os";
import { join } from "node:path";
import { UserError } from "../engine/user-error.js";
import { sweepOwner } from "../executors/process/reaper.js";

/** What the lock file says about the run holding it. */
interface Holder {
  pid: number;
  /** The process's start time (clock ticks since boot), so a reused pid is not taken for the holder. */
  started: string | undefined;
  host: string;
  /** Its processes carry this token (see executors/process/reaper.ts). */
  token: string;
  command: string;
  at: string;
}

export interface RunLock {
  release(): void;
}

/**
 * One run per project at a time: concurrent runs in one checkout write the same outputs and would cache
 * each other's half-written files. A second run refuses at once, naming the running one; a lock left by a
 * run that died is taken over, after its leftover processes are stopped (they could still be writing).
 */
export function acquireRunLock(stateDir: string, token: string, command: string): RunLock {
  const file = join(stateDir, "run.lock");
  const me: Holder = {
    pid: process.pid,
    started: startTime(process.pid),
    host: hostname(),
    token,
    command,
    at: new Date().toISOString(),
  };
  for (let tries = 0; tries < 3; tries++) {
    if (tryCreate(file, me)) return { release: () => releaseIfMine(file, me) };
    const holder = readHolder(file);
    // A lock just created may not hold its text yet: young and unreadable counts as held.
    if ((holder && alive(holder)) || (!holder && ageMs(file) < 5000)) {
      const who = holder ? `pid ${holder.pid} (${holder.command}, since ${holder.at})` : "a run starting";
      throw new UserError(
        `another run is using this project: ${who}; wait for it to finish or stop it (its lock: ${file})`,
        1,
      );
    }
    // Dead (or unreadable): stop what it left running, then take the lock over. Renamed away first, so
    // that of two runs taking over at once only one succeeds.
    if (holder) sweepOwner(holder.token);
    const stale = `${file}.${process.pid}.stale`;
    try {
      renameSync(file, stale);
      rmSync(stale, { force: true });
    } catch {
      // Another run took it over first; try again (and meet it).
    }
  }
  throw new UserError(`cannot take the run lock ${file}; remove it if no run is going on`, 1);
}

function ageMs(file: string): number {
  try {
    return Date.now() - statSync(file).mtimeMs;
  } catch {
    return Infinity;
  }
}

function tryCreate(file: string, me: Holder): boolean {
  let fd: number;
  try {
    fd = openSync(file, "wx");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "EEXIST") return false;
    throw err;
  }
  try {
    writeSync(fd, JSON.stringify(me));
  } finally {
    closeSync(fd);
  }
  return true;
}

function readHolder(file: string): Holder | undefined {
  try {
    return JSON.parse(readFileSync(file, "utf8")) as Holder;
  } catch {
    return undefined;
  }
}

function releaseIfMine(file: string, me: Holder): void {
  const holder = readHolder(file);
  if (holder && holder.pid === me.pid && holder.token === me.token) rmSync(file, { force: true });
}

/** Whether the holder still runs. On another host (a shared directory) it cannot be known: assume so. */
function alive(h: Holder): boolean {
  if (h.host !== hostname()) return true;
  try {
    process.kill(h.pid, 0);
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
  const now = startTime(h.pid);
  return h.started === undefined || now === undefined || now === h.started;
}

/** Field 22 of /proc/<pid>/stat, where there is a /proc. */
function startTime(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2).split(" ")[19];
  } catch {
    return undefined;
  }
}
