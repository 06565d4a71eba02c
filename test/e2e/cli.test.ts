import { spawn } from "node:child_process";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { BIN, cli, copyExample } from "../helpers/cli.js";
import { eventually, processesMatching, tempDir, uniqueSleep } from "../helpers/procs.js";

describe("tributary run on the examples", () => {
  it("profile: fan-out then join, prints the out value, exit 0", async () => {
    const dir = copyExample("profile");
    const r = await cli(["run", "profile.flow", "--input", "userId=7", "--no-cache"], { cwd: dir });
    expect(r.stderr).toMatch(/4 ok · 0 cached · 0 failed/);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ name: "User 7" });
  });

  it("make: compiles in parallel, links, writes the aggregate file", async () => {
    const dir = copyExample("make");
    const r = await cli(["run", "--no-cache"], { cwd: dir });
    expect(r.code).toBe(0);
    expect(readFileSync(join(dir, "build/summary.txt"), "utf8")).toContain("hello, world");
    // The two compiles overlapped: neither finished before the other started (from the JSON events).
    const j = await cli(["run", "--no-cache", "--json", "-j", "4"], { cwd: dir });
    const events = j.stdout
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l));
    const span = (id: string) => {
      const start = events.find((e) => e.type === "step-start" && e.id === id).t;
      const end = events.find((e) => e.type === "step-end" && e.id === id).t;
      return [start, end];
    };
    const [hs, he] = span("hello_o");
    const [ws, we] = span("world_o");
    expect(hs).toBeLessThan(we);
    expect(ws).toBeLessThan(he);
    expect(span("app")[0]).toBeGreaterThanOrEqual(Math.max(he, we));
  });

  it("batch: a failing item fails alone, the rest finishes, exit 1", async () => {
    const dir = copyExample("batch");
    const r = await cli(["run", "batch.flow", "--no-cache"], { cwd: dir });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/scores\[run-06\]: judge upstream said 503 for run-06/);
    const report = JSON.parse(readFileSync(join(dir, "out/report.json"), "utf8"));
    expect(report.judged).toBe(7);
    expect(report.failed).toEqual(["run-06: failed"]);
  });
});

