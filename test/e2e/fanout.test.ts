import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { cli, copyExample, jsonEvents, ranAndCached, REPO } from "../helpers/cli.js";
import { tempDir } from "../helpers/procs.js";

/** A run with --json: its events, and what ran or came from the cache. */
async function run(dir: string, args: string[] = [], env: NodeJS.ProcessEnv = {}) {
  const r = await cli(["run", "--json", ...args], { cwd: dir, env });
  const events = jsonEvents(r.stdout);
  return { ...r, events, ...ranAndCached(events) };
}

function project(files: Record<string, string>): string {
  const dir = tempDir();
  for (const [name, text] of Object.entries(files)) {
    mkdirSync(join(dir, name, ".."), { recursive: true });
    writeFileSync(join(dir, name), text);
  }
  return dir;
}

describe("for: fan-out over files and lines, for commands", () => {
  it("the pattern rule: one item per file, named by it; adding or changing one file runs exactly that item", async () => {
    const dir = copyExample("pattern-rule");
    const first = await run(dir, ["build.flow"]);
    expect(first.code, first.stderr).toBe(0);
    expect(first.ran).toEqual(["upper", "upper[src/dog.txt]", "upper[src/fox.txt]", "upper[src/jumps.txt]"]);
    expect(readFileSync(join(dir, "out/fox.txt"), "utf8")).toBe("THE QUICK BROWN FOX\n");

    // Unchanged: answered from the run's record without running anything (the no-op fast path).
    const again = await cli(["run", "build.flow"], { cwd: dir });
    expect(again.stderr).toMatch(/0 ok · 4 cached/);
    expect(existsSync(join(dir, ".tributary/noop-run.json"))).toBe(true);

    // A new file changes what the glob lists: the record no longer stands, and one item runs.
    writeFileSync(join(dir, "src/cat.txt"), "a new cat\n");
    const added = await run(dir, ["build.flow"]);
    expect(existsSync(join(dir, ".tributary/noop-run.json"))).toBe(false);
    expect(added.ran).toEqual(["upper", "upper[src/cat.txt]"]);
    expect(added.cached).toEqual(["upper[src/dog.txt]", "upper[src/fox.txt]", "upper[src/jumps.txt]"]);

    writeFileSync(join(dir, "src/dog.txt"), "the sleepy dog\n");
    const changed = await run(dir, ["build.flow"]);
    expect(changed.ran).toEqual(["upper", "upper[src/dog.txt]"]);
    expect(readFileSync(join(dir, "out/dog.txt"), "utf8")).toBe("THE SLEEPY DOG\n");

    // The map's value lists the items in list order (sorted paths), whatever order they finished in.
    const end = changed.events.find((e) => e.type === "step-end" && e.id === "upper")!;
    expect(end.value.map((f: { $file: string }) => f.$file)).toEqual([
      "out/cat.txt",
      "out/dog.txt",
      "out/fox.txt",
      "out/jumps.txt",
    ]);
  });

  it("lines of a file: items start in list order under a module limit, skip blank lines, keep their names", async () => {
    const dir = project({
      "words.txt": "alpha\nbeta\n\n  \ngamma\ndelta\n",
      "f.flow":
        'lens = for w in lines(file("words.txt")): sh("printf %s ${w} | wc -c") with concurrency: 1\n',
    });
    const r = await run(dir, ["f.flow", "-j", "4"]);
    expect(r.code, r.stderr).toBe(0);
    const starts = r.events.filter((e) => e.type === "step-start").map((e) => e.id);
    expect(starts).toEqual(["lens[alpha]", "lens[beta]", "lens[gamma]", "lens[delta]"]);
    const end = r.events.find((e) => e.type === "step-end" && e.id === "lens")!;
    expect(end.value).toEqual(["5", "4", "5", "5"]);
  });

  it("after the fan-out, a partial consumer of any kind gets successes and failures, and is cached like any step", async () => {
    const dir = project({
      "words.txt": "alpha\nBAD\ngamma\n",
      "f.flow": [
        'lens = for w in lines(file("words.txt")): sh("test ${w} != BAD && printf %s ${w} | wc -c")',
        'stats = sh("echo ok=${lens.ok} failed=${lens.failed}") with partial: true',
        "",
      ].join("\n"),
    });
    const first = await run(dir, ["f.flow"]);
    expect(first.code).toBe(1);
    const stats = first.events.find((e) => e.type === "step-end" && e.id === "stats")!;
    expect(stats.status).toBe("ok");
    expect(stats.value).toContain("ok=5 5");
    expect(stats.value).toContain('"key":"BAD"');
    expect(stats.value).toContain('"message":"exited with code 1"');
    // The record holds no time or stack: the second run finds the consumer in the cache.
    const second = await run(dir, ["f.flow"]);
    expect(second.cached).toEqual(["lens[alpha]", "lens[gamma]", "stats"]);
    expect(second.events.find((e) => e.type === "step-end" && e.id === "lens[BAD]")!.status).toBe("failed");
  });

  it("records of a JSON-lines file, named by a key field; a line that is not JSON names file and line", async () => {
    const dir = project({
      "runs.jsonl": '{"id":"r1","n":2}\n{"id":"r2","n":3}\n',
      "f.flow": 'sq = for r in jsonl(file("runs.jsonl")): exec("expr", r.n, "*", r.n) with key: r.id\n',
    });
    const r = await run(dir, ["f.flow"]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.ran).toEqual(["sq", "sq[r1]", "sq[r2]"]);
    writeFileSync(join(dir, "runs.jsonl"), '{"id":"r1","n":2}\n{"id":"r2",\n');
    const bad = await cli(["run", "f.flow"], { cwd: dir });
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/runs\.jsonl:2: not valid JSON/);
  });

  it("refuses, before any item runs, two items writing one file and an item writing outside the project", async () => {
    const dir = project({
      "a/x.txt": "one\n",
      "b/x.txt": "two\n",
      "names.txt": "ok\n../../escape\n",
      "same.flow": 'c = for f in glob("*/x.txt"): sh("cp ${f} ${output("out/${f.name}")}")\n',
      "escape.flow": 'e = for n in lines(file("names.txt")): sh("echo ${n} > ${output("out/${n}.txt")}")\n',
    });
    const same = await run(dir, ["same.flow"]);
    expect(same.code).toBe(1);
    expect(same.events.filter((e) => e.type === "step-start")).toEqual([]);
    const err = same.events.find((e) => e.type === "step-end" && e.id === "c")!.error.message;
    expect(err).toContain("c[a/x.txt] and c[b/x.txt] would both write out/x.txt");

    const escape = await run(dir, ["escape.flow"]);
    expect(escape.code).toBe(1);
    expect(escape.events.filter((e) => e.type === "step-start")).toEqual([]);
    expect(escape.events.find((e) => e.type === "step-end" && e.id === "e")!.error.message).toMatch(
      /e\[\.\.\/\.\.\/escape\]: output path "out\/\.\.\/\.\.\/escape\.txt" is outside the project/,
    );
  });

  it("a literal output inside a for is refused by check: every item would write it", async () => {
    const dir = project({ "f.flow": 'c = for f in glob("*.txt"): sh("cat ${f} > ${output("all.txt")}")\n' });
    const r = await cli(["check", "f.flow"], { cwd: dir });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/f\.flow:1:\d+: error: every item of this for would write all\.txt/);
  });

  it("renaming an input file reruns its item: the command names the file", async () => {
    const dir = copyExample("pattern-rule");
    expect((await run(dir, ["build.flow"])).code).toBe(0);
    renameSync(join(dir, "src/fox.txt"), join(dir, "src/vixen.txt"));
    const r = await run(dir, ["build.flow"]);
    expect(r.ran).toEqual(["upper", "upper[src/vixen.txt]"]);
  });

  it("fans out a module, a worker-thread module and exec the same way, each item cached on its own", async () => {
    const dir = project({
      "node_modules/tributary-flow": "",
      "mods.mjs": [
        'import { appendFileSync } from "node:fs";',
        'import { module } from "tributary-flow";',
        "export function Shout(w) {",
        '  appendFileSync("calls.log", `Shout ${w}\\n`);',
        '  return w.toUpperCase() + (process.env.SUFFIX ?? "");',
        "}",
        "export const Len = module({",
        "  cpu: true,",
        "  run(w) {",
        "    return { word: w, length: w.length };",
        "  },",
        "});",
        "",
      ].join("\n"),
      "f.flow": [
        'use "./mods.mjs"',
        'words = ["alpha", "beta", "gamma"]',
        'loud = for w in words: Shout(w) with env: ["SUFFIX"]',
        "lens = for w in words: Len(w)",
        'echo = for w in loud: exec("echo", w.name)',
        "",
      ].join("\n"),
    });
    rmSync(join(dir, "node_modules/tributary-flow"));
    symlinkSync(REPO, join(dir, "node_modules/tributary-flow"));
    const first = await run(dir, ["f.flow"], { SUFFIX: "!" });
    expect(first.code, first.stderr).toBe(0);
    expect(first.ran).toEqual(
      expect.arrayContaining(["loud[alpha]", "lens[gamma]", "echo[ALPHA!]", "echo[GAMMA!]"]),
    );
    const lens = first.events.find((e) => e.type === "step-end" && e.id === "lens")!.value;
    expect(lens.map((l: { length: number }) => l.length)).toEqual([5, 4, 5]);
    // A declared env var that did not change reruns nothing; one that did reruns the items that read it.
    const same = await run(dir, ["f.flow"], { SUFFIX: "!" });
    // Only the maps themselves "run" (they collect their items' values).
    expect(same.ran).toEqual(["echo", "lens", "loud"]);
    expect(readFileSync(join(dir, "calls.log"), "utf8").trim().split("\n")).toHaveLength(3);
    const changed = await run(dir, ["f.flow"], { SUFFIX: "?" });
    expect(changed.ran).toEqual(expect.arrayContaining(["loud[alpha]", "echo[ALPHA?]"]));
    expect(changed.ran.filter((id) => id.startsWith("lens["))).toEqual([]);
  });
});
