import { spawn } from "node:child_process";
import { cpSync, mkdirSync, symlinkSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { tempDir } from "./procs.js";

export const REPO = fileURLToPath(new URL("../..", import.meta.url));
export const BIN = join(REPO, "bin", "tributary.js");

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs the built CLI (npm test builds first) as a real process: plain output, no colour. */
export function cli(
  args: string[],
  opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {},
): Promise<CliResult> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [BIN, ...args], {
      cwd: opts.cwd ?? REPO,
      env: { ...process.env, CI: "1", NO_COLOR: "1", ...opts.env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (b: Buffer) => (stdout += b));
    child.stderr.on("data", (b: Buffer) => (stderr += b));
    child.on("close", (code) => resolve({ code, stdout, stderr }));
  });
}

/**
 * A private copy of an example (or of another directory of `from`), so tests never write into the
 * repository or share outputs. Its
 * modules import "tributary-flow" and "zod" as a user's project would: from a node_modules beside it.
 */
export function copyExample(name: string, from = join(REPO, "examples")): string {
  const top = tempDir();
  const modules = join(top, "node_modules");
  mkdirSync(modules);
  symlinkSync(REPO, join(modules, "tributary-flow"));
  symlinkSync(join(REPO, "node_modules", "zod"), join(modules, "zod"));
  const dir = join(top, name);
  cpSync(join(from, name), dir, {
    recursive: true,
    filter: (src) => !/[/\\](\.tributary|build|out)$/.test(src),
  });
  return dir;
}

/** One event of the --json stream, read as the JSON it is. */
export type JsonEvent = Record<string, any>;

/** The events a `run --json` printed, one JSON object per line. */
export function jsonEvents(stdout: string): JsonEvent[] {
  return stdout
    .trim()
    .split("\n")
    .filter((l) => l.startsWith("{"))
    .map((l) => JSON.parse(l) as JsonEvent);
}

/** The steps of a run's events that really ran and those restored from the cache, each sorted by id. */
export function ranAndCached(events: JsonEvent[]): { ran: string[]; cached: string[] } {
  const ends = events.filter((e) => e.type === "step-end");
  return {
    ran: ends
      .filter((e) => e.status === "ok" && !e.cached)
      .map((e) => e.id as string)
      .sort(),
    cached: ends
      .filter((e) => e.cached)
      .map((e) => e.id as string)
      .sort(),
  };
}
