import { availableParallelism } from "node:os";
import { fileURLToPath } from "node:url";
import type { Piscina } from "piscina";
import type { ThreadTask } from "./thread-worker.js";

/**
 * The worker-thread pool for CPU-bound functions, on piscina. Created on first use and sized to the
 * run's concurrency, since the scheduler already bounds how many thread steps run at once.
 */
export class ThreadPool {
  private pool: Promise<Piscina> | undefined;

  constructor(private readonly maxThreads: number = availableParallelism()) {}

  run(task: ThreadTask, signal: AbortSignal): Promise<unknown> {
    this.pool ??= this.create();
    return this.pool.then((p) => p.run(task, { signal }));
  }

  async close(): Promise<void> {
    if (this.pool) await (await this.pool).destroy();
    this.pool = undefined;
  }

  private async create(): Promise<Piscina> {
    const { Piscina } = await import("piscina");
    const here = import.meta.url;
    // Under a TS runner (tests) the worker is the .ts source and needs tsx's loader too.
    const fromSource = here.endsWith(".ts");
    const filename = fileURLToPath(new URL(`./thread-worker.${fromSource ? "ts" : "js"}`, here));
    return new Piscina({
      filename,
      minThreads: 0,
      maxThreads: Math.max(1, this.maxThreads),
      idleTimeout: 1000,
      execArgv: fromSource ? ["--import", "tsx"] : [],
    });
  }
}
