import type { Backoff, Step, StepOptions } from "../../graph/ir.js";
import { DEFAULT_BACKOFF } from "../../engine/retry.js";
import type { Expr, OptionNode } from "../ast.js";
import { BACKOFF_FIELDS, OPTION_NAMES, OPTION_SHAPES, PRIORITY_WORDS, type OptionName } from "../options.js";
import { ExpressionChecker } from "./expressions.js";
import { describeJs, suggest } from "./hints.js";

/** `with` options: checked and lowered into the step's options or its module's limits. */
export abstract class OptionChecker extends ExpressionChecker {
  protected applyOptions(step: Step, limitModule: string, options: OptionNode[], mapRefs: number): void {
    const o: StepOptions = step.options;
    const seen = new Map<string, OptionNode>();
    let backoffNode: OptionNode | undefined;
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
      seen.set(name, opt);
      if (!(OPTION_NAMES as readonly string[]).includes(name)) {
        this.sink.error(
          "unknown-option",
          `unknown option ${name}`,
          opt.nameSpan.start,
          opt.nameSpan.end,
          suggest(name, OPTION_NAMES) ?? `options: ${OPTION_NAMES.join(", ")}`,
        );
        continue;
      }
      const wrong = (got?: string): void => {
        this.sink.error(
          "bad-option",
          `${name} must be ${OPTION_SHAPES[name as OptionName]}${got ? `, got ${got}` : ""}`,
          value.start,
          value.end,
        );
      };
      switch (name as OptionName) {
        case "priority": {
          if (value.kind === "ident" && !this.bindings.has(value.name)) {
            const p = PRIORITY_WORDS[value.name];
            if (p === undefined) {
              this.sink.error(
                "bad-option",
                `priority must be ${OPTION_SHAPES.priority}, got ${value.name}`,
                value.start,
                value.end,
                suggest(value.name, Object.keys(PRIORITY_WORDS)),
              );
            } else o.priority = p;
            break;
          }
          const v = this.optionValue(opt);
          if (v === BAD) break;
          if (typeof v === "number" && Number.isFinite(v)) o.priority = v;
          else wrong(describeOption(value, v));
          break;
        }
        case "retry":
        case "cpus":
        case "concurrency": {
          const v = this.optionValue(opt);
          if (v === BAD) break;
          const min = name === "concurrency" ? 1 : 0;
          if (!(Number.isInteger(v) && (v as number) >= min)) {
            wrong(describeOption(value, v));
            break;
          }
          if (name === "retry") o.retries = v as number;
          else if (name === "cpus") o.cpus = v as number;
          else this.limits.add(limitModule, "concurrency", v as number, value, "concurrency");
          break;
        }
        case "timeout":
        case "estimate": {
          if (value.kind !== "duration") {
            const v = value.kind === "rate" ? undefined : this.optionValue(opt);
            if (v !== BAD) {
              this.sink.error(
                "bad-option",
                `${name} must be ${OPTION_SHAPES[name as OptionName]}, got ${describeOption(value, v)}`,
                value.start,
                value.end,
                typeof v === "number" ? `add a unit: ${v}s or ${v}ms` : undefined,
              );
            }
            break;
          }
          if (!(value.ms > 0)) {
            this.sink.error("bad-option", `${name} must be longer than 0`, value.start, value.end);
            break;
          }
          if (name === "timeout") o.timeoutMs = value.ms;
          else o.estimateMs = value.ms;
          break;
        }
        case "throttle": {
          if (value.kind !== "rate") {
            const v = this.optionValue(opt);
            if (v !== BAD) wrong(describeOption(value, v));
            break;
          }
          const r = value.rate;
          if (!r) break; // malformed: reported by the lexer
          if (!(Number.isInteger(r.tokens) && r.tokens >= 1) || !(r.perMs > 0)) {
            this.sink.error(
              "bad-option",
              `a rate needs a whole number of calls, at least 1, per period; got ${this.source.slice(value.start, value.end)}`,
              value.start,
              value.end,
              "write it like 20/s or 100/1min; to run one at a time use concurrency: 1",
            );
            break;
          }
          this.limits.add(limitModule, "rate", r, value, "throttle");
          break;
        }
        case "pool": {
          let pool: string | undefined;
          if (value.kind === "ident" && !this.bindings.has(value.name)) pool = value.name;
          else {
            const v = this.optionValue(opt);
            if (v === BAD) break;
            if (typeof v !== "string") {
              wrong(describeOption(value, v));
              break;
            }
            pool = v;
          }
          if (!this.pools.has(pool)) {
            this.sink.error(
              "unknown-pool",
              `unknown pool ${pool}`,
              value.start,
              value.end,
              suggest(pool, this.pools.keys()) ?? `declare it: pool ${pool} = 2`,
            );
            break;
          }
          o.pool = pool;
          break;
        }
        case "cache":
        case "partial": {
          const v = this.optionValue(opt);
          if (v === BAD) break;
          if (typeof v !== "boolean") {
            wrong(describeOption(value, v));
            break;
          }
          if (name === "cache") o.cache = v;
          else {
            o.partial = v;
            if (v && mapRefs === 0) {
              this.sink.warning(
                "partial-without-map",
                `partial has no effect: ${step.id} does not use the value of a map`,
                opt.nameSpan.start,
                value.end,
              );
            }
          }
          break;
        }
        case "env": {
          const v = this.optionValue(opt);
          if (v === BAD) break;
          if (!Array.isArray(v) || !v.every((x) => typeof x === "string")) {
            wrong(describeOption(value, v));
            break;
          }
          const badName = v.find((x) => !/^[A-Za-z_][A-Za-z0-9_]*$/.test(x));
          if (badName !== undefined) {
            this.sink.error(
              "bad-option",
              `${JSON.stringify(badName)} is not an environment variable name`,
              value.start,
              value.end,
            );
            break;
          }
          o.env = v;
          break;
        }
        case "version": {
          const v = this.optionValue(opt);
          if (v === BAD) break;
          if (typeof v !== "string" || v === "") {
            wrong(describeOption(value, v));
            break;
          }
          o.version = v;
          break;
        }
        case "backoff":
          backoffNode = opt;
          this.applyBackoff(o, opt);
          break;
      }
    }
    if (backoffNode && !(o.retries !== undefined && o.retries > 0)) {
      this.sink.error(
        "backoff-without-retry",
        "backoff has no effect without retry",
        backoffNode.nameSpan.start,
        backoffNode.value.end,
        "add retry: 3 (the number of extra attempts)",
      );
    }
  }

  protected applyBackoff(o: StepOptions, opt: OptionNode): void {
    const v = opt.value;
    const b: Backoff = { ...DEFAULT_BACKOFF };
    if (v.kind === "duration") {
      if (!(v.ms > 0)) {
        this.sink.error("bad-option", "backoff must be longer than 0", v.start, v.end);
        return;
      }
      b.initialMs = v.ms;
      b.maxMs = Math.max(b.maxMs, v.ms);
      o.backoff = b;
      return;
    }
    if (v.kind !== "record") {
      const got = this.optionValue(opt);
      if (got !== BAD) {
        this.sink.error(
          "bad-option",
          `backoff must be ${OPTION_SHAPES.backoff}, got ${describeOption(v, got)}`,
          v.start,
          v.end,
        );
      }
      return;
    }
    let ok = true;
    const seen = new Set<string>();
    for (const f of v.fields) {
      if (seen.has(f.name)) {
        this.sink.error(
          "duplicate-field",
          `backoff field ${f.name} is given twice`,
          f.nameSpan.start,
          f.nameSpan.end,
        );
        ok = false;
        continue;
      }
      seen.add(f.name);
      if (!(BACKOFF_FIELDS as readonly string[]).includes(f.name)) {
        this.sink.error(
          "bad-option",
          `unknown backoff field ${f.name}`,
          f.nameSpan.start,
          f.nameSpan.end,
          suggest(f.name, BACKOFF_FIELDS) ?? `fields: ${BACKOFF_FIELDS.join(", ")}`,
        );
        ok = false;
        continue;
      }
      if (f.name === "initial" || f.name === "max") {
        if (f.value.kind !== "duration" || !(f.value.ms > 0)) {
          this.sink.error(
            "bad-option",
            `backoff ${f.name} must be a duration longer than 0, like 200ms`,
            f.value.start,
            f.value.end,
          );
          ok = false;
          continue;
        }
        if (f.name === "initial") b.initialMs = f.value.ms;
        else b.maxMs = f.value.ms;
        continue;
      }
      const n = f.value.kind === "int" || f.value.kind === "float" ? f.value.value : NaN;
      if (f.name === "factor" && !(n >= 1)) {
        this.sink.error(
          "bad-option",
          "backoff factor must be a number of at least 1",
          f.value.start,
          f.value.end,
        );
        ok = false;
      } else if (f.name === "jitter" && !(n >= 0 && n <= 1)) {
        this.sink.error(
          "bad-option",
          "backoff jitter must be a number from 0 to 1",
          f.value.start,
          f.value.end,
        );
        ok = false;
      } else if (f.name === "factor") b.factor = n;
      else b.jitter = n;
    }
    if (seen.has("initial") && !seen.has("max")) b.maxMs = Math.max(b.maxMs, b.initialMs);
    if (b.maxMs < b.initialMs) {
      this.sink.error("bad-option", "backoff max is shorter than initial", v.start, v.end);
      ok = false;
    }
    if (ok) o.backoff = b;
  }

  /** An option's value, known at compile time; BAD when it is not (after reporting). */
  protected optionValue(opt: OptionNode): unknown {
    const v = opt.value;
    if (v.kind === "duration" || v.kind === "rate")
      return v.kind === "duration" ? new Duration(v.ms) : new RateValue();
    const c = this.compileExpr(v, this.constCtx(opt.name), true);
    if (c.bad) return BAD;
    if (c.expr.kind !== "lit") {
      this.sink.error(
        "option-not-constant",
        `the value of ${opt.name} must be known before the run`,
        v.start,
        v.end,
        "use a literal or an input",
      );
      return BAD;
    }
    return c.expr.value;
  }
}

class Duration {
  constructor(readonly ms: number) {}
}
class RateValue {}
const BAD = Symbol("bad");

function describeOption(e: Expr, v: unknown): string {
  if (v instanceof Duration || e.kind === "duration") return "a duration";
  if (v instanceof RateValue || e.kind === "rate") return "a rate";
  return describeJs(v);
}
