import { evalAsync, evalSync, type EvalEnv } from "../graph/eval.js";
import type { Step, ValueExpr } from "../graph/ir.js";
import type { Topology } from "../graph/topology.js";

const NO_ARGS: unknown[] = [];

/**
 * Computes a step's arguments from the values of the steps it references. A consumer that takes partial
 * results sees a failed map as `{ ok, failed }` instead of its (missing) list.
 */
export class Inputs {
  constructor(
    private readonly steps: readonly Step[],
    private readonly topology: Topology,
    private readonly values: unknown[],
    private readonly partialValues: ReadonlyMap<number, unknown>,
    private readonly root: string,
    private readonly digest: (absPath: string) => Promise<string>,
  ) {}

  env(step: Step): EvalEnv {
    const index = this.topology.index;
    const partial = step.options.partial === true;
    return {
      root: this.root,
      digest: this.digest,
      valueOf: (id) => {
        const j = index.get(id)!;
        if (partial && this.partialValues.has(j)) return this.partialValues.get(j);
        return this.values[j];
      },
    };
  }

  /** Without I/O: only for steps none of whose inputs needs it (see needsIO). */
  sync(step: Step): unknown[] {
    const inputs = step.inputs;
    if (inputs.length === 0) return NO_ARGS;
    const out = new Array(inputs.length);
    let env: EvalEnv | undefined;
    for (let k = 0; k < inputs.length; k++) {
      const e = inputs[k]!;
      // Literals and plain references are the common case: skip building an environment for them.
      if (e.kind === "lit") out[k] = e.value;
      else if (e.kind === "ref" && !e.path && step.options.partial !== true) {
        out[k] = this.values[this.indexOf(e)];
      } else out[k] = evalSync(e, (env ??= this.env(step)));
    }
    return out;
  }

  async(step: Step): Promise<unknown[]> {
    const env = this.env(step);
    return Promise.all(step.inputs.map((e) => evalAsync(e, env)));
  }

  /** Position of a referenced step: the producer's hint when it checks out, else a lookup by id. */
  private indexOf(e: Extract<ValueExpr, { kind: "ref" }>): number {
    const at = e.at;
    return at !== undefined && this.steps[at]?.id === e.step ? at : this.topology.index.get(e.step)!;
  }
}
