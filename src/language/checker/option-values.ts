import type { Backoff } from "../../graph/ir.js";
import { parseSize } from "../../graph/units.js";
import { BACKOFF_FIELDS, DEFAULT_BACKOFF, PRIORITY_WORDS, type WithOption } from "../../graph/options.js";
import type { Expr, OptionNode } from "../ast.js";
import { ExpressionChecker } from "./expressions.js";
import { describeJs, suggest } from "./hints.js";

/** What a reader returns when the value was wrong (and reported). */
export const BAD = Symbol("bad");
export type Read = unknown | typeof BAD;

class Duration {
  constructor(readonly ms: number) {}
}
class RateValue {}

/**
 * The value of one `with` option, read by the kind the option table gives it: the value as the graph
 * IR holds it, or BAD after reporting what is wrong.
 */
export abstract class OptionValueReader extends ExpressionChecker {
  protected readOption(def: WithOption, opt: OptionNode): Read {
    switch (def.value.kind) {
      case "priority":
        return this.readPriority(def, opt);
      case "count":
        return this.readCount(def, opt, def.value.min);
      case "duration":
        return this.readDuration(def, opt);
      case "rate":
        return this.readRate(def, opt);
      case "pool":
        return this.readPool(def, opt);
      case "bool":
        return this.readConstant(def, opt, (v) => typeof v === "boolean");
      case "env-names":
        return this.readEnvNames(def, opt);
      case "text":
        return this.readConstant(def, opt, (v) => typeof v === "string" && v !== "");
      case "backoff":
        return this.readBackoff(def, opt);
      case "size":
        return this.readSize(def, opt);
    }
  }

  /** "`name` must be `shape`, got ..." */
  private wrong(def: WithOption, opt: OptionNode, got: string, hint?: string): typeof BAD {
    this.sink.error(
      "bad-option",
      `${def.name} must be ${def.shape}, got ${got}`,
      opt.value.start,
      opt.value.end,
      hint,
    );
    return BAD;
  }

  private readConstant(def: WithOption, opt: OptionNode, ok: (v: unknown) => boolean): Read {
    const v = this.optionValue(opt);
    if (v === BAD) return BAD;
    return ok(v) ? v : this.wrong(def, opt, describeOption(opt.value, v));
  }

  private readPriority(def: WithOption, opt: OptionNode): Read {
    const value = opt.value;
    if (value.kind === "ident" && !this.bindings.has(value.name)) {
      const p = PRIORITY_WORDS[value.name];
      if (p !== undefined) return p;
      return this.wrong(def, opt, value.name, suggest(value.name, Object.keys(PRIORITY_WORDS)));
    }
    return this.readConstant(def, opt, (v) => typeof v === "number" && Number.isFinite(v));
  }

  private readSize(def: WithOption, opt: OptionNode): Read {
    const v = this.optionValue(opt);
    if (v === BAD) return BAD;
    if (typeof v === "number" && Number.isInteger(v) && v >= 0) return v;
    if (typeof v === "string") {
      try {
        return parseSize(v);
      } catch {
        return this.wrong(def, opt, JSON.stringify(v), 'write it like "2GB", "512MB" or "1.5GiB"');
      }
    }
    return this.wrong(def, opt, describeOption(opt.value, v));
  }

  private readCount(def: WithOption, opt: OptionNode, min: number): Read {
    return this.readConstant(def, opt, (v) => Number.isInteger(v) && (v as number) >= min);
  }

  private readDuration(def: WithOption, opt: OptionNode): Read {
    const value = opt.value;
    if (value.kind !== "duration") {
      const v = value.kind === "rate" ? undefined : this.optionValue(opt);
      if (v === BAD) return BAD;
      return this.wrong(
        def,
        opt,
        describeOption(value, v),
        typeof v === "number" ? `add a unit: ${v}s or ${v}ms` : undefined,
      );
    }
    if (!(value.ms > 0)) {
      this.sink.error("bad-option", `${def.name} must be longer than 0`, value.start, value.end);
      return BAD;
    }
    return value.ms;
  }

  private readRate(def: WithOption, opt: OptionNode): Read {
    const value = opt.value;
    if (value.kind !== "rate") return this.readConstant(def, opt, () => false);
    const r = value.rate;
    if (!r) return BAD; // malformed: reported by the lexer
    if (!(Number.isInteger(r.tokens) && r.tokens >= 1) || !(r.perMs > 0)) {
      this.sink.error(
        "bad-option",
        `a rate needs a whole number of calls, at least 1, per period; got ${this.source.slice(value.start, value.end)}`,
        value.start,
        value.end,
        "write it like 20/s or 100/1min; to run one at a time use concurrency: 1",
      );
      return BAD;
    }
    return r;
  }

  private readPool(def: WithOption, opt: OptionNode): Read {
    const value = opt.value;
    let pool: string;
    if (value.kind === "ident" && !this.bindings.has(value.name)) pool = value.name;
    else {
      const v = this.readConstant(def, opt, (x) => typeof x === "string");
      if (v === BAD) return BAD;
      pool = v as string;
    }
    if (!this.pools.has(pool)) {
      this.sink.error(
        "unknown-pool",
        `unknown pool ${pool}`,
        value.start,
        value.end,
        this.nearest(pool, this.pools.keys(), this.pools.size) ?? `declare it: pool ${pool} = 2`,
      );
      return BAD;
    }
    return pool;
  }

  private readEnvNames(def: WithOption, opt: OptionNode): Read {
    const v = this.readConstant(def, opt, (x) => Array.isArray(x) && x.every((n) => typeof n === "string"));
    if (v === BAD) return BAD;
    const badName = (v as string[]).find((x) => !/^[A-Za-z_][A-Za-z0-9_]*$/.test(x));
    if (badName !== undefined) {
      this.sink.error(
        "bad-option",
        `${JSON.stringify(badName)} is not an environment variable name`,
        opt.value.start,
        opt.value.end,
      );
      return BAD;
    }
    return v;
  }

  private readBackoff(def: WithOption, opt: OptionNode): Read {
    const v = opt.value;
    const b: Backoff = { ...DEFAULT_BACKOFF };
    if (v.kind === "duration") {
      if (!(v.ms > 0)) {
        this.sink.error("bad-option", `${def.name} must be longer than 0`, v.start, v.end);
        return BAD;
      }
      b.initialMs = v.ms;
      b.maxMs = Math.max(b.maxMs, v.ms);
      return b;
    }
    if (v.kind !== "record") {
      const got = this.optionValue(opt);
      return got === BAD ? BAD : this.wrong(def, opt, describeOption(v, got));
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
    return ok ? b : BAD;
  }

  /** An option's value, known at compile time; BAD when it is not (after reporting). */
  protected optionValue(opt: OptionNode): Read {
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

function describeOption(e: Expr, v: unknown): string {
  if (v instanceof Duration || e.kind === "duration") return "a duration";
  if (v instanceof RateValue || e.kind === "rate") return "a rate";
  return describeJs(v);
}
