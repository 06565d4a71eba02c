import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { runGraph, type RunOptions } from "../../src/project/run-graph.js";
import type { RunResult } from "../../src/engine/result.js";
import type { Graph, Step, StepAction, ValueExpr } from "../../src/graph/ir.js";
import { openCache, type LocalCache, type OpenCacheOptions } from "../../src/cache/index.js";

export const lit = (value: unknown): ValueExpr => ({ kind: "lit", value });
export const ref = (step: string, ...path: (string | number)[]): ValueExpr =>
  path.length ? { kind: "ref", step, path } : { kind: "ref", step };
export const file = (path: string): ValueExpr => ({ kind: "file", path: { kind: "lit", value: path } });
export const out = (path: string): ValueExpr => ({ kind: "output", path });

/** A /bin/sh step: strings are command text (template text, unquoted), expressions quoted values. */
export function sh(id: string, parts: (string | ValueExpr)[], options: Step["options"] = {}): Step {
  return {
    id,
    module: "sh",
    action: { kind: "process", shell: true },
    inputs: [
      {
        kind: "concat",
        quote: "shell",
        parts: parts.map((p): ValueExpr =>
          typeof p === "string" ? { kind: "lit", value: p, raw: true } : p,
        ),
      },
    ],
    options,
  };
}

/** An argv step (no shell). */
export function exec(
  id: string,
  argv: (string | ValueExpr)[],
  action: Partial<Extract<StepAction, { kind: "process" }>> = {},
): Step {
  return {
    id,
    module: "exec",
    action: { kind: "process", ...action },
    inputs: argv.map((p) => (typeof p === "string" ? lit(p) : p)),
    options: {},
  };
}

export interface Run {
  result: RunResult;
  cache: LocalCache;
  /** Ids of the steps that actually ran (not restored from the cache), sorted. */
  ran: string[];
  cached: string[];
  warnings: string[];
}

/** Opens the cache, runs the graph through the real engine, closes the cache (one "process"). */
export async function runWithCache(
  graph: Graph,
  root: string,
  cacheOptions: Partial<OpenCacheOptions> = {},
  runOptions: RunOptions = {},
): Promise<Run> {
  const warnings: string[] = [];
  const cache = await openCache({ root, onWarning: (m) => warnings.push(m), ...cacheOptions });
  const result = await runGraph(graph, { cache, root, concurrency: 4, ...runOptions });
  await cache.close();
  const failed = result.steps.filter((s) => s.status !== "ok");
  if (failed.length > 0) {
    throw new Error(
      `steps failed: ${failed.map((s) => `${s.id}: ${s.error?.message} ${s.outputTail ?? ""}`).join("; ")}`,
    );
  }
  return {
    result,
    cache,
    ran: result.steps
      .filter((s) => !s.cached)
      .map((s) => s.id)
      .sort(),
    cached: result.steps
      .filter((s) => s.cached)
      .map((s) => s.id)
      .sort(),
    warnings,
  };
}

export async function tempDir(
  prefix = "tributary-cache-",
): Promise<{ dir: string; cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  return { dir, cleanup: () => rm(dir, { recursive: true, force: true }) };
}
