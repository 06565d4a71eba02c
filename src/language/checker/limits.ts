import type { ModuleLimits, Rate } from "../../graph/ir.js";
import type { Span } from "../ast.js";
import type { DiagnosticSink } from "../diagnostics.js";
import type { FlowModule } from "../modules.js";

export type LimitField = keyof ModuleLimits;

/**
 * Per-module limits given by `with` options. A limit holds across every step of its module, so two
 * steps that set it differently are an error, reported at the second.
 */
export class ModuleLimitSet {
  private readonly set = new Map<string, { value: number | Rate; span: Span }>();

  constructor(private readonly sink: DiagnosticSink) {}

  /** Sets `field` of `module`'s limits; `option` is the name the user wrote (for the message). */
  add(module: string, field: LimitField, value: number | Rate, at: Span, option: string): void {
    const key = `${module}\0${field}`;
    const prev = this.set.get(key);
    if (prev) {
      const same =
        typeof value === "number"
          ? prev.value === value
          : (prev.value as Rate).tokens === value.tokens && (prev.value as Rate).perMs === value.perMs;
      if (!same) {
        const { line } = this.sink.lines.position(prev.span.start);
        this.sink.error(
          "conflicting-limit",
          `${option} of module ${module} is already set differently on line ${line}`,
          at.start,
          at.end,
          `module limits hold across every step of ${module}; set it once`,
        );
      }
      return;
    }
    this.set.set(key, { value, span: at });
  }

  /** Graph.limits: what the used modules declare themselves, overridden by the `with` options. */
  lower(used: Iterable<FlowModule>): Record<string, ModuleLimits> {
    // Keyed by module names, which are the user's: no prototype for `__proto__` or `constructor` to hit.
    const limits: Record<string, ModuleLimits> = Object.create(null);
    for (const m of used) {
      if (m.concurrency !== undefined) (limits[m.name] ??= {}).concurrency = m.concurrency;
      if (m.rate !== undefined) (limits[m.name] ??= {}).rate = m.rate;
    }
    for (const [key, { value }] of this.set) {
      const [module, field] = key.split("\0") as [string, LimitField];
      if (field === "concurrency") (limits[module] ??= {}).concurrency = value as number;
      else (limits[module] ??= {}).rate = value as Rate;
    }
    return limits;
  }
}
