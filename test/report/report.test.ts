/**
 * The HTML run report, end to end: real runs through the CLI write their record, `run --report` and
 * `tributary report` turn it into one HTML file, and Debian's Chromium opens that file as a user would.
 * What the page shows is checked against the run's own recorded events.
 */
import { mkdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { cli } from "../helpers/cli.js";
import { tempDir } from "../helpers/procs.js";
import { closeBrowser, launch, openReport, screenshot, type OpenedReport } from "../helpers/browser.js";

type Event = Record<string, any>;

const PASSING = `a = sh("echo alpha")
b = sh("echo beta; echo note >&2")
c = exec("echo", a, b)
out c
`;

const FAILING = `ok = exec("echo", "fine")
bad = sh("echo compiling; echo '<script>alert(1)</script>' >&2; exit 3")
after = exec("echo", bad)
last = exec("echo", after)
out last, ok
`;

function project(flow: string): string {
  const dir = tempDir("tributary-report-");
  writeFileSync(join(dir, "pipeline.flow"), flow);
  return dir;
}

function lastRecord(dir: string): { runId: string; file: string; events: Event[] } {
  const runs = join(dir, ".tributary", "runs");
  const runId = readFileSync(join(runs, "last"), "utf8").trim();
  const file = join(runs, `${runId}.jsonl`);
  const events = readFileSync(file, "utf8")
    .split("\n")
    .filter((l) => l.trim() !== "")
    .map((l) => JSON.parse(l) as Event);
  return { runId, file, events };
}

interface Drawn {
  nodes: [string, string][];
  groups: string[];
  bars: string[];
  state: string | null;
  incomplete: string | null;
  scripts: number;
}

/**
 * What the page draws: every step node (id, status), group node and timeline bar, the state badge.
 * Read in the page as source text: the test's TS program has no DOM types.
 */
async function drawn(r: OpenedReport): Promise<Drawn> {
  return (await r.page.evaluate(`(() => {
    const all = (sel) => [...document.querySelectorAll(sel)];
    return {
      nodes: all("#graph .node.step").map((n) => [n.dataset.id, n.dataset.status]).sort(),
      groups: all("#graph .node.group").map((n) => n.dataset.group),
      bars: all("#gantt .bar").map((b) => b.dataset.id).sort(),
      state: document.querySelector("#run-state")?.textContent ?? null,
      incomplete: document.querySelector("#incomplete")?.textContent ?? null,
      scripts: document.scripts.length,
    };
  })()`)) as Drawn;
}

async function total(r: OpenedReport, key: string): Promise<string> {
  return (await r.page.textContent(`[data-total="${key}"] dd`)) ?? "";
}

/** The status each step ended with, as the record says it. */
function endStatuses(events: Event[]): [string, string][] {
  return events
    .filter((e) => e.type === "step-end")
    .map((e) => {
      const r = e.result ?? e;
      return [r.id, r.cached ? "cached" : r.status] as [string, string];
    })
    .sort();
}

function started(events: Event[]): string[] {
  return events
    .filter((e) => e.type === "step-start")
    .map((e) => e.id as string)
    .sort();
}

const opened: OpenedReport[] = [];
async function open(file: string): Promise<OpenedReport> {
  const r = await openReport(file);
  opened.push(r);
  return r;
}

beforeAll(async () => {
  await launch();
});
afterAll(async () => {
  for (const r of opened) await r.close();
  await closeBrowser();
});

describe("a passing run", () => {
  let dir: string;
  let report: string;
  beforeAll(async () => {
    dir = project(PASSING);
    const r = await cli(["run", "pipeline.flow", "--report"], { cwd: dir });
    expect(r.stderr + r.stdout).not.toMatch(/error/i);
    expect(r.code).toBe(0);
    report = join(dir, ".tributary", "report.html");
    expect(r.stderr).toContain(report);
  });

  it("is one self-contained file that draws every step and every attempt of the record", async () => {
    const html = readFileSync(report, "utf8");
    expect(html).not.toMatch(/<script[^>]+src=|<link[^>]+href=|https?:\/\/(?!www\.w3\.org)/);
    const { events } = lastRecord(dir);
    const r = await open(report);
    const d = await drawn(r);
    expect(d.nodes).toEqual(endStatuses(events));
    expect(d.nodes.map(([, s]) => s)).toEqual(["ok", "ok", "ok"]);
    expect(d.bars).toEqual(started(events));
    expect(d.state).toBe("ok");
    expect(d.incomplete).toBeNull();
    expect(await total(r, "steps")).toBe("3");
    expect(await total(r, "failed")).toBe("0");
    expect(r.errors).toEqual([]);
    expect(r.requests).toEqual([]);
    await screenshot(r.page, "passing");
  });

  it("shows a step's command, inputs, attempts and output when it is clicked", async () => {
    const r = await open(report);
    await r.page.click('#graph .node[data-id="c"]');
    expect(await r.page.textContent('#detail [data-field="id"]')).toBe("c");
    expect(await r.page.textContent('#detail [data-field="status"]')).toBe("ok");
    expect(await r.page.textContent('#detail [data-field="command"]')).toContain("echo");
    expect(await r.page.textContent('#detail [data-field="inputs"]')).toMatch(/a.*b/);
    expect(await r.page.textContent('#detail [data-field="attempts"]')).toBe("1");
    await r.page.click('#gantt .bar[data-id="b"]');
    expect(await r.page.textContent('#detail [data-field="id"]')).toBe("b");
    expect(await r.page.textContent('#detail [data-field="stderr"]')).toContain("note");
    expect(await r.page.textContent('#detail [data-field="stdout"]')).toContain("beta");
  });

  it("is written again by `tributary report`, to -o FILE, and names the path it wrote", async () => {
    const out = join(tempDir("tributary-report-out-"), "r.html");
    const r = await cli(["report", "-o", out], { cwd: dir });
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(r.stdout.trim()).toBe(out);
    const { runId } = lastRecord(dir);
    expect(readFileSync(out, "utf8")).toContain(runId);
    // From elsewhere, the project is named by its flow file, as for `explain` and `logs`.
    const elsewhere = join(tempDir("tributary-report-cwd-"), "r2.html");
    const named = await cli(["report", join(dir, "pipeline.flow"), "-o", elsewhere], { cwd: tmpdir() });
    expect(named.code).toBe(0);
    expect(readFileSync(elsewhere, "utf8")).toContain(runId);
    // A plain run records no output: the report says how to get it.
    expect((await cli(["run", "pipeline.flow", "--no-cache"], { cwd: dir })).code).toBe(0);
    expect((await cli(["report", "-o", out], { cwd: dir })).code).toBe(0);
    const page = await open(out);
    await page.page.click('#graph .node[data-id="b"]');
    expect(await page.page.textContent('#detail [data-field="no-output"]')).toContain("--report");
  });
});

describe("a failing run", () => {
  let dir: string;
  let report: string;
  let events: Event[];
  beforeAll(async () => {
    dir = project(FAILING);
    report = join(dir, "failing-report.html");
    const r = await cli(["run", "pipeline.flow", "--report", report], { cwd: dir });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(report);
    events = lastRecord(dir).events;
  });

  it("shows what a step printed as text and never runs it", async () => {
    const r = await open(report);
    await r.page.click('#graph .node[data-id="bad"]');
    expect(await r.page.textContent('#detail [data-field="stderr"]')).toContain("<script>alert(1)</script>");
    expect(await r.page.isVisible('#detail [data-field="stderr"]')).toBe(true);
    expect(await r.page.textContent('#detail [data-field="error"]')).toContain("exit code 3");
    // Give a script that got in a moment to show itself.
    await r.page.waitForTimeout(200);
    expect(r.dialogs).toEqual([]);
    expect((await drawn(r)).scripts).toBe(3);
    expect(r.errors).toEqual([]);
    await screenshot(r.page, "failing");
  });

  it("colours the failure and the steps it blocked, and counts them", async () => {
    const r = await open(report);
    const d = await drawn(r);
    expect(d.nodes).toEqual(endStatuses(events));
    expect(Object.fromEntries(d.nodes)).toEqual({
      ok: "ok",
      bad: "failed",
      after: "blocked",
      last: "blocked",
    });
    expect(d.bars).toEqual(started(events));
    expect(d.state).toBe("failed");
    expect(await total(r, "failed")).toBe("1");
    expect(await total(r, "blocked")).toBe("2");
    await r.page.click('#graph .node[data-id="last"]');
    expect(await r.page.textContent('#detail [data-field="blocked-by"]')).toBe("bad");
    expect(await r.page.textContent("#failures")).toContain("bad");
  });
});

it("never writes a report over a flow or any file that is not a report", async () => {
  const dir = project(PASSING);
  writeFileSync(join(dir, "notes.html"), "<p>mine</p>\n");
  // `--report` takes an optional value: here it swallows the flow's name.
  const swallowed = await cli(["run", "--report", "pipeline.flow"], { cwd: dir });
  expect(swallowed.code).toBe(2);
  expect(swallowed.stderr).toContain("tributary run build.flow --report");
  expect(readFileSync(join(dir, "pipeline.flow"), "utf8")).toBe(PASSING);
  const other = await cli(["report", "-o", "notes.html"], { cwd: dir });
  expect(other.code).toBe(2);
  expect(other.stderr).toContain("is not a Tributary report");
  expect(readFileSync(join(dir, "notes.html"), "utf8")).toBe("<p>mine</p>\n");
  // An earlier report is replaced.
  expect((await cli(["run", "pipeline.flow", "--report", "r.html"], { cwd: dir })).code).toBe(0);
  expect((await cli(["report", "-o", "r.html"], { cwd: dir })).code).toBe(0);
});

describe("a cached run", () => {
  let dir: string;
  beforeAll(async () => {
    dir = project(PASSING);
    expect((await cli(["run", "pipeline.flow"], { cwd: dir })).code).toBe(0);
  });

  it("marks every step restored from the cache, draws no attempt and counts the hits", async () => {
    // A changed flow file (a comment) runs the engine again, which finds every step in the cache.
    writeFileSync(join(dir, "pipeline.flow"), `# cached\n${PASSING}`);
    const r2 = await cli(["run", "pipeline.flow", "--report"], { cwd: dir });
    expect(r2.code).toBe(0);
    const { events } = lastRecord(dir);
    expect(events.filter((e) => e.type === "cache").map((e) => e.decision)).toEqual(["hit", "hit", "hit"]);
    const r = await open(join(dir, ".tributary", "report.html"));
    const d = await drawn(r);
    expect(d.nodes).toEqual(endStatuses(events));
    expect(d.nodes.map(([, s]) => s)).toEqual(["cached", "cached", "cached"]);
    expect(d.bars).toEqual([]);
    expect(await total(r, "cached")).toBe("3");
    expect(await total(r, "hit-rate")).toBe("100%");
    await r.page.click('#graph .node[data-id="a"]');
    expect(await r.page.textContent('#detail [data-field="cache"]')).toBe("hit (local)");
    await screenshot(r.page, "cached");
  });

  it("an unchanged rerun (answered without the engine) shows every step cached", async () => {
    const r3 = await cli(["run", "pipeline.flow", "--report"], { cwd: dir });
    expect(r3.code).toBe(0);
    const r = await open(join(dir, ".tributary", "report.html"));
    const d = await drawn(r);
    expect(d.nodes.map(([, s]) => s)).toEqual(["cached", "cached", "cached"]);
    expect(d.state).toBe("ok");
    expect(d.incomplete).toMatch(/nothing changed/);
  });
});

describe("a record cut short", () => {
  it("a killed run's record, cut mid-line, still gives a report marked incomplete", async () => {
    const dir = project(FAILING);
    await cli(["run", "pipeline.flow"], { cwd: dir });
    const { file, runId, events } = lastRecord(dir);
    const text = readFileSync(file, "utf8");
    // Cut in the middle of the line after the first step-end: what a kill -9 leaves.
    const firstEnd = text.indexOf('"step-end"');
    const lineEnd = text.indexOf("\n", firstEnd);
    const cut = lineEnd + Math.floor((text.indexOf("\n", lineEnd + 1) - lineEnd) / 2);
    writeFileSync(file, text.slice(0, cut));
    const out = join(dir, "cut.html");
    const r = await cli(["report", "--run", runId, "-o", out], { cwd: dir });
    expect(r.code).toBe(0);
    expect(r.stdout.trim()).toBe(out);
    expect(r.stderr).toMatch(/incomplete/);
    const page = await open(out);
    const d = await drawn(page);
    expect(d.state).toBe("incomplete");
    expect(d.incomplete).toMatch(/did not finish/);
    // Every step the record declared is drawn, the ones it has no end for as not finished.
    const declared = events.find((e) => e.type === "run-start")!.steps.length;
    expect(d.nodes.length).toBe(declared);
    expect(d.nodes.some(([, s]) => s === "running" || s === "not run")).toBe(true);
    expect(page.errors).toEqual([]);
  });

  it("says how to make a record when there is none, and which runs exist for an unknown --run", async () => {
    const dir = project(PASSING);
    const none = await cli(["report"], { cwd: dir });
    expect(none.code).toBe(2);
    expect(none.stderr).toContain("tributary run");
    await cli(["run", "pipeline.flow"], { cwd: dir });
    const wrong = await cli(["report", "--run", "nope"], { cwd: dir });
    expect(wrong.code).toBe(2);
    expect(wrong.stderr).toContain("nope");
    expect(wrong.stderr).toContain(lastRecord(dir).runId);
  });
});

describe("a large graph", () => {
  it("is drawn as groups (a map's items) that expand on click", async () => {
    // One item is named by markup: its name is shown as text wherever it appears.
    const hostile = "<img src=x onerror=alert(2)>";
    const lines = [...Array.from({ length: 399 }, (_, k) => `line${k}`), hostile].join("\n");
    const dir = project(
      `items = for x in lines(file("list.txt")): exec("echo", x)\nall = exec("echo", items)\nout all\n`,
    );
    writeFileSync(join(dir, "list.txt"), `${lines}\n`);
    const run = await cli(["run", "pipeline.flow", "-j", "4", "--report"], { cwd: dir });
    expect(run.code).toBe(0);
    const { events } = lastRecord(dir);
    const report = join(dir, ".tributary", "report.html");
    expect(statSync(report).size).toBeLessThan(10 * 1024 * 1024);
    const r = await open(report);
    const d = await drawn(r);
    expect(d.groups).toEqual(["items of items"]);
    expect(d.nodes.length).toBeLessThan(10);
    expect(d.bars).toEqual(started(events));
    await r.page.click('#graph .node[data-group="items of items"]');
    expect(await r.page.textContent('#detail [data-field="counts"]')).toBe("400 steps: 400 ok");
    await r.page.click('#detail button[data-expand="items of items"]');
    const after = await drawn(r);
    expect(after.nodes.length).toBe(endStatuses(events).length);
    expect(after.nodes).toEqual(endStatuses(events));
    await r.page.click(`#graph .node[data-id="items[${hostile}]"]`);
    expect(await r.page.textContent('#detail [data-field="id"]')).toBe(`items[${hostile}]`);
    await r.page.waitForTimeout(200);
    expect(r.dialogs).toEqual([]);
    expect(r.errors).toEqual([]);
    await screenshot(r.page, "large-expanded");
  });
});

/** A project whose only content is a recorded run (a fixture or generated lines), as `tributary report` finds it. */
function recorded(runId: string, lines: string): string {
  const dir = tempDir("tributary-report-rec-");
  mkdirSync(join(dir, ".tributary", "runs"), { recursive: true });
  writeFileSync(join(dir, ".tributary", "runs", `${runId}.jsonl`), lines);
  return dir;
}

describe("recorded runs the CLI does not make on demand", () => {
  it("shows retries as attempts of their own, and the cache's reason for a miss", async () => {
    const text = readFileSync(join(import.meta.dirname, "fixtures", "failing.jsonl"), "utf8");
    const runId = "20261203T071500000Z-4242";
    const dir = recorded(runId, text);
    const r = await cli(["report"], { cwd: dir });
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    const page = await open(r.stdout.trim());
    const d = await drawn(page);
    expect(d.nodes).toEqual([
      ["fetch", "failed"],
      ["lint", "cached"],
      ["parse", "blocked"],
      ["report", "blocked"],
    ]);
    expect(d.bars).toEqual(["fetch", "fetch"]);
    const outcomes = await page.page.evaluate(
      `[...document.querySelectorAll("#gantt .bar")].map((b) => b.dataset.outcome)`,
    );
    expect(outcomes).toEqual(["retry", "failed"]);
    await page.page.click('#graph .node[data-id="fetch"]');
    expect(await page.page.textContent('#detail [data-field="cache"]')).toBe("miss: no entry for this key");
    expect(await page.page.textContent('#detail [data-field="retries"]')).toBe("attempt 1: exit code 7");
    expect(await page.page.textContent('#detail [data-field="stderr"]')).toContain(
      "<script>alert(1)</script>",
    );
    expect(page.dialogs).toEqual([]);
    expect(await total(page, "hit-rate")).toBe("50%");
  });

  it("groups a graph of many steps by module; a group expands to its steps", async () => {
    const modules = ["compile", "test", "lint", "pack", "docs"];
    const steps = Array.from({ length: 1000 }, (_, k) => ({
      id: `${modules[k % 5]}_${k}`,
      module: modules[k % 5],
      deps: k >= 5 ? [`${modules[(k - 5) % 5]}_${k - 5}`] : [],
    }));
    const lines = [
      { v: 1, type: "run-start", t: 0, runId: "r", concurrency: 2, steps },
      ...steps.flatMap((s, k) => [
        { v: 1, type: "step-start", t: k, id: s.id, attempt: 1 },
        {
          v: 1,
          type: "step-end",
          t: k + 0.5,
          id: s.id,
          module: s.module,
          status: "ok",
          cached: false,
          attempts: 1,
          startMs: k,
          endMs: k + 0.5,
        },
      ]),
      { v: 1, type: "run-end", t: 1000, ok: true, summary: { total: 1000, wallMs: 1000, criticalPath: [] } },
    ];
    const dir = recorded("20261203T080000000Z-1", lines.map((l) => JSON.stringify(l)).join("\n") + "\n");
    const r = await cli(["report", "-o", join(dir, "big.html")], { cwd: dir });
    expect(r.code).toBe(0);
    const page = await open(join(dir, "big.html"));
    const d = await drawn(page);
    expect(d.groups.sort()).toEqual(modules.map((m) => `module ${m}`).sort());
    expect(d.nodes).toEqual([]);
    expect(d.bars.length).toBe(1000);
    await page.page.click('#graph .node[data-group="module lint"]');
    expect(await page.page.textContent('#detail [data-field="counts"]')).toBe("200 steps: 200 ok");
    await page.page.click('#detail button[data-expand="module lint"]');
    const after = await drawn(page);
    expect(after.nodes.length).toBe(200);
    expect(after.groups.length).toBe(4);
    expect(page.errors).toEqual([]);
  });
});
