import { readFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { flow } from "../../src/api/builder.js";
import { fingerprint, type FingerprintEnv } from "../../src/cache/fingerprint.js";
import { StatCache } from "../../src/cache/index.js";
import { ModuleGraph } from "../../src/graph/module-code.js";
import type { Step, StepOptions } from "../../src/graph/ir.js";
import { optionsReference, withOptionsReference } from "../../src/graph/options-doc.js";
import { WITH_OPTIONS, type WithOption } from "../../src/graph/options.js";
import { compileFlow } from "../../src/language/index.js";

const docs = fileURLToPath(new URL("../../docs/language.md", import.meta.url));

/** Every option of the table on one step, as the flow language lowers it. */
const EVERY_OPTION =
  'pool p = 2\na = sh("echo hi") with priority: high, retry: 1, backoff: 200ms, timeout: 2s, throttle: 5/s, ' +
  'concurrency: 3, pool: p, cpus: 2, cache: false, estimate: 3s, partial: true, env: ["GREETING"], version: "2"';

describe("the with options table", () => {
  it("is what docs/language.md's reference says", () => {
    const text = readFileSync(docs, "utf8");
    expect(
      withOptionsReference(text),
      "docs/language.md's with options reference differs from src/graph/options.ts: run `npm run docs:options`",
    ).toBe(text);
  });

  it("lists the kinds of step in the reference once an option does not take every kind", () => {
    const narrowed: WithOption[] = WITH_OPTIONS.map((o) =>
      o.name === "cpus" ? { ...o, accepts: ["function", "thread", "exec"] } : o,
    );
    const text = optionsReference(narrowed);
    expect(text).toContain("| Option | Value | Effect | Steps | Cache key |");
    expect(text).toContain("| module functions, thread modules (cpu: true) and exec() | no |");
    expect(text).not.toContain("Every option applies");
    expect(optionsReference()).toContain("Every option applies to every kind of step");
  });

  it("the checker lowers each option where the table says", async () => {
    const r = await compileFlow(EVERY_OPTION, "main.flow", { root: tmpdir() });
    // (partial has no effect without a map: only a warning)
    expect(r.diagnostics.map((d) => d.code)).toEqual(["partial-without-map"]);
    expect(r.graph!.steps[0]!.options).toEqual({
      priority: 10,
      retries: 1,
      backoff: { initialMs: 200, maxMs: 30_000, factor: 2, jitter: 0.5 },
      timeoutMs: 2000,
      pool: "p",
      cpus: 2,
      cache: false,
      estimateMs: 3000,
      partial: true,
      env: ["GREETING"],
      version: "2",
    });
    expect(r.graph!.limits).toEqual({ sh: { rate: { tokens: 5, perMs: 1000 }, concurrency: 3 } });
    const landed = WITH_OPTIONS.map((o) => ("step" in o.target ? o.target.step : o.target.moduleLimit));
    expect(new Set(landed).size).toBe(WITH_OPTIONS.length);
  });

  it("the TS API maps its settings to the same fields", () => {
    const t = flow();
    t.step(
      {
        id: "a",
        priority: "high",
        retries: 1,
        backoff: { initial: "200ms" },
        timeout: "2s",
        pool: "p",
        cpus: 2,
        cache: false,
        estimate: 3000,
        partial: true,
        env: ["GREETING"],
        version: "2",
      },
      () => 1,
    );
    expect(t.graph().steps[0]!.options).toEqual({
      priority: 10,
      retries: 1,
      backoff: { initialMs: 200, maxMs: 30_000, factor: 2, jitter: 0.5 },
      timeoutMs: 2000,
      pool: "p",
      cpus: 2,
      cache: false,
      estimateMs: 3000,
      partial: true,
      env: ["GREETING"],
      version: "2",
    });
    expect(() => t.step({ id: "b", timeout: "2 parsecs" }, () => 1)).toThrow(
      'timeout "2 parsecs" is not a duration',
    );
  });

  describe("the cache key", () => {
    let dir: string;
    beforeAll(async () => {
      dir = await mkdtemp(join(tmpdir(), "tributary-options-"));
    });
    afterAll(async () => {
      await rm(dir, { recursive: true, force: true });
    });

    it("changes with exactly the options the table puts in it", async () => {
      const r = await compileFlow(EVERY_OPTION, "main.flow", { root: tmpdir() });
      const step = r.graph!.steps[0]!;
      const stat = StatCache.load(join(dir, "stat-cache"), () => {});
      const env: FingerprintEnv = {
        root: dir,
        env: { GREETING: "hi" },
        digest: (p) => stat.digest(p),
        digestSync: (p) => stat.digestSync(p),
        modules: new ModuleGraph(dir),
        valueOf: () => undefined,
      };
      const keyWith = async (options: StepOptions) => {
        const s: Step = { ...step, options };
        const fp = await fingerprint({ step: s, args: ["echo hi"], outputs: [], root: dir }, env);
        return fp.key;
      };
      const bare = await keyWith({});
      expect(bare).toBeDefined();
      for (const o of WITH_OPTIONS) {
        if (!("step" in o.target)) continue;
        const field = o.target.step;
        const key = await keyWith({ [field]: step.options[field] });
        if (o.cacheKey === false) expect(key, `${o.name} must not change the key`).toBe(bare);
        else expect(key, `${o.name} must change the key`).not.toBe(bare);
      }
      stat.close();
    });
  });
});
