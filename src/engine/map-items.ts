import type { Step, StepId } from "../graph/ir.js";
import type { StepError, StepStatus } from "./result.js";

/** The items of an expanded map: where they start in the step list, how many, and the list itself. */
export interface MapItems {
  first: number;
  count: number;
  items: unknown[];
}

/** One step per item of the list: the item, then the map's extra arguments. */
export function itemSteps(step: Step, list: unknown[], extra: unknown[]): Step[] {
  const action = step.action as Extract<Step["action"], { kind: "map" }>;
  // A consumer's `partial` is not the items' business.
  const { partial: _partial, ...itemOptions } = step.options;
  return list.map((item, k) => ({
    id: `${step.id}[${k}]`,
    module: action.module,
    action: action.item,
    inputs: [item, ...extra].map((value) => ({ kind: "lit" as const, value })),
    options: itemOptions,
    source: step.source,
  }));
}

export interface Collected {
  ok: unknown[];
  failed: { index: number; item: unknown; error: StepError | undefined; status: string }[];
  /** The first failed item's id, when any failed. */
  cause: StepId | undefined;
}

/** The items' results: the values of those that succeeded (in item order) and a record of each failure. */
export function collectItems(
  m: MapItems,
  steps: readonly Step[],
  statusOf: (i: number) => StepStatus | undefined,
  valueOf: (i: number) => unknown,
  errorOf: (i: number) => StepError | undefined,
): Collected {
  const ok: unknown[] = [];
  const failed: Collected["failed"] = [];
  for (let k = 0; k < m.count; k++) {
    const j = m.first + k;
    const status = statusOf(j)!;
    if (status === "ok") ok.push(valueOf(j));
    else failed.push({ index: k, item: m.items[k], status, error: errorOf(j) });
  }
  const cause = failed.length > 0 ? steps[m.first + failed[0]!.index]!.id : undefined;
  return { ok, failed, cause };
}
