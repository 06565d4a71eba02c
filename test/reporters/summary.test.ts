import { describe, expect, it } from "vitest";
import { flow } from "../../src/index.js";
import {
  createQuietReporter,
  formatCommand,
  formatFailure,
  formatSummary,
  Progress,
  shellQuote,
  truncate,
  visibleWidth,
} from "../../src/reporters/index.js";
import { tempDir } from "../helpers/procs.js";
import { MemoryStream, mixedFlow, sleep } from "./helpers.js";

describe("final summary", () => {
  it("describes failed processes: command, exit code or signal, output tail", async () => {
    const t = flow();
    const out = t.output("out dir/result.txt");
    t.exec("exits", ["sh", "-c", "echo preparing; echo 'it broke' >&2; exit 7", "--", "my arg", out]);
    t.exec("killed", ["sh", "-c", "echo about to die; kill -KILL $$"]);
    t.sh("shell")`echo one && false`;
    t.exec("missing", ["definitely-not-a-command-xyz", "--flag"]);
    // In a scratch directory: the output's directory is created before the step runs, not in the repo.
    const r = await t.run(undefined, { liveOutput: true, concurrency: 4, root: tempDir() });
    const text = formatSummary(r).join("\n");
    expect(text).toContain("✗ exits: exit code 7");
    expect(text).toContain(
      `$ sh -c 'echo preparing; echo '\\''it broke'\\'' >&2; exit 7' -- 'my arg' 'out dir/result.txt'`,
    );
    expect(text).toContain("  │ preparing\n  │ it broke");
    expect(text).toContain("✗ killed: killed by SIGKILL");
    expect(text).toContain("  │ about to die");
    // A sh-step's command line is shown as the line itself.
    expect(text).toMatch(/✗ shell: exit code 1 \(after \d+ms\)\n {2}\$ echo one && false\n {2}│ one\n/);
    expect(text).toContain("✗ missing: could not start: command not found: definitely-not-a-command-xyz");
    expect(text).toMatch(/✗ FAILED {2}0 ok · 0 cached · 4 failed · 0 blocked · 0 cancelled {2}in /);
  });

  it("names what a failure blocked, counts retries, and shows stacks when verbose", async () => {
    const { t, targets } = mixedFlow();
    const r = await t.run(targets, { liveOutput: true, concurrency: 4 });
    const lines = formatSummary(r, { verbose: true });
    expect(lines).toContain("⊘ 1 blocked by compile: link");
    const flaky = r.steps.find((s) => s.id === "flaky")!;
    expect(flaky.attempts).toBe(3);

    const t2 = flow();
    t2.step({ id: "thrower", retries: 1, backoff: { initial: 1, jitter: 0 } }, () => {
      throw new RangeError("out of range");
    });
    t2.step("nonError", () => {
      throw { code: 42 };
    });
    const r2 = await t2.run(undefined);
    const failure = formatFailure(
      r2.steps.find((s) => s.id === "thrower")!,
      { verbose: true },
    );
    expect(failure[0]).toMatch(/^✗ thrower: out of range \(after \d+ms, 2 attempts\)$/);
    expect(failure[1]).toMatch(/^ {4}at /);
    const brief = formatSummary(r2, { failures: "brief" });
    expect(brief).toContain('✗ nonError: threw a non-Error value: {"code":42}');
    expect(brief.join("\n")).not.toContain("    at ");
  });

  it("reports the critical path, abbreviated when long, and the parallelism achieved", async () => {
    const t = flow();
    let prev = t.step("s0", async () => (await sleep(2), 0));
    for (let i = 1; i < 12; i++) prev = t.step(`s${i}`, async (x: number) => (await sleep(2), x + 1), prev);
    const side = [1, 2, 3].map((k) => t.step(`side${k}`, async () => (await sleep(1), k)));
    const r = await t.run([prev, ...side], { concurrency: 4 });
    const text = formatSummary(r).join("\n");
    const s = r.summary;
    const ms = (v: number) => (v < 1000 ? `${Math.round(v)}ms` : `${(v / 1000).toFixed(2)}s`);
    // The chain of twelve 2ms steps outlasts the three 1ms side steps, so it is the critical path.
    expect(s.criticalPath).toEqual(Array.from({ length: 12 }, (_, i) => `s${i}`));
    expect(text).toContain(
      `critical path ${ms(s.criticalPathMs)}: s0 → s1 → s2 → … 6 more … → s9 → s10 → s11`,
    );
    expect(text).toContain(`parallelism ${(s.workMs / s.wallMs).toFixed(1)}× (${ms(s.workMs)} of work)`);
    expect(text).toContain("✓ done  15 ok · 0 cached · 0 failed · 0 blocked · 0 cancelled  in ");
  });

  it("fits a terminal width", async () => {
    const { t, targets } = mixedFlow();
    const r = await t.run(targets, { liveOutput: true, concurrency: 4 });
    const lines = formatSummary(r, { columns: 50 });
    for (const l of lines) expect(visibleWidth(l)).toBeLessThanOrEqual(50);
    expect(lines.some((l) => l.endsWith("…"))).toBe(true);
  });
});

