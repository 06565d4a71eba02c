/**
 * The versioned event stream (`run --json`), the run record it is written to, and what reads it back:
 * `tributary logs`, `readRunRecord`. Every line of both is validated against docs/events.schema.json.
 */
import { spawn } from "node:child_process";
import { appendFileSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { Ajv2020 } from "ajv/dist/2020.js";
import addFormatsPlugin from "ajv-formats";
import { describe, expect, it } from "vitest";
import { flow, listRunRecords, openProject, readRunRecord } from "../../src/index.js";
import { BIN, REPO, cli, jsonEvents, type JsonEvent } from "../helpers/cli.js";
import { eventually, tempDir } from "../helpers/procs.js";

const schema = JSON.parse(readFileSync(join(REPO, "docs/events.schema.json"), "utf8")) as object;
const ajv = new Ajv2020({ allErrors: true, strict: true });
// ajv-formats is CommonJS: its plugin is the module itself or its default, depending on the loader.
const addFormats = ((addFormatsPlugin as { default?: unknown }).default ?? addFormatsPlugin) as (
  a: Ajv2020,
) => void;
addFormats(ajv);
const validate = ajv.compile(schema);

/** Every event must be valid; the failures are listed with the event, so a drift shows what it is. */
function expectValid(events: readonly object[]): void {
  const bad = events
    .filter((e) => !validate(e))
    .map((e) => `${JSON.stringify(e).slice(0, 300)}\n  ${ajv.errorsText(validate.errors)}`);
  expect(bad).toEqual([]);
}

const FLOW = `
objs  = for src in glob("src/*.c"): sh("echo compiling \${src}; cat \${src}; echo note \${src} >&2")
flaky = sh("if [ -f flaky.tried ]; then echo recovered; else touch flaky.tried; echo first try fails >&2; exit 1; fi") with retry: 2, backoff: 10ms
bad   = sh("echo failing now >&2; exit 3")
after = sh("echo \${bad}")
both  = sh("echo \${objs} \${flaky}")
out both
out after
`;

function project(): string {
  const dir = tempDir();
  mkdirSync(join(dir, "src"));
  writeFileSync(join(dir, "src/a.c"), "int a;\n");
  writeFileSync(join(dir, "src/b.c"), "int b;\n");
  writeFileSync(join(dir, "pipeline.flow"), FLOW);
  return dir;
}

describe("run --json and the run record", () => {
  it("a real flow (passing, failing, retried, a map, then cached): every line is a valid v1 event", async () => {
    const dir = project();
    const first = await cli(["run", "--json"], { cwd: dir });
    expect(first.code).toBe(1);
    const events = jsonEvents(first.stdout);
    expect(events.length).toBeGreaterThan(10);
    expectValid(events);
    expect(events.every((e) => e.v === 1)).toBe(true);

    const start = events[0]!;
    expect(start).toMatchObject({ type: "run-start", flow: "pipeline.flow", liveOutput: true });
    expect(start.steps).toContainEqual({ id: "both", module: "sh", deps: ["objs", "flaky"] });
    const types = new Set(events.map((e) => e.type));
    for (const t of [
      "steps-added",
      "cache",
      "step-start",
      "step-output",
      "step-retry",
      "step-end",
      "run-end",
    ])
      expect(types).toContain(t);
    expect(events.find((e) => e.type === "step-retry")).toMatchObject({
      id: "flaky",
      attempt: 1,
      maxAttempts: 3,
      error: { kind: "exit", exitCode: 1 },
    });
    // A first run: every cacheable step misses, said why, before it starts.
    const misses = events.filter((e) => e.type === "cache" && e.decision === "miss");
    expect(misses.map((e) => e.id)).toContain("objs[src/a.c]");
    expect(misses.every((e) => typeof e.reason === "string" && e.reason.length > 0)).toBe(true);
    const at = (type: string, id: string) => events.findIndex((e) => e.type === type && e.id === id);
    expect(at("cache", "bad")).toBeLessThan(at("step-start", "bad"));

    // The record holds the same lines (with the same runId), and validates too.
    const record = readRunRecord(dir);
    expect(record.runId).toBe(start.runId);
    expect(record.complete).toBe(true);
    expectValid(record.events);
    expect(record.events.map((e) => e.type)).toEqual(events.map((e) => e.type));
    expect(record.events.at(-1)).toMatchObject({ type: "run-end", ok: false, droppedOutputBytes: 0 });

    // Again, with one input changed: hits from the local cache, and a miss that says what changed.
    writeFileSync(join(dir, "src/a.c"), "int a2;\n");
    const second = await cli(["run", "--json"], { cwd: dir });
    const again = jsonEvents(second.stdout);
    expectValid(again);
    const cacheOf = (id: string) => again.find((e) => e.type === "cache" && e.id === id);
    expect(cacheOf("objs[src/b.c]")).toMatchObject({ decision: "hit", source: "local" });
    expect(cacheOf("flaky")).toMatchObject({ decision: "hit", source: "local" });
    expect(cacheOf("objs[src/a.c]")).toMatchObject({ decision: "miss" });
    expect(cacheOf("objs[src/a.c]")!.reason).toMatch(/input file src\/a\.c/);
    expect(again.some((e) => e.type === "step-start" && e.id === "objs[src/b.c]")).toBe(false);
    expectValid(readRunRecord(dir).events);
    expect(listRunRecords(dir)).toEqual([readRunRecord(dir).runId, record.runId]);
  });

  it("a hit from a remote cache says so", async () => {
    const shared = tempDir();
    const flowText = `a = sh("echo built > \${output("out/a.txt")}")\nout a\n`;
    const first = tempDir();
    writeFileSync(join(first, "pipeline.flow"), flowText);
    expect((await cli(["run", "--remote-cache", shared], { cwd: first })).code).toBe(0);
    const second = tempDir();
    writeFileSync(join(second, "pipeline.flow"), flowText);
    const r = await cli(["run", "--json", "--remote-cache", shared], { cwd: second });
    expect(r.code).toBe(0);
    const events = jsonEvents(r.stdout);
    expectValid(events);
    expect(events.find((e) => e.type === "cache")).toMatchObject({
      id: "a",
      decision: "hit",
      source: "remote",
    });
    expect(readFileSync(join(second, "out/a.txt"), "utf8")).toBe("built\n");
  });

  it("a reader that stops after one line does not stop the run: no EPIPE, usual exit code, record complete", async () => {
    const dir = tempDir();
    writeFileSync(
      join(dir, "pipeline.flow"),
      `first = sh("echo one")\nlater = sh("while [ ! -f go ]; do sleep 0.05; done; echo \${first}; seq 1 20000 > done.txt; seq 1 20000")\nout later\n`,
    );
    // Reads one line, prints it, exits: the pipe's only reader is gone.
    const reader = spawn(
      process.execPath,
      [
        "-e",
        `let b = ""; process.stdin.on("data", (d) => { b += d; const i = b.indexOf("\\n"); if (i >= 0) { process.stdout.write(b.slice(0, i + 1)); process.exit(0); } });`,
      ],
      { stdio: ["pipe", "pipe", "inherit"] },
    );
    let line = "";
    reader.stdout.on("data", (d: Buffer) => (line += d));
    const readerGone = new Promise((r) => reader.on("exit", r));
    const run = spawn(process.execPath, [BIN, "run", "--json"], {
      cwd: dir,
      env: { ...process.env, CI: "1", NO_COLOR: "1" },
      stdio: ["ignore", reader.stdin, "pipe"],
    });
    // Our copy of the pipe's writing end: only the CLI writes to it now.
    reader.stdin.destroy();
    let stderr = "";
    run.stderr!.on("data", (d: Buffer) => (stderr += d));
    const code = new Promise<number | null>((r) => run.on("close", r));
    await readerGone;
    // Only now does the slow step write (its output and the events after it go to a closed pipe).
    writeFileSync(join(dir, "go"), "");
    expect(await code).toBe(0);
    expect(JSON.parse(line)).toMatchObject({ v: 1, type: "run-start" });
    expect(stderr).not.toMatch(/EPIPE|Error|at /);
    expect(readFileSync(join(dir, "done.txt"), "utf8")).toMatch(/^1\n/);
    const record = readRunRecord(dir);
    expect(record.complete).toBe(true);
    expect(record.events.at(-1)).toMatchObject({ type: "run-end", ok: true });
  });

  it("kill -9 in the middle: the record reads as incomplete, with every event before the kill", async () => {
    const dir = tempDir();
    writeFileSync(
      join(dir, "pipeline.flow"),
      `quick = sh("echo quick")\nslow = sh("echo \${quick}; while [ ! -f stop ]; do sleep 0.05; done")\nout slow\n`,
    );
    const run = spawn(process.execPath, [BIN, "run"], {
      cwd: dir,
      env: { ...process.env, CI: "1", NO_COLOR: "1" },
      stdio: "ignore",
    });
    const exited = new Promise((r) => run.on("exit", r));
    const runs = join(dir, ".tributary", "runs");
    const startedSlow = () => {
      try {
        const file = readdirSync(runs).find((f) => f.endsWith(".jsonl"));
        if (file === undefined) return false;
        const lines = readFileSync(join(runs, file), "utf8").split("\n");
        return lines.some((l) => l.startsWith(`{"v":1,"type":"step-start"`) && l.includes(`"id":"slow"`));
      } catch {
        return false;
      }
    };
    try {
      expect(await eventually(startedSlow)).toBe(true);
      run.kill("SIGKILL");
      await exited;
    } finally {
      writeFileSync(join(dir, "stop"), "");
    }
    const record = readRunRecord(dir);
    expect(record.complete).toBe(false);
    expectValid(record.events);
    expect(record.events[0]).toMatchObject({ type: "run-start", runId: record.runId });
    expect(record.events).toContainEqual(expect.objectContaining({ type: "step-end", id: "quick" }));
    expect(record.events).toContainEqual(expect.objectContaining({ type: "step-start", id: "slow" }));
    expect(record.events.some((e) => e.type === "run-end")).toBe(false);

    // A line cut short (a kill during a write) is skipped, and the record stays incomplete.
    const whole = readRunRecord(dir);
    appendFileSync(record.file, `{"v":1,"type":"step-out`);
    const cut = readRunRecord(dir);
    expect(cut.complete).toBe(false);
    expect(cut.events).toEqual(whole.events);
  });

  it("keeps 256 KiB of a stream per step, says what it dropped, and keeps the 20 newest records", async () => {
    const dir = tempDir();
    writeFileSync(
      join(dir, "pipeline.flow"),
      `big = sh("head -c 300000 /dev/zero | tr '\\\\0' x; echo small >&2")\nout big\n`,
    );
    const r = await cli(["run", "--record-output"], { cwd: dir });
    expect(r.code).toBe(0);
    const record = readRunRecord(dir);
    expectValid(record.events);
    const kept = record.events
      .filter((e) => e.type === "step-output" && e.stream === "stdout")
      .reduce((n, e) => n + Buffer.byteLength(e.chunk as string), 0);
    expect(kept).toBe(256 * 1024);
    const truncated = record.events.filter((e) => e.type === "step-output-truncated");
    expect(truncated).toEqual([
      {
        v: 1,
        type: "step-output-truncated",
        t: expect.any(Number),
        id: "big",
        stream: "stdout",
        droppedBytes: 300000 - 256 * 1024,
      },
    ]);
    const end = record.events.findIndex((e) => e.type === "step-end");
    expect(record.events.indexOf(truncated[0]!)).toBe(end - 1);
    const logs = await cli(["logs", "big"], { cwd: dir });
    expect(logs.stdout).toContain("small");
    expect(logs.stderr).toContain(`${300000 - 256 * 1024} more bytes of stdout were not recorded`);

    // Rotation, through the TS API: a project run with `record: true` writes one as the CLI does.
    const t = flow();
    t.step("one", () => 1);
    const p = openProject({ graph: t.graph(), root: dir, cache: false });
    for (let i = 0; i < 21; i++) await p.run({ record: true });
    const ids = listRunRecords(dir);
    expect(ids).toHaveLength(20);
    expect(ids).not.toContain(record.runId);
    expect(readFileSync(join(dir, ".tributary/runs/last"), "utf8").trim()).toBe(ids[0]);
    expect(readRunRecord(dir).runId).toBe(ids[0]);
  });
});

describe("tributary logs", () => {
  it("prints a step's output from the record, map items by id; errors name the nearest step", async () => {
    const dir = project();
    await cli(["run", "--record-output"], { cwd: dir });

    const item = await cli(["logs", "objs[src/a.c]"], { cwd: dir });
    expect(item.code).toBe(0);
    expect(item.stdout).toBe("compiling src/a.c\nint a;\nnote src/a.c\n");
    const onlyErr = await cli(["logs", "objs[src/a.c]", "--stream", "stderr"], { cwd: dir });
    expect(onlyErr.stdout).toBe("note src/a.c\n");
    const map = await cli(["logs", "objs", "--stream", "stdout"], { cwd: dir });
    expect(map.stdout).toBe(
      "==> objs[src/a.c] <==\ncompiling src/a.c\nint a;\n==> objs[src/b.c] <==\ncompiling src/b.c\nint b;\n",
    );
    // Both attempts of a retried step.
    const flaky = await cli(["logs", "flaky"], { cwd: dir });
    expect(flaky.stdout).toBe("first try fails\nrecovered\n");

    const blocked = await cli(["logs", "after"], { cwd: dir });
    expect(blocked.code).toBe(1);
    expect(blocked.stderr).toMatch(/after did not run in run \S+: it was blocked by bad/);
    const unknown = await cli(["logs", "objz"], { cwd: dir });
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/no step objz in run \S+; did you mean objs\?/);
    const unknownItem = await cli(["logs", "objs[src/c.c]"], { cwd: dir });
    expect(unknownItem.code).toBe(2);
    expect(unknownItem.stderr).toMatch(/did you mean objs\[src\/a\.c\]\?/);

    // A plain run: items restored from the cache did not run; an earlier run is still there.
    const firstRun = readRunRecord(dir).runId;
    await cli(["run"], { cwd: dir });
    const cached = await cli(["logs", "objs[src/a.c]"], { cwd: dir });
    expect(cached.code).toBe(1);
    expect(cached.stderr).toMatch(/did not run in run \S+: it was restored from the cache/);
    const earlier = await cli(["logs", "objs[src/a.c]", "--run", firstRun], { cwd: dir });
    expect(earlier.code).toBe(0);
    expect(earlier.stdout).toContain("compiling src/a.c");
    // Without streamed output a failure's tail is what was kept, and it says so.
    const bad = await cli(["logs", "bad"], { cwd: dir });
    expect(bad.code).toBe(0);
    expect(bad.stdout).toContain("failing now");
    expect(bad.stderr).toMatch(/--record-output/);
  });

  it("before any run: says how to get one", async () => {
    const dir = project();
    const r = await cli(["logs", "objs"], { cwd: dir });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/no run recorded in .*\.tributary\/runs: run `tributary run FLOW` first/);
  });
});

