import { spawn } from "node:child_process";
import { readFileSync, rmSync, utimesSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { cli, copyExample, REPO } from "../helpers/cli.js";
import { eventually, tempDir } from "../helpers/procs.js";

/** Ids of the steps that really ran (not restored), from a --json run. */
async function ran(dir: string, args: string[] = []): Promise<string[]> {
  const r = await cli(["run", "--json", ...args], { cwd: dir });
  expect(r.code, r.stderr).toBe(0);
  return r.stdout
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l))
    .filter((e) => e.type === "step-end" && e.status === "ok" && !e.cached)
    .map((e) => e.id)
    .sort();
}

describe("incremental runs through the CLI", () => {
  it("make example: nothing reruns, then exactly the downstream of a changed source", async () => {
    const dir = copyExample("make");
    expect(await ran(dir)).toEqual(["app", "greeting", "hello_o", "summary", "world_o"]);
    const second = await cli(["run"], { cwd: dir });
    expect(second.stderr).toMatch(/0 ok · 5 cached/);
    // Nothing ran: no critical path of 0 ms steps to name.
    expect(second.stderr).not.toMatch(/critical path/);
    expect(await ran(dir)).toEqual([]);
    // A real change to hello.c: its object, the link and everything after it rerun; world_o does not.
    writeFileSync(join(dir, "hello.c"), readFileSync(join(dir, "hello.c"), "utf8").replace("hello", "howdy"));
    expect(await ran(dir)).toEqual(["app", "greeting", "hello_o", "summary"]);
    expect(readFileSync(join(dir, "build/summary.txt"), "utf8")).toContain("howdy");
    const explain = await cli(["explain", "hello_o"], { cwd: dir });
    expect(explain.stdout).toMatch(/hello_o: ran[\s\S]*input file hello.c: \w+ → \w+/);
    expect((await cli(["explain", "world_o"], { cwd: dir })).stdout).toMatch(
      /world_o: restored from the cache/,
    );
  });

  it("a generated 3-level DAG reruns only the cone of the changed file", async () => {
    const dir = tempDir();
    const lines: string[] = [];
    for (let i = 0; i < 4; i++) {
      writeFileSync(join(dir, `s${i}.txt`), `source ${i}\n`);
      lines.push(`a${i} = sh("cat \${file("s${i}.txt")} > \${output("out/a${i}.txt")}")`);
    }
    // b_k reads a_k and a_{k+1}; c reads every b.
    for (let k = 0; k < 3; k++) {
      lines.push(`b${k} = sh("cat \${a${k}} \${a${k + 1}} > \${output("out/b${k}.txt")}")`);
    }
    lines.push(`c = sh("cat \${b0} \${b1} \${b2} > \${output("out/c.txt")}")`, "out c");
    writeFileSync(join(dir, "pipeline.flow"), lines.join("\n") + "\n");
    expect((await ran(dir)).length).toBe(8);
    writeFileSync(join(dir, "s0.txt"), "source 0, edited\n");
    expect(await ran(dir)).toEqual(["a0", "b0", "c"]);
    writeFileSync(join(dir, "s2.txt"), "source 2, edited\n");
    expect(await ran(dir)).toEqual(["a2", "b1", "b2", "c"]);
  });

  it("clock skew: a content change with an old or a future mtime reruns; a touch alone does not", async () => {
    const dir = tempDir();
    writeFileSync(join(dir, "input.txt"), "original\n");
    writeFileSync(
      join(dir, "pipeline.flow"),
      'copy = exec("cp", file("input.txt"), output("out/copy.txt"))\nsum = sh("cksum < ${copy} > ${output("out/sum.txt")}")\nout sum\n',
    );
    await ran(dir);
    const past = new Date("2001-01-01T00:00:00Z");
    writeFileSync(join(dir, "input.txt"), "changed\n");
    utimesSync(join(dir, "input.txt"), past, past);
    expect(await ran(dir)).toEqual(["copy", "sum"]);
    expect(readFileSync(join(dir, "out/copy.txt"), "utf8")).toBe("changed\n");
    const future = new Date(Date.now() + 10 * 365 * 24 * 3600_000);
    writeFileSync(join(dir, "input.txt"), "changed again\n");
    utimesSync(join(dir, "input.txt"), future, future);
    expect(await ran(dir)).toEqual(["copy", "sum"]);
    utimesSync(join(dir, "input.txt"), new Date(), new Date());
    expect(await ran(dir)).toEqual([]);
  });

  it("editing a command's argv or a module's code reruns that step and its dependents only", async () => {
    const dir = tempDir();
    writeFileSync(join(dir, "a.ts"), "export function GetA(): string {\n  return 'a';\n}\n");
    writeFileSync(join(dir, "b.ts"), "export function GetB(): string {\n  return 'b';\n}\n");
    writeFileSync(
      join(dir, "pipeline.flow"),
      [
        'use "./a.ts"',
        'use "./b.ts"',
        "a = GetA()",
        "b = GetB()",
        'ab = exec("echo", a, b)',
        'shout = sh("echo ${ab} | tr a-z A-Z")',
        "out shout, a",
      ].join("\n") + "\n",
    );
    expect(await ran(dir)).toEqual(["a", "ab", "b", "shout"]);
    writeFileSync(join(dir, "b.ts"), "export function GetB(): string {\n  return 'B!';\n}\n");
    expect(await ran(dir)).toEqual(["ab", "b", "shout"]);
    const flow = join(dir, "pipeline.flow");
    writeFileSync(flow, readFileSync(flow, "utf8").replace("tr a-z A-Z", "tr a-z A-Z | rev"));
    expect(await ran(dir)).toEqual(["shout"]);
    expect(await ran(dir)).toEqual([]);
  });

  it("a no-op run is answered from the last run's record, which any change invalidates", async () => {
    const dir = tempDir();
    writeFileSync(join(dir, "in.txt"), "one\n");
    writeFileSync(
      join(dir, "pipeline.flow"),
      [
        'in suffix: String = "!"',
        'copy = sh("cat ${file("in.txt")} > ${output("out/copy.txt")}; echo ${suffix} >> ${output("out/copy.txt")}")',
        'stamp = sh("echo $GREETING > ${output("out/stamp.txt")}") with env: ["GREETING"]',
        "out copy, stamp",
      ].join("\n") + "\n",
    );
    const env = { GREETING: "hi" };
    const run = async (args: string[] = []) => {
      const r = await cli(["run", "--json", ...args], { cwd: dir, env });
      expect(r.code, r.stderr).toBe(0);
      const events = r.stdout
        .trim()
        .split("\n")
        .map((l) => JSON.parse(l));
      return {
        fast: !events.some((e) => e.type === "run-start"),
        ran: events
          .filter((e) => e.type === "step-end" && !e.cached)
          .map((e) => e.id)
          .sort(),
      };
    };
    expect(await run()).toEqual({ fast: false, ran: ["copy", "stamp"] });
    // The record is trusted by the very next run, even for files written in the run's last instant.
    expect(await run()).toEqual({ fast: true, ran: [] });
    // A deleted output, a changed input value, a changed declared env var: each takes the normal path.
    rmSync(join(dir, "out/copy.txt"));
    expect((await run()).fast).toBe(false);
    expect(readFileSync(join(dir, "out/copy.txt"), "utf8")).toBe("one\n!\n");
    expect(await run()).toEqual({ fast: true, ran: [] });
    expect((await run(["--input", "suffix=?"])).ran).toEqual(["copy"]);
    env.GREETING = "hello";
    expect((await run(["--input", "suffix=?"])).ran).toEqual(["stamp"]);
    expect(readFileSync(join(dir, "out/stamp.txt"), "utf8")).toBe("hello\n");
    await run(["--input", "suffix=?"]);
    expect(await run(["--input", "suffix=?"])).toEqual({ fast: true, ran: [] });
    const explain = await cli(["explain", "copy"], { cwd: dir });
    expect(explain.stdout).toMatch(/copy: restored.* — nothing any step depends on changed/);
  });

  it("an input edited during the run, after its step read it, is rebuilt by the next run", async () => {
    const dir = tempDir();
    writeFileSync(join(dir, "in.txt"), "one\n");
    writeFileSync(
      join(dir, "pipeline.flow"),
      [
        'copy = sh("cat ${file("in.txt")} > ${output("out/copy.txt")}")',
        // Reads in.txt too (so it reruns), writes no file (so the run ends with no racy output).
        'slow = sh("sleep 1 && echo ${file("in.txt")}")',
      ].join("\n") + "\n",
    );
    expect((await cli(["run"], { cwd: dir })).code).toBe(0);
    writeFileSync(join(dir, "in.txt"), "two\n");
    const during = cli(["run"], { cwd: dir });
    // copy has rerun with "two" while slow still sleeps: now the input changes again.
    expect(
      await eventually(() => {
        try {
          return readFileSync(join(dir, "out/copy.txt"), "utf8") === "two\n";
        } catch {
          return false;
        }
      }),
    ).toBe(true);
    writeFileSync(join(dir, "in.txt"), "three\n");
    expect((await during).code).toBe(0);
    // That run must not record in.txt as up to date: the next one copies "three".
    expect((await cli(["run"], { cwd: dir })).code).toBe(0);
    expect(readFileSync(join(dir, "out/copy.txt"), "utf8")).toBe("three\n");
  });

  it("kill -9 of the CLI mid-run: the next run reuses every step that had finished", async () => {
    const dir = tempDir();
    const lines = [];
    for (let i = 0; i < 6; i++) {
      lines.push(`s${i} = sh("sleep 0.${i === 5 ? 9 : 1}; echo ${i} > \${output("out/s${i}.txt")}")`);
    }
    lines.push('all = sh("cat ${s0} ${s1} ${s2} ${s3} ${s4} ${s5} > ${output("out/all.txt")}")', "out all");
    writeFileSync(join(dir, "pipeline.flow"), lines.join("\n") + "\n");
    const child = spawn(process.execPath, [join(REPO, "bin/tributary.js"), "run", "-j", "6", "--json"], {
      cwd: dir,
      stdio: ["ignore", "pipe", "ignore"],
    });
    let out = "";
    child.stdout.on("data", (b: Buffer) => (out += b));
    // Kill once the fast five are done and the slow one is still running.
    expect(await eventually(() => (out.match(/"type":"step-end"/g) ?? []).length >= 5, 20_000)).toBe(true);
    child.kill("SIGKILL");
    await new Promise((r) => child.on("exit", r));
    const finished = out
      .split("\n")
      .filter((l) => l.includes('"type":"step-end"'))
      .map((l) => JSON.parse(l).id);
    const rerun = await ran(dir);
    for (const id of finished) expect(rerun).not.toContain(id);
    expect(rerun).toContain("all");
    expect(readFileSync(join(dir, "out/all.txt"), "utf8")).toBe("0\n1\n2\n3\n4\n5\n");
  });
});