describe("quiet reporter", () => {
  it("says nothing on success and everything needed on failure", async () => {
    const ok = flow();
    ok.step("fine", () => 1);
    const quietOk = new MemoryStream();
    await ok.run(undefined, { onEvent: createQuietReporter(quietOk).onEvent });
    expect(quietOk.text()).toBe("");

    const { t, targets } = mixedFlow();
    const out = new MemoryStream();
    await t.run(targets, { liveOutput: true, onEvent: createQuietReporter(out).onEvent });
    const text = out.text();
    expect(text.startsWith("✗ compile: exit code 3")).toBe(true);
    expect(text).toContain("│ my file.c:3: error: boom");
    expect(text).not.toContain("flaky");
    expect(text).toContain("1 failed");
  });

  it("with many failures, details the first 20 and says how many more there are and where to see them", async () => {
    const t = flow();
    for (let i = 1; i <= 100; i++) {
      t.step(`f${i}`, () => {
        throw new Error(`broke ${i}`);
      });
    }
    const out = new MemoryStream();
    await t.run(undefined, { onEvent: createQuietReporter(out).onEvent });
    const text = out.text();
    expect(text.match(/^✗ f\d+: broke \d+/gm)).toHaveLength(20);
    expect(text).toContain(
      "✗ … and 80 more failures: f21, f22, f23, f24, f25, f26, f27, f28, f29, f30 and 70 more\n" +
        "  `tributary run --json` prints every failure, with its command and output (the step-end lines)\n",
    );
    expect(text).toContain("100 failed");
  });
});

describe("formatting helpers", () => {
  it("quotes words for the shell", () => {
    expect(shellQuote("plain-word_1.txt")).toBe("plain-word_1.txt");
    expect(shellQuote("")).toBe("''");
    expect(shellQuote("two words")).toBe("'two words'");
    expect(shellQuote("it's")).toBe(`'it'\\''s'`);
    expect(shellQuote("$HOME")).toBe("'$HOME'");
    expect(shellQuote("a\nb")).toBe("$'a\\nb'");
    expect(formatCommand(["cc", "-c", "hello world.c", "-o", "x.o"])).toBe("cc -c 'hello world.c' -o x.o");
    expect(formatCommand(["sh", "-c", "a | b"])).toBe("a | b");
  });

  it("truncates by display width, keeping escapes", () => {
    expect(truncate("hello world", 8)).toBe("hello w…");
    expect(truncate("short", 8)).toBe("short");
    expect(truncate("日本語のテキスト", 7)).toBe("日本語…");
    const red = "\x1b[31mhello world\x1b[39m";
    const cut = truncate(red, 6);
    expect(visibleWidth(cut)).toBe(6);
    expect(cut).toBe("\x1b[31mhello…\x1b[0m");
  });
});

