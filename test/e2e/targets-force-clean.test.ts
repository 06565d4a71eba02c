/**
 * Choosing what a run does from the command line: targets, --force, --no-cache, --keep-going, `clean`,
 * the cache commands from a subdirectory, and what a run prints (progress of cached steps, the outputs of
 * a failed run). Real processes through the built CLI, real files.
 */
import { existsSync, mkdirSync, readFileSync, readdirSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { cli, copyExample, jsonEvents, ranAndCached } from "../helpers/cli.js";
import { tempDir } from "../helpers/procs.js";

/**
 * Two compiles, a link that needs both, docs that need nothing; `stamp` writes something new on every
 * run (it is only the same when restored from the cache).
 */
const FLOW = [
  'compile_a = sh("echo a > ${output("build/a.o")}")',
  'compile_b = sh("echo b > ${output("build/b.o")}")',
  'link = sh("cat ${compile_a} ${compile_b} > ${output("build/app")}")',
  'docs = sh("cat ${file("README.txt")} > ${output("build/docs.txt")}")',
  'stamp = sh("od -An -N8 -tx8 /dev/urandom > ${output("build/stamp.txt")}")',
  "out link, docs, stamp",
].join("\n");

function project(flow = FLOW): string {
  const dir = tempDir();
  writeFileSync(join(dir, "pipeline.flow"), `${flow}\n`);
  writeFileSync(join(dir, "README.txt"), "read me\n");
  return dir;
}

async function runJson(dir: string, args: string[] = []) {
  const r = await cli(["run", "--json", ...args], { cwd: dir });
  return { ...r, ...ranAndCached(jsonEvents(r.stdout)) };
}

describe("targets", () => {
  it("runs only the named steps and what they need, also with --dry-run", async () => {
    const dir = project();
    const plan = await cli(["run", "pipeline.flow", "link", "--dry-run"], { cwd: dir });
    expect(plan.code, plan.stderr).toBe(0);
    expect(plan.stdout).toMatch(/compile_a/);
    expect(plan.stdout).toMatch(/link/);
    expect(plan.stdout).not.toMatch(/docs|stamp/);
    expect(plan.stdout).toMatch(/^3 steps: 3 to run/m);

    const r = await runJson(dir, ["pipeline.flow", "link"]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.ran).toEqual(["compile_a", "compile_b", "link"]);
    expect(existsSync(join(dir, "build/docs.txt"))).toBe(false);

    // The target's value is what is printed.
    const again = await cli(["run", "pipeline.flow", "link", "docs"], { cwd: dir });
    expect(again.code, again.stderr).toBe(0);
    expect(again.stdout).toBe("link: build/app\ndocs: build/docs.txt\n");
    expect(again.stderr).toMatch(/1 ok · 3 cached/);
  });

  it("an unknown target is a usage error that names the nearest step", async () => {
    const dir = project();
    const r = await cli(["run", "pipeline.flow", "lnik"], { cwd: dir });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/no step lnik in pipeline\.flow; did you mean link\?/);
    const dry = await cli(["run", "pipeline.flow", "compile_c", "-n"], { cwd: dir });
    expect(dry.code).toBe(2);
    expect(dry.stderr).toMatch(/no step compile_c .*did you mean compile_a\?/);
    expect(existsSync(join(dir, "build"))).toBe(false);
  });

  it("a target given without the flow file is explained", async () => {
    const dir = project();
    const r = await cli(["run", "link"], { cwd: dir });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/flow file not found: link.*tributary run pipeline\.flow link/);
    // A misspelt flow file is answered with the flow files there are.
    const typo = await cli(["plan", "pipline.flow"], { cwd: dir });
    expect(typo.code).toBe(2);
    expect(typo.stderr).toBe("flow file not found: pipline.flow; flow files in .: pipeline.flow\n");
  });
});