describe("exit codes and errors", () => {
  it("--trace writes a Chrome/Perfetto trace of the run, also of one where everything is cached", async () => {
    const dir = copyExample("make");
    const ids = ["hello_o", "world_o", "app", "greeting", "summary"];
    /** Names of the trace's events of kind `ph` (X: a slice of time, i: an instant). */
    const events = (file: string, ph: string) => {
      const trace = JSON.parse(readFileSync(join(dir, file), "utf8")) as {
        traceEvents: { name: string; ph: string }[];
      };
      return trace.traceEvents.filter((e) => e.ph === ph).map((e) => e.name);
    };
    expect((await cli(["run", "--trace", "trace.json"], { cwd: dir })).code).toBe(0);
    for (const id of ids) expect(events("trace.json", "X").some((n) => n.startsWith(id))).toBe(true);
    // A second run restores everything: each step is an instant marked cached.
    expect((await cli(["run", "--trace", "again.json"], { cwd: dir })).code).toBe(0);
    expect(events("again.json", "i").sort()).toEqual(ids.map((id) => `${id} (cached)`).sort());
    const bad = await cli(["run", "--trace", "no/such/dir/t.json"], { cwd: dir });
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/--trace: cannot write \S*no\/such\/dir\/t.json/);
  });

  it("Ctrl-C in a terminal (SIGINT to the whole process group): steps cancelled, exit 130, nothing left running", async () => {
    const dir = tempDir();
    const marker = uniqueSleep();
    writeFileSync(
      join(dir, "pipeline.flow"),
      `a = sh("sleep ${marker} && echo a")\nb = sh("sleep ${marker} && echo b")\n`,
    );
    // Its own process group, as a terminal's foreground job is.
    const child = spawn(process.execPath, [BIN, "run", "--no-cache"], {
      cwd: dir,
      detached: true,
      env: { ...process.env, CI: "1", NO_COLOR: "1" },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stderr = "";
    child.stderr.on("data", (b: Buffer) => (stderr += b));
    const exited = new Promise<number | null>((r) => child.once("exit", (code) => r(code)));
    expect(await eventually(() => processesMatching(marker).length >= 2, 20_000)).toBe(true);
    process.kill(-child.pid!, "SIGINT");
    expect(await exited).toBe(130);
    expect(stderr).toMatch(/0 failed · 0 blocked · 2 cancelled/);
    expect(stderr).not.toMatch(/infra/);
    expect(processesMatching(marker)).toEqual([]);
  });

  it("an invalid flow: every error at once with file:line:col and a caret, exit 2", async () => {
    const dir = copyExample("profile");
    writeFileSync(
      join(dir, "bad.flow"),
      'use "./modules.ts"\nin userId: String\nuser = GetUsr(userId)\nx = y\nz = GetUser(userId) with retyr: 2\nout user\n',
    );
    const r = await cli(["check", "bad.flow", "--input", "userId=1"], { cwd: dir });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("bad.flow:3:8: error: unknown module GetUsr");
    expect(r.stderr).toContain("user = GetUsr(userId)\n       ^~~~~~");
    expect(r.stderr).toContain("hint: did you mean GetUser?");
    expect(r.stderr).toContain("bad.flow:4:5: error: unknown name y");
    expect(r.stderr).toMatch(/unknown option retyr[\s\S]*did you mean retry\?/);
  });

  it("a cycle is reported with its path", async () => {
    const dir = tempDir();
    writeFileSync(join(dir, "pipeline.flow"), 'a = exec("echo", b)\nb = exec("echo", a)\nout a\n');
    const r = await cli(["check"], { cwd: dir });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/cycle: (a -> b -> a|b -> a -> b)/);
  });

  it("bad command lines exit 2 with what to do", async () => {
    const dir = tempDir();
    let r = await cli(["run"], { cwd: dir });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/no pipeline.flow in .*; pass a flow file/);
    writeFileSync(join(dir, "pipeline.flow"), 'x = exec("true")\nout x\n');
    r = await cli(["run", "-j", "0"], { cwd: dir });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/-j needs a whole number of at least 1, got "0"/);
    r = await cli(["run", "--input", "nope"], { cwd: dir });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--input needs name=value/);
    r = await cli(["frobnicate"], { cwd: dir });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/unknown command/);
  });

  it("a failing command exits 1 and the summary shows its command, exit code and output tail", async () => {
    const dir = tempDir();
    writeFileSync(
      join(dir, "pipeline.flow"),
      'bad = sh("echo compiling; echo boom >&2; exit 3")\nok = exec("echo", "fine")\nafter = exec("echo", bad)\nout after, ok\n',
    );
    const r = await cli(["run", "--no-cache"], { cwd: dir });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("$ echo compiling; echo boom >&2; exit 3");
    expect(r.stderr).toMatch(/exit code 3/);
    expect(r.stderr).toContain("boom");
    expect(r.stderr).toMatch(/1 ok · 0 cached · 1 failed · 1 blocked/);
  });

  it("--help works on every command", async () => {
    for (const cmd of [[], ["run"], ["check"], ["plan"], ["graph"], ["explain"], ["cache"]]) {
      const r = await cli([...cmd, "--help"]);
      expect(r.code).toBe(0);
      expect(r.stdout).toMatch(/Usage: tributary/);
    }
  });
});

describe("graph and plan", () => {
  it("graph prints dot, mermaid and json", async () => {
    const dir = copyExample("make");
    const dot = await cli(["graph", "--format", "dot"], { cwd: dir });
    expect(dot.stdout).toContain('"hello_o" -> "app";');
    const mermaid = await cli(["graph", "-f", "mermaid"], { cwd: dir });
    expect(mermaid.stdout).toMatch(/^flowchart LR/);
    const json = JSON.parse((await cli(["graph", "-f", "json"], { cwd: dir })).stdout);
    expect(json.steps.find((s: { id: string }) => s.id === "app").deps.sort()).toEqual([
      "hello_o",
      "world_o",
    ]);
  });

  it("plan lists what would run in order, and --dry-run runs nothing", async () => {
    const dir = copyExample("make");
    const r = await cli(["plan", "-j", "2"], { cwd: dir });
    expect(r.code).toBe(0);
    const lines = r.stdout.split("\n");
    const pos = (id: string) => lines.findIndex((l) => new RegExp(`\\s${id}\\s`).test(l));
    expect(pos("hello_o")).toBeLessThan(pos("app"));
    expect(pos("app")).toBeLessThan(pos("summary"));
    expect(r.stdout).toMatch(/5 steps: 5 to run, 0 cached; 2 slots/);
    const dry = await cli(["run", "--dry-run"], { cwd: dir });
    expect(dry.code).toBe(0);
    expect(existsSync(join(dir, "build"))).toBe(false);
  });
});
