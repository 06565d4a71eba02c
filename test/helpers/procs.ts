import { readdirSync, readFileSync } from "node:fs";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

/** PIDs of live processes whose command line contains `marker` (read from /proc, no mocks). */
export function processesMatching(marker: string): number[] {
  const out: number[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    try {
      const cmd = readFileSync(`/proc/${entry}/cmdline`, "utf8").replace(/\0/g, " ");
      const stat = readFileSync(`/proc/${entry}/stat`, "utf8");
      // Zombies are dead already; they only wait for their parent to reap them.
      const state = stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3);
      if (cmd.includes(marker) && state !== "Z") out.push(Number(entry));
    } catch {
      // Exited while we looked.
    }
  }
  return out;
}

/** A unique `sleep` duration, so a test can find exactly its own processes in the process table. */
export function uniqueSleep(): string {
  return `${300 + Math.floor(Math.random() * 600)}.${process.pid}${Math.floor(Math.random() * 1000)}`;
}

/**
 * Polls `check` until it holds. `ms` is a hang guard, not a measurement: a test never asserts how soon
 * something happens, only that it does, long before what it is compared with (a `uniqueSleep()` lasts
 * 300 s and more).
 */
export async function eventually(check: () => boolean, ms = 20_000): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (check()) return true;
    await new Promise((r) => setTimeout(r, 25));
  }
  return check();
}

export function tempDir(prefix = "tributary-test-"): string {
  return mkdtempSync(join(tmpdir(), prefix));
}