describe("--force", () => {
  it("reruns the steps a glob matches, and saves their fresh results", async () => {
    const dir = project();
    expect((await runJson(dir)).code).toBe(0);
    const forced = await runJson(dir, ["--force", "compile*", "--force", "stamp"]);
    expect(forced.code, forced.stderr).toBe(0);
    expect(forced.ran).toEqual(["compile_a", "compile_b", "stamp"]);
    // Same objects: the link is not rerun (content, not clocks).
    expect(forced.cached).toEqual(["docs", "link"]);
    const stamp = readFileSync(join(dir, "build/stamp.txt"), "utf8");
    expect((await cli(["explain", "compile_b"], { cwd: dir })).stdout).toMatch(/compile_b: ran — .*forced/);

    // The forced results replaced the old entries: a normal run restores the new stamp.
    writeFileSync(join(dir, "build/stamp.txt"), "changed by hand\n");
    const next = await runJson(dir);
    expect(next.ran).toEqual([]);
    expect(readFileSync(join(dir, "build/stamp.txt"), "utf8")).toBe(stamp);
  });

  it("shows forced steps as running in --dry-run", async () => {
    const dir = project();
    expect((await runJson(dir)).code).toBe(0);
    const plan = await cli(["run", "--dry-run", "--force", "docs"], { cwd: dir });
    expect(plan.code, plan.stderr).toBe(0);
    expect(plan.stdout).toMatch(/docs\s+run\b.*forced/);
    expect(plan.stdout).toMatch(/compile_a\s+cached/);
  });

  it("a pattern that matches no step is a usage error with the nearest name", async () => {
    const dir = project();
    const r = await cli(["run", "--force", "compil_a"], { cwd: dir });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--force compil_a matches no step in pipeline\.flow; did you mean compile_a\?/);
    expect(existsSync(join(dir, "build"))).toBe(false);
  });

  it("reaches the items of a map: scores[*]", async () => {
    const dir = copyExample("batch");
    const first = await runJson(dir, ["batch.flow"]);
    expect(first.ran).toContain("scores[0]");
    const forced = await runJson(dir, ["batch.flow", "--force", "scores[*]"]);
    // The judge of run-06 fails every time (the example's point): the run fails, the others reran.
    expect(forced.ran.filter((id) => id.startsWith("scores["))).toEqual(
      first.ran.filter((id) => id.startsWith("scores[")),
    );
    expect(forced.cached).toEqual(expect.arrayContaining(["items", "lines", "text"]));
    expect(forced.ran).not.toContain("text");
  });
});

describe("--no-cache", () => {
  it("neither reads nor writes the cache", async () => {
    const dir = project();
    const fresh = await runJson(dir, ["--no-cache"]);
    expect(fresh.code, fresh.stderr).toBe(0);
    expect(fresh.ran).toHaveLength(5);
    // Nothing was saved: the next run runs everything again.
    const first = await runJson(dir);
    expect(first.ran).toHaveLength(5);
    const stamp = readFileSync(join(dir, "build/stamp.txt"), "utf8");

    const again = await runJson(dir, ["--no-cache"]);
    expect(again.ran).toHaveLength(5);
    expect(readFileSync(join(dir, "build/stamp.txt"), "utf8")).not.toBe(stamp);
    // The cache still holds the first result, which a normal run restores.
    const restored = await runJson(dir);
    expect(restored.ran).toEqual([]);
    expect(readFileSync(join(dir, "build/stamp.txt"), "utf8")).toBe(stamp);
  });

  it("says so in its help", async () => {
    const help = await cli(["run", "--help"]);
    expect(help.stdout.replace(/\s+/g, " ")).toMatch(/--no-cache neither read nor write the cache/);
  });
});

describe("--keep-going", () => {
  it("is accepted (it is the default) and conflicts with --fail-fast", async () => {
    const dir = project();
    const r = await runJson(dir, ["--keep-going"]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.ran).toHaveLength(5);
    const both = await cli(["run", "--keep-going", "--fail-fast"], { cwd: dir });
    expect(both.code).toBe(2);
    expect(both.stderr).toMatch(/cannot be used with/);
  });
});

