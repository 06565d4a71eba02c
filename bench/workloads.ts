import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

/** The benchmark data vendored into the repository (see bench/data/README.md). */
export const BENCH_DATA = join(dirname(fileURLToPath(import.meta.url)), "data");

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
  return JSON.parse(readFileSync(join(BENCH_DATA, "workloads", `${id}.json`), "utf8")) as Workload;
}
