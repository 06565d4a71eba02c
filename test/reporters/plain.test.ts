/* eslint-disable no-control-regex -- terminal escapes are what these tests look at */
import { describe, expect, it } from "vitest";
import { flow } from "../../src/index.js";
import { chooseReporter, makeColors, PlainReporter, reporterKind } from "../../src/reporters/index.js";
import { MemoryStream, mixedFlow, sleep } from "./helpers.js";

async function runPlain(opts: { verbose?: boolean } = {}) {
  const { t, targets } = mixedFlow();
  const out = new MemoryStream();
  const reporter = new PlainReporter(out, opts);
  const result = await t.run(targets, { liveOutput: true, concurrency: 4, onEvent: reporter.onEvent });
  reporter.close();
  return { text: out.text(), result };
}

describe("plain reporter", () => {
  it("prints one line per finished step, retries, failures with their cause, and the summary", async () => {
    const { text, result } = await runPlain();
    const lines = text.split("\n");
    expect(lines[0]).toBe("running 5 steps with 4 slots");
    // Every step has exactly one progress line, counters running from 1 to 5.
    const progress = lines.filter((l) => /^\[\d+\/5\] /.test(l));
    expect(progress.map((l) => l.match(/^\[(\d+)\//)![1])).toEqual(["1", "2", "3", "4", "5"]);
    expect(text).toMatch(/^\[\d\/5\] load ok \d+ms \(\d left(, ETA [^)]+)?\)$/m);
    expect(text).toMatch(/^flaky retry 2\/4 in 1ms: flaky failure 1$/m);
    expect(text).toMatch(/^flaky retry 3\/4 in 2ms: flaky failure 2$/m);
    expect(text).toMatch(/^\[\d\/5\] compile FAILED exit code 3 \(after [\d.]+m?s\)/m);
    expect(text).toMatch(/^\[\d\/5\] link blocked by compile( \(\d left(, ETA [^)]+)?\))?$/m);

    // The summary: the failed step's command (quoted for the shell), exit code and output tail.
    const summary = text.slice(text.indexOf("\n✗ compile"));
    expect(summary).toContain("✗ compile: exit code 3");
    expect(summary).toContain(`$ ${process.execPath} -e 'console.log('\\''compiling my file.c'\\'');`);
    expect(summary).toContain("│ my file.c:3: error: boom");
    expect(summary).toContain("│ line 30");
    // Only the tail: 20 lines, the rest counted.
    expect(summary).toContain("│ … 12 earlier lines");
    expect(summary).not.toContain("│ line 11\n");
    expect(summary).toContain("⊘ 1 blocked by compile: link");
    expect(summary).toMatch(
      /✗ FAILED {2}3 ok · 0 cached · 1 failed · 1 blocked · 0 cancelled {2}in [\d.]+m?s/,
    );
    const s = result.summary;
    expect(summary).toContain(`parallelism ${(s.workMs / s.wallMs).toFixed(1)}×`);
    // Which chain is longest depends on how fast the machine starts a process: only that one is named.
    expect(summary).toMatch(/critical path [\d.]+m?s: (compile|load → flaky → report)/);
    // Without colours there are no escape codes at all.
    expect(text).not.toContain("\x1b");
  });

  it("with verbose, prints step output live prefixed by the step id", async () => {
    const { text } = await runPlain({ verbose: true });
    expect(text).toContain("compile | compiling my file.c\n");
    expect(text).toContain("compile | line 1\n");
    expect(text).toContain("compile | my file.c:3: error: boom\n");
    expect(text).toMatch(/^compile started \$ /m);
    expect(text).toMatch(/^flaky started \(attempt 2\)$/m);
  });

  it("grows the total as map items are added", async () => {
    const t = flow();
    const list = t.step("list", () => ["a", "b", "c", "d"]);
    const items = t.map("items", list, async (x: string) => (await sleep(1), x.toUpperCase()));
    const joined = t.step("join", (xs: string[]) => xs.join(""), items);
    const out = new MemoryStream();
    const reporter = new PlainReporter(out);
    const r = await t.run(joined, { liveOutput: true, concurrency: 2, onEvent: reporter.onEvent });
    expect(r.value).toBe("ABCD");
    const counters = [...out.text().matchAll(/^\[(\d+)\/(\d+)\] (\S+)/gm)].map((m) => ({
      done: Number(m[1]),
      total: Number(m[2]),
      id: m[3]!,
    }));
    expect(counters[0]).toEqual({ done: 1, total: 3, id: "list" });
    expect(counters.at(-1)).toEqual({ done: 7, total: 7, id: "join" });
    expect(counters.filter((c) => c.id.startsWith("items[")).length).toBe(4);
    // Done never exceeds the total known at that point.
    for (const c of counters) expect(c.done).toBeLessThanOrEqual(c.total);
    expect(out.text()).toContain("7 ok · 0 cached · 0 failed · 0 blocked · 0 cancelled");
  });

  it("shows an ETA from the declared estimates", async () => {
    const t = flow();
    const a = t.step({ id: "a", estimate: "1s" }, () => 1);
    const b = t.step({ id: "b", estimate: "2s" }, (x: number) => x + 1, a);
    t.step({ id: "c", estimate: "3s" }, (x: number) => x + 1, b);
    const out = new MemoryStream();
    await t.run(undefined, { liveOutput: true, concurrency: 4, onEvent: new PlainReporter(out).onEvent });
    // After a: b and c are left, 5s of work over min(slots, steps left) = 2: 2.5s. The events carry no
    // dependencies, so a chain is not known to be one: the ETA is work over slots, a lower bound.
    expect(out.text()).toMatch(/^\[1\/3\] a ok \d+ms \(2 left, ETA 2\.50s\)$/m);
    expect(out.text()).toMatch(/^\[2\/3\] b ok \d+ms \(1 left, ETA 3\.00s\)$/m);
  });

  it("colours only when asked", async () => {
    const { t, targets } = mixedFlow();
    const out = new MemoryStream();
    await t.run(targets, {
      liveOutput: true,
      concurrency: 4,
      onEvent: new PlainReporter(out, { colors: makeColors(true) }).onEvent,
    });
    expect(out.text()).toContain("\x1b[31m");
  });
});

describe("chooseReporter", () => {
  it("picks json, quiet, tty or plain", () => {
    expect(reporterKind({ json: true, isTTY: true, env: {} })).toBe("json");
    expect(reporterKind({ quiet: true, isTTY: true, env: {} })).toBe("quiet");
    expect(reporterKind({ isTTY: true, env: {} })).toBe("tty");
    expect(reporterKind({ isTTY: true, env: { CI: "true" } })).toBe("plain");
    expect(reporterKind({ isTTY: true, env: { CI: "false" } })).toBe("tty");
    expect(reporterKind({ isTTY: true, env: { TERM: "dumb" } })).toBe("plain");
    expect(reporterKind({ isTTY: false, env: {} })).toBe("plain");
  });

  it("respects NO_COLOR and FORCE_COLOR", async () => {
    const run = async (env: NodeJS.ProcessEnv, isTTY: boolean) => {
      const { t, targets } = mixedFlow();
      const out = new MemoryStream({ columns: 100, rows: 30 });
      const r = chooseReporter({ env, isTTY, stream: out });
      await t.run(targets, { liveOutput: true, concurrency: 4, onEvent: r.onEvent });
      r.close();
      return { kind: r.kind, text: out.text() };
    };
    const noColor = await run({ NO_COLOR: "1", FORCE_COLOR: "1" }, true);
    expect(noColor.kind).toBe("tty");
    expect(noColor.text).not.toMatch(/\x1b\[[0-9;]*m/);
    expect(noColor.text).toContain("✗ compile: exit code 3");

    const forced = await run({ FORCE_COLOR: "1" }, false);
    expect(forced.kind).toBe("plain");
    expect(forced.text).toMatch(/\x1b\[[0-9;]*m/);

    const piped = await run({}, false);
    expect(piped.text).not.toContain("\x1b");
  });
});