describe("clean", () => {
  it("removes the declared outputs, never the inputs; -n only lists them", async () => {
    const dir = project();
    expect((await cli(["run"], { cwd: dir })).code).toBe(0);
    const dry = await cli(["clean", "-n"], { cwd: dir });
    expect(dry.code, dry.stderr).toBe(0);
    expect(dry.stdout).toMatch(/would remove build\/a\.o/);
    expect(dry.stdout).toMatch(/would remove build\/stamp\.txt/);
    expect(existsSync(join(dir, "build/a.o"))).toBe(true);

    const r = await cli(["clean"], { cwd: dir });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^removed build\/app$/m);
    for (const f of ["a.o", "b.o", "app", "docs.txt", "stamp.txt"]) {
      expect(existsSync(join(dir, "build", f))).toBe(false);
    }
    expect(readFileSync(join(dir, "README.txt"), "utf8")).toBe("read me\n");
    expect(existsSync(join(dir, "pipeline.flow"))).toBe(true);

    const nothing = await cli(["clean"], { cwd: dir });
    expect(nothing.code).toBe(0);
    expect(nothing.stdout).toMatch(/nothing to remove/);
    // A run afterwards restores everything from the cache.
    const restored = await runJson(dir);
    expect(restored.ran).toEqual([]);
    expect(existsSync(join(dir, "build/app"))).toBe(true);
  });

  it("keeps an output that is also an input of the flow", async () => {
    const dir = project('tidy = sh("sort -o ${output("README.txt")} ${file("README.txt")}")');
    expect((await cli(["run"], { cwd: dir })).code).toBe(0);
    const r = await cli(["clean"], { cwd: dir });
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/kept README\.txt: it is also an input of the flow/);
    expect(existsSync(join(dir, "README.txt"))).toBe(true);
  });

  it("refuses to remove anything outside the project, and says so", async () => {
    const dir = project('x = sh("echo built > ${output("out/x.txt")}")');
    const outside = tempDir();
    writeFileSync(join(outside, "x.txt"), "not ours\n");
    symlinkSync(outside, join(dir, "out"));
    const r = await cli(["clean"], { cwd: dir });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/refused out\/x\.txt: it is outside the project/);
    expect(readFileSync(join(outside, "x.txt"), "utf8")).toBe("not ours\n");
  });
});

describe("the cache commands and explain find the project from a subdirectory", () => {
  it("walks up to the directory with .tributary/", async () => {
    const dir = project();
    expect((await cli(["run", "pipeline.flow", "link"], { cwd: dir })).code).toBe(0);
    const sub = join(dir, "src", "deeper");
    mkdirSync(sub, { recursive: true });
    const stats = await cli(["cache", "stats"], { cwd: sub });
    expect(stats.code, stats.stderr).toBe(0);
    expect(stats.stdout).toContain(`cache ${join(dir, ".tributary", "cache")}`);
    expect(stats.stdout).toMatch(/3 entries/);
    expect(existsSync(join(sub, ".tributary"))).toBe(false);
    const explain = await cli(["explain", "link"], { cwd: sub });
    expect(explain.code, explain.stderr).toBe(0);
    expect(explain.stdout).toMatch(/link: ran/);
    const misspelt = await cli(["explain", "lnik"], { cwd: sub });
    expect(misspelt.code).toBe(2);
    expect(misspelt.stderr).toMatch(/no step lnik .*did you mean link\?/);
  });
});

describe("what a run prints", () => {
  it("plain progress counts the cached steps", async () => {
    const dir = project();
    expect((await cli(["run"], { cwd: dir })).code).toBe(0);
    writeFileSync(join(dir, "README.txt"), "read me again\n");
    const r = await cli(["run"], { cwd: dir });
    expect(r.code, r.stderr).toBe(0);
    // Only docs runs; every step restored before it finished counts in its line.
    const line = /^\[(\d)\/5\] docs ok [^(]*\((\d) cached[,)]/m.exec(r.stderr);
    expect(line, r.stderr).not.toBeNull();
    expect(Number(line![2])).toBe(Number(line![1]) - 1);
    expect(r.stderr).toMatch(/1 ok · 4 cached/);
  });

  it("a failed run still prints the outputs it produced, and names those it did not", async () => {
    const dir = project(
      [
        'good = sh("echo fine > ${output("out/good.txt")}")',
        'bad = sh("echo broken >&2; exit 3")',
        'after = sh("cat ${bad} > ${output("out/after.txt")}")',
        "out good, after",
      ].join("\n"),
    );
    const r = await cli(["run"], { cwd: dir });
    expect(r.code).toBe(1);
    expect(r.stdout).toBe("good: out/good.txt\n");
    expect(r.stderr).toMatch(/not produced: after \(blocked by bad\)/);
    expect(readdirSync(join(dir, "out"))).toEqual(["good.txt"]);
  });
});
