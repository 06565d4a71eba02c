import { existsSync, readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

/** ../shared/bench beside the project (as in CI), or TRIBUTARY_SHARED_BENCH. */
export function sharedBench(): string {
  const fromEnv = process.env.TRIBUTARY_SHARED_BENCH;
  if (fromEnv) return fromEnv;
  const here = dirname(fileURLToPath(import.meta.url));
  const candidate = resolve(here, "..", "..", "shared", "bench");
  if (!existsSync(candidate)) {
    throw new Error(`shared benchmark data not found at ${candidate}; set TRIBUTARY_SHARED_BENCH`);
  }
  return candidate;
}

export interface WorkloadNode {
  id: string;
  command: string;
  deps: string[];
  inputs: string[];
  outputs: string[];
  duration: number;
}

export interface Workload {
  id: string;
  title: string;
  bench: Record<string, any>;
  outputDirs: string[];
  files: { path: string; content: string }[];
  nodes: WorkloadNode[];
}

export function loadWorkload(id: string): Workload {
  return JSON.parse(readFileSync(join(sharedBench(), "workloads", `${id}.json`), "utf8")) as Workload;
}
