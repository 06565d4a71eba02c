import type { ModuleLimits } from "../graph/ir.js";
import { Capacity } from "./resources.js";

/**
 * A module's capacity held by every run of the process that declares the same limits. Its bucket runs
 * on the absolute clock (`performance.now()`); each run converts its own relative times.
 */
export class SharedCapacity extends Capacity {
  /** Wake-ups of the runs with steps parked here. */
  private readonly waiters = new Set<() => void>();

  override release(waker?: () => void): void {
    this.used--;
    // Never inside the releasing run's pump: another run pumps in its own turn.
    for (const w of this.waiters) if (w !== waker) queueMicrotask(w);
  }

  override listen(waker: () => void): void {
    this.waiters.add(waker);
  }

  override unlisten(waker: () => void): void {
    this.waiters.delete(waker);
  }
}

/**
 * Module limits protect something outside the process (an API, a licence server), so they must hold
 * across concurrent runs, not per run. Kept for the life of the registry: dropping an idle capacity
 * would hand the next run a full bucket and let it exceed the rate.
 */
export class ModuleGates {
  private readonly capacities = new Map<string, SharedCapacity>();

  /** The capacity of `module` under `limits`: one per module and limit values. */
  capacityOf(module: string, limits: ModuleLimits): SharedCapacity {
    const { concurrency, rate } = limits;
    const key = `${module}\0${concurrency ?? ""}\0${rate ? `${rate.tokens}/${rate.perMs}` : ""}`;
    let c = this.capacities.get(key);
    if (!c) {
      c = new SharedCapacity(concurrency ?? Infinity, rate, performance.now());
      this.capacities.set(key, c);
    }
    return c;
  }
}

/** The registry runs use unless given another (tests pass their own to stay independent). */
export const processModuleGates = new ModuleGates();
