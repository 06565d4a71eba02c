import type { Rate, Step } from "../../graph/ir.js";
import { STEP_KINDS, kindsText, type StepKind, type WithOption } from "../../graph/options.js";
import type { OptionNode } from "../ast.js";
import { suggest } from "./hints.js";
import { BAD, OptionValueReader } from "./option-values.js";

/**
 * `with` clauses, checked and lowered by the option table: each option into the field of the step's
 * options or of its module's limits that the table names.
 */
export abstract class OptionChecker extends OptionValueReader {
  /**
   * `kind` is undefined when the callee is unknown (already reported): then no option is refused for
   * its kind. `limitModule` is the module whose limits concurrency and throttle set.
   */
  protected applyOptions(
    step: Step,
    kind: StepKind | undefined,
    limitModule: string,
    options: OptionNode[],
    mapRefs: number,
  ): void {
    const table = this.withOptions;
    const fields = step.options as Record<string, unknown>;
    const seen = new Set<string>();
    /** Options of this step that apply to it, valid or not. */
    const given = new Map<string, OptionNode>();
    for (const opt of options) {
      const { name, value } = opt;
      if (seen.has(name)) {
        this.sink.error(
          "duplicate-option",
          `option ${name} is given twice`,
          opt.nameSpan.start,
          opt.nameSpan.end,
        );
        continue;
      }
      seen.add(name);
      const def = table.get(name);
      if (!def) {
        const names = [...table.keys()];
        this.sink.error(
          "unknown-option",
          `unknown option ${name}`,
          opt.nameSpan.start,
          opt.nameSpan.end,
          suggest(name, names) ?? `options: ${names.join(", ")}`,
        );
        continue;
      }
      if (kind !== undefined && !def.accepts.includes(kind)) {
        this.notForKind(def, kind, opt);
        continue;
      }
      given.set(name, opt);
      const v = this.readOption(def, opt);
      if (v === BAD) continue;
      if ("step" in def.target) fields[def.target.step] = v;
      else this.limits.add(limitModule, def.target.moduleLimit, v as number | Rate, value, name);
    }

    // Rules between an option and the rest of the step.
    const partial = given.get("partial");
    if (partial && step.options.partial === true && mapRefs === 0) {
      this.sink.warning(
        "partial-without-map",
        `partial has no effect: ${step.id} does not use the value of a map`,
        partial.nameSpan.start,
        partial.value.end,
      );
    }
    const backoff = given.get("backoff");
    if (backoff && !(step.options.retries !== undefined && step.options.retries > 0)) {
      this.sink.error(
        "backoff-without-retry",
        "backoff has no effect without retry",
        backoff.nameSpan.start,
        backoff.value.end,
        "add retry: 3 (the number of extra attempts)",
      );
    }
  }

  private notForKind(def: WithOption, kind: StepKind, opt: OptionNode): void {
    this.sink.error(
      "option-not-for-step",
      `${def.name} does not apply to ${STEP_KINDS[kind]}; it applies to ${kindsText(def.accepts)}`,
      opt.nameSpan.start,
      opt.value.end,
      `remove ${def.name} from this step`,
    );
  }
}
