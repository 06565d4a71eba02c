import type { StepId } from "../graph/ir.js";
import type { StepError, StepStatus } from "./result.js";

/** The items of an expanded map: where they start in the step list, how many, the list and their keys. */
export interface MapItems {
  first: number;
  count: number;
  items: readonly unknown[];
  keys: readonly string[];
}

/**
 * What a `partial` consumer learns of a failed item. Only what is the same on every run that fails the
 * same way (no stack, no time), because it is part of the consumer's cache key.
 */
export interface ItemFailure {
  key: string;
  index: number;
  item: unknown;
  status: string;
  error: { kind: string; message: string } | null;
}

export interface Collected {
  ok: unknown[];
  failed: ItemFailure[];
  /** The first failed item's id, when any failed. */
  cause: StepId | undefined;
}

/** The items' results: the values of those that succeeded (in item order) and a record of each failure. */
export function collectItems(
  m: MapItems,
  idOf: (i: number) => StepId,
  statusOf: (i: number) => StepStatus | undefined,
  valueOf: (i: number) => unknown,
  errorOf: (i: number) => StepError | undefined,
): Collected {
  const ok: unknown[] = [];
  const failed: ItemFailure[] = [];
  let cause: StepId | undefined;
  for (let k = 0; k < m.count; k++) {
    const j = m.first + k;
    const status = statusOf(j)!;
    if (status === "ok") {
      ok.push(valueOf(j));
      continue;
    }
    const e = errorOf(j);
    failed.push({
      key: m.keys[k]!,
      index: k,
      item: m.items[k],
      status,
      error: e ? { kind: e.kind, message: e.message } : null,
    });
    cause ??= idOf(j);
  }
  return { ok, failed, cause };
}