describe("tributary check --json", () => {
  it("prints one JSON document of diagnostics, with the usual exit codes", async () => {
    const dir = tempDir();
    writeFileSync(join(dir, "good.flow"), `a = sh("echo a")\nout a\n`);
    writeFileSync(join(dir, "bad.flow"), `a = sh("echo a")\nb = nosuch(a)\nc = sh(\${zz})\nout b\n`);
    const good = await cli(["check", "good.flow", "--json"], { cwd: dir });
    expect(good.code).toBe(0);
    expect(JSON.parse(good.stdout)).toEqual({ v: 1, ok: true, diagnostics: [] });

    const bad = await cli(["check", "bad.flow", "--json"], { cwd: dir });
    expect(bad.code).toBe(2);
    const doc = JSON.parse(bad.stdout) as { v: number; ok: boolean; diagnostics: JsonEvent[] };
    expect(doc).toMatchObject({ v: 1, ok: false });
    expect(doc.diagnostics.length).toBeGreaterThanOrEqual(2);
    for (const d of doc.diagnostics) {
      expect(d).toMatchObject({
        severity: expect.stringMatching(/^(error|warning)$/),
        code: expect.any(String),
        message: expect.any(String),
        file: expect.stringContaining("bad.flow"),
        line: expect.any(Number),
        col: expect.any(Number),
        endLine: expect.any(Number),
        endCol: expect.any(Number),
      });
    }
    expect(doc.diagnostics[0]).toMatchObject({ line: 2 });

    const missing = await cli(["check", "nope.flow", "--json"], { cwd: dir });
    expect(missing.code).toBe(2);
    expect(JSON.parse(missing.stdout)).toMatchObject({
      v: 1,
      ok: false,
      diagnostics: [
        {
          severity: "error",
          code: "cannot-check",
          file: expect.stringMatching(/^\/.*\/nope\.flow$/),
          line: 1,
          col: 1,
        },
      ],
    });
  });
});