describe("progress and ETA", () => {
  it("spreads the remaining estimated work over the slots, and grows with map items", () => {
    const p = new Progress();
    const steps = ["a", "b", "c", "d"].map((id) => ({ id, module: "m", estimateMs: 1000 }));
    p.update({ type: "run-start", t: 0, steps, concurrency: 2 });
    expect(p.etaMs()).toBe(2000);
    p.update({ type: "step-start", t: 0, id: "a", attempt: 1 });
    p.update({ type: "step-start", t: 0, id: "b", attempt: 1 });
    // Half of a and b is done after 500ms: 3000ms of work left over 2 slots.
    expect(p.etaMs(500)).toBe(1500);
    p.update({
      type: "step-end",
      t: 800,
      result: { id: "a", module: "m", status: "ok", attempts: 1, startMs: 0, endMs: 800 },
    });
    expect(p.done).toBe(1);
    expect(p.left).toBe(3);
    // Once a step of module m has run, its 800ms replaces the declared 1000ms for the others of m:
    // b (800ms, all spent), c and d (800ms each) over 2 slots.
    expect(p.etaMs(800)).toBe(800);
    // A map turns d into a group of three items of another module, with no estimate and no history of
    // their own: they take the average of everything that ran (800ms).
    p.update({
      type: "steps-added",
      t: 800,
      parent: "d",
      steps: ["x", "y", "z"].map((s) => ({ id: `d[${s}]`, module: "item" })),
    });
    expect(p.total).toBe(7);
    expect(p.etaMs(800)).toBe((0 + 800 + 3 * 800) / 2);
  });

  it("shows no ETA in a short run, nor one resting on fewer than three measured steps", () => {
    const p = new Progress();
    const steps = Array.from({ length: 10 }, (_, i) => ({ id: `s${i}`, module: "m" }));
    p.update({ type: "run-start", t: 0, steps, concurrency: 2 });
    const end = (i: number, t: number) =>
      p.update({
        type: "step-end",
        t,
        result: { id: `s${i}`, module: "m", status: "ok", attempts: 1, startMs: t - 400, endMs: t },
      });
    end(0, 400);
    // One step measured: the raw estimate exists, but it is not shown.
    expect(p.etaMs(400)).toBe((9 * 400) / 2);
    expect(p.shownEtaMs(400)).toBeUndefined();
    end(1, 800);
    end(2, 800);
    // Three measured, but the run is younger than a second: still none.
    expect(p.shownEtaMs(900)).toBeUndefined();
    expect(p.shownEtaMs(1200)).toBe((7 * 400) / 2);
    for (let i = 3; i < 9; i++) end(i, 1200 + i);
    // One step of 400ms left: under half a second of work per slot is not worth a flickering ETA.
    expect(p.shownEtaMs(1300)).toBeUndefined();
    end(9, 1600);
    expect(p.shownEtaMs(1600)).toBeUndefined();
  });

  it("shows an ETA from the start when every step left has an estimate of its own", () => {
    const p = new Progress();
    const steps = ["a", "b", "c"].map((id) => ({ id, module: "m", estimateMs: 2000 }));
    p.update({ type: "run-start", t: 0, steps, concurrency: 1 });
    expect(p.shownEtaMs(0)).toBe(6000);
    // A map adds items nothing predicts: the gate is back until they can be estimated.
    p.update({ type: "steps-added", t: 10, parent: "c", steps: [{ id: "c[x]", module: "item" }] });
    expect(p.shownEtaMs(10)).toBeUndefined();
  });

  it("knows no ETA before anything can be estimated", () => {
    const p = new Progress();
    p.update({ type: "run-start", t: 0, steps: [{ id: "a", module: "m" }], concurrency: 4 });
    expect(p.etaMs()).toBeUndefined();
  });
});
