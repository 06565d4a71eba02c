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

/**
 * A chain of `n` trivial tasks, each reading its predecessor's output (`cat out/c0000.txt > out/c0001.txt`):
 * generated here, not vendored. With one task ready at a time, wall / n is the latency of one hop from a
 * task's end to the next one's end: what a build's critical path pays per step (W3), where W1 measures
 * throughput.
 */
export function chainWorkload(n: number): Workload {
  const id = (i: number): string => `c${String(i).padStart(4, "0")}`;
  const nodes: WorkloadNode[] = Array.from({ length: n }, (_, i) => {
    const out = `out/${id(i)}.txt`;
    const prev = i === 0 ? undefined : `out/${id(i - 1)}.txt`;
    return {
      id: id(i),
      command: prev ? `cat ${prev} > ${out}` : `echo ${id(i)} > ${out}`,
      deps: prev ? [id(i - 1)] : [],
      inputs: prev ? [prev] : [],
      outputs: [out],
      duration: 0,
    };
  });
  return {
    id: `chain-${n}`,
    title: `a chain of ${n} trivial tasks`,
    bench: { kind: "chain", jobs: [1] },
    outputDirs: ["out"],
    files: [],
    nodes,
  };
}
