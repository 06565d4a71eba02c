import { chmod, cp, mkdir, readdir, readFile, rm, stat, truncate, utimes, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { formatExplanation } from "../../src/cache/index.js";
import type { Graph, Step, StepFn } from "../../src/graph/ir.js";
import { exec, file, lit, out, ref, runWithCache, sh, tempDir } from "./helpers.js";

let dir: string;
let cleanup: () => Promise<void>;

beforeEach(async () => {
  ({ dir, cleanup } = await tempDir());
  await mkdir(join(dir, "src"));
});
afterEach(async () => {
  await cleanup();
});

const read = (p: string) => readFile(join(dir, p), "utf8");
const write = (p: string, text: string) => writeFile(join(dir, p), text);

/** src/a.txt → a (upper) → b (a + src/b.txt) → c (wc of b, via argv); src/d.txt → d; e = a + d. */
function diamond(): Graph {
  return {
    steps: [
      sh("a", ["tr a-z A-Z < ", file("src/a.txt"), " > ", out("out/a.txt")]),
      sh("b", ["cat ", ref("a"), " ", file("src/b.txt"), " > ", out("out/b.txt")]),
      exec("c", ["sh", "-c", 'wc -c < "$1" > "$2"', "wc", ref("b"), out("out/c.txt")]),
      sh("d", ["rev ", file("src/d.txt"), " > ", out("out/d.txt")]),
      sh("e", ["cat ", ref("a"), " ", ref("d"), " > ", out("out/e.txt")]),
    ],
  };
}

async function writeSources(): Promise<void> {
  await write("src/a.txt", "alpha\n");
  await write("src/b.txt", "bravo\n");
  await write("src/d.txt", "delta\n");
}

describe("the cache through the real engine", () => {
  it("runs nothing the second time, and the outputs stay right", async () => {
    await writeSources();
    const first = await runWithCache(diamond(), dir);
    expect(first.ran).toEqual(["a", "b", "c", "d", "e"]);
    expect(first.cache.counters.saved).toBe(5);

    const second = await runWithCache(diamond(), dir);
    expect(second.ran).toEqual([]);
    expect(second.cached).toEqual(["a", "b", "c", "d", "e"]);
    expect(second.result.steps.every((s) => s.attempts === 0)).toBe(true);
    expect(second.warnings).toEqual([]);
    // The fast path: nothing read but stats (no file hashed, no entry restored).
    expect(second.cache.stat.hashed).toBe(0);
    expect(second.cache.counters.restoredFiles).toBe(0);
    expect(await read("out/b.txt")).toBe("ALPHA\nbravo\n");
    expect((await read("out/c.txt")).trim()).toBe("12");
    expect(await read("out/e.txt")).toBe("ALPHA\natled\n");
    // Values are the same FileValues either way.
    expect(second.result.outputs).toEqual(first.result.outputs);
  });

  it("reruns exactly the downstream of a changed input file", async () => {
    await writeSources();
    await runWithCache(diamond(), dir);
    await write("src/d.txt", "DELTA!\n");
    const r = await runWithCache(diamond(), dir);
    expect(r.ran).toEqual(["d", "e"]);
    expect(await read("out/e.txt")).toBe("ALPHA\n!ATLED\n");

    await write("src/b.txt", "bravo bravo\n");
    const r2 = await runWithCache(diamond(), dir);
    expect(r2.ran).toEqual(["b", "c"]);
    expect((await read("out/c.txt")).trim()).toBe("18");
  });

  it("cuts off early: a rerun with byte-identical output does not rerun its dependents", async () => {
    await write("src/lines.txt", "one\ntwo\nthree\n");
    const g: Graph = {
      steps: [
        sh("count", ["wc -l < ", file("src/lines.txt"), " > ", out("out/count.txt")]),
        sh("report", ["(echo lines:; cat ", ref("count"), ") > ", out("out/report.txt")]),
        sh("final", ["cat ", ref("report"), " ", ref("report"), " > ", out("out/final.txt")]),
      ],
    };
    await runWithCache(g, dir);
    await write("src/lines.txt", "uno\ndos\ntres\n"); // other content, same number of lines
    const r = await runWithCache(g, dir);
    expect(r.ran).toEqual(["count"]);
    expect(r.cached).toEqual(["final", "report"]);
    await write("src/lines.txt", "1\n2\n");
    const r2 = await runWithCache(g, dir);
    expect(r2.ran).toEqual(["count", "final", "report"]);
    expect(await read("out/report.txt")).toBe("lines:\n2\n");
  });

  it("sees content changes whatever the clock says, and ignores touches", async () => {
    // The w4 workload: src/input.txt → out/copy.txt → out/sum.txt, each run logged.
    await write("src/input.txt", "original content\n");
    await mkdir(join(dir, "log"));
    const g: Graph = {
      steps: [
        sh("copy", ["cp ", file("src/input.txt"), " ", out("out/copy.txt"), " && echo copy >> log/runs.txt"]),
        sh("sum", ["cksum ", ref("copy"), " > ", out("out/sum.txt"), " && echo sum >> log/runs.txt"]),
      ],
    };
    await runWithCache(g, dir);
    const input = join(dir, "src/input.txt");
    const old = new Date("2001-01-01T00:00:00Z");

    // New content, mtime set far into the past (an old checkout, a skewed clock).
    const before = await stat(input);
    await write("src/input.txt", "changed content\n"); // same size as before? no: different, but also:
    await utimes(input, old, old);
    let r = await runWithCache(g, dir);
    expect(r.ran).toEqual(["copy", "sum"]);
    expect(await read("out/copy.txt")).toBe("changed content\n");

    // Same size, same old mtime: only ctime and content differ.
    await write("src/input.txt", "CHANGED content\n");
    await utimes(input, old, old);
    expect((await stat(input)).size).toBe(16);
    r = await runWithCache(g, dir);
    expect(r.ran).toEqual(["copy", "sum"]);
    expect(await read("out/copy.txt")).toBe("CHANGED content\n");

    // New content with an mtime in the future.
    const future = new Date(Date.now() + 365 * 24 * 3600 * 1000);
    await write("src/input.txt", "future content\n");
    await utimes(input, future, future);
    r = await runWithCache(g, dir);
    expect(r.ran).toEqual(["copy", "sum"]);
    expect(await read("out/copy.txt")).toBe("future content\n");
    // A future-dated file stays racy (re-hashed every time) but is not rebuilt.
    r = await runWithCache(g, dir);
    expect(r.ran).toEqual([]);

    // touch without a content change: nothing runs.
    const now = new Date();
    await utimes(input, now, now);
    await utimes(join(dir, "out/copy.txt"), now, now);
    r = await runWithCache(g, dir);
    expect(r.ran).toEqual([]);
    expect(before.size).toBe(17);
    expect((await read("log/runs.txt")).trim().split("\n")).toEqual([
      "copy",
      "sum",
      "copy",
      "sum",
      "copy",
      "sum",
      "copy",
      "sum",
    ]);
  });

  it("restores deleted or damaged outputs with their modes", async () => {
    const g: Graph = {
      steps: [
        sh("tool", [
          "printf '#!/bin/sh\\necho hi\\n' > ",
          out("bin/tool.sh"),
          " && chmod 755 ",
          out("bin/tool.sh"),
        ]),
        sh("secret", ["echo s3cret > ", out("etc/secret"), " && chmod 600 ", out("etc/secret")]),
        sh("frozen", ["echo frozen > ", out("etc/frozen"), " && chmod 444 ", out("etc/frozen")]),
        sh("both", ["echo one > ", out("two/1.txt"), "; echo two > ", out("two/2.txt")]),
      ],
    };
    await runWithCache(g, dir);
    await rm(join(dir, "bin"), { recursive: true });
    await rm(join(dir, "etc/secret"));
    await chmod(join(dir, "etc/frozen"), 0o644);
    await rm(join(dir, "etc/frozen"));
    await write("two/2.txt", "tampered\n");
    const r = await runWithCache(g, dir);
    expect(r.ran).toEqual([]);
    expect(r.cache.counters.restoredFiles).toBe(4);
    expect(r.warnings).toEqual([]);
    const mode = async (p: string) => (await stat(join(dir, p))).mode & 0o777;
    expect(await mode("bin/tool.sh")).toBe(0o755);
    expect(await mode("etc/secret")).toBe(0o600);
    expect(await mode("etc/frozen")).toBe(0o444);
    expect(await read("bin/tool.sh")).toBe("#!/bin/sh\necho hi\n");
    expect(await read("etc/secret")).toBe("s3cret\n");
    expect(await read("two/1.txt")).toBe("one\n");
    expect(await read("two/2.txt")).toBe("two\n");
    // A read-only output may share the blob's inode; a writable one never does.
    expect((await stat(join(dir, "bin/tool.sh"))).nlink).toBe(1);
    // Only the mode changed: fixed in place, nothing runs.
    await chmod(join(dir, "bin/tool.sh"), 0o644);
    const r2 = await runWithCache(g, dir);
    expect(r2.ran).toEqual([]);
    expect(await mode("bin/tool.sh")).toBe(0o755);
    // An in-place edit of the restored (writable) file does not touch the cache: restore again.
    await write("bin/tool.sh", "#!/bin/sh\necho evil\n");
    await rm(join(dir, "bin/tool.sh"));
    const r3 = await runWithCache(g, dir);
    expect(r3.ran).toEqual([]);
    expect(await read("bin/tool.sh")).toBe("#!/bin/sh\necho hi\n");
  });

  it("treats a damaged cas blob as a miss with a warning, never a wrong result, and repairs it", async () => {
    // Past INLINE_OUTPUT_LIMIT (512 bytes): the output is a cas blob, not part of its manifest.
    const times = 100;
    await write("src/a.txt", "alpha\n".repeat(times));
    const g: Graph = { steps: [sh("a", ["tr a-z A-Z < ", file("src/a.txt"), " > ", out("out/a.txt")])] };
    const first = await runWithCache(g, dir);
    const digest = (first.result.outputs.a as { digest: string }).digest;
    const blob = join(dir, ".tributary/cache/cas", digest.slice(0, 2), digest);
    await chmod(blob, 0o644);
    await writeFile(blob, "ALPHX\n".repeat(times)); // same size, wrong content
    await rm(join(dir, "out/a.txt"));

    const r = await runWithCache(g, dir);
    expect(r.ran).toEqual(["a"]);
    expect(r.warnings.join("\n")).toMatch(/blob .* is damaged/);
    expect(await read("out/a.txt")).toBe("ALPHA\n".repeat(times));
    expect(await readFile(blob, "utf8")).toBe("ALPHA\n".repeat(times)); // repaired by the save

    await truncate(blob, 2);
    await rm(join(dir, "out/a.txt"));
    const r2 = await runWithCache(g, dir);
    expect(r2.ran).toEqual(["a"]);
    expect(r2.warnings.join("\n")).toMatch(/damaged/);
    expect(await read("out/a.txt")).toBe("ALPHA\n".repeat(times));

    await rm(join(dir, "out/a.txt"));
    const r3 = await runWithCache(g, dir);
    expect(r3.ran).toEqual([]);
    expect(r3.warnings).toEqual([]);
    expect(await read("out/a.txt")).toBe("ALPHA\n".repeat(times));
  });

  it("keeps a small output in its manifest, not as a blob: restored with its content and mode", async () => {
    await write("src/a.txt", "alpha\n");
    const g: Graph = {
      steps: [
        sh("a", [
          "tr a-z A-Z < ",
          file("src/a.txt"),
          " > ",
          out("out/a.txt"),
          "; chmod 640 ",
          out("out/a.txt"),
        ]),
        // Just past the limit (512 bytes): a blob.
        sh("big", ["head -c 513 /dev/zero | tr '\\0' b > ", out("out/big.txt")]),
      ],
    };
    const first = await runWithCache(g, dir);
    expect(first.ran.sort()).toEqual(["a", "big"]);
    const digestOf = (id: string) => (first.result.outputs[id] as { digest: string }).digest;
    const blob = (d: string) => join(dir, ".tributary/cache/cas", d.slice(0, 2), d);
    await expect(stat(blob(digestOf("a")))).rejects.toThrow(/ENOENT/);
    expect((await stat(blob(digestOf("big")))).size).toBe(513);

    await rm(join(dir, "out"), { recursive: true });
    const r = await runWithCache(g, dir);
    expect(r.ran).toEqual([]);
    expect(await read("out/a.txt")).toBe("ALPHA\n");
    expect((await stat(join(dir, "out/a.txt"))).mode & 0o777).toBe(0o640);
    expect(await read("out/big.txt")).toBe("b".repeat(513));
  });

  it("treats a truncated or tampered action-cache entry as a miss with a warning, and repairs it", async () => {
    await write("src/a.txt", "alpha\n");
    const g: Graph = {
      steps: [
        sh("a", ["tr a-z A-Z < ", file("src/a.txt"), " > ", out("out/a.txt")]),
        sh("b", ["cat ", ref("a"), " > ", out("out/b.txt")]),
        exec("v", ["echo", "small"]),
      ],
    };
    // A cache directory shared by checkouts of the project (not one's own: that keeps its entries in
    // its index, see the next tests), so ac/ has an entry per step.
    const shared = { dir: join(dir, "shared-cache") };
    const first = await runWithCache(g, dir, shared);
    const acDir = join(shared.dir, "ac");
    expect(await readdir(acDir)).toHaveLength(3);
    // A second checkout: it has no index yet, so it reads ac/.
    const other = join(dir, "checkout2");
    await mkdir(join(other, "src"), { recursive: true });
    await writeFile(join(other, "src/a.txt"), "alpha\n");
    const keyOf = (id: string) => first.cache.explainStep(id).key!;
    await truncate(join(acDir, keyOf("a")), 30);
    const bEntry = join(acDir, keyOf("b"));
    await writeFile(bEntry, (await readFile(bEntry, "utf8")).replace('"format":1', '"format":2'));
    // Still a well-formed manifest, with a wrong value: only the digest in the header tells.
    const vEntry = join(acDir, keyOf("v"));
    const tampered = (await readFile(vEntry, "utf8")).replace('"value":"small"', '"value":"smell"');
    expect(tampered).toContain("smell");
    await writeFile(vEntry, tampered);

    const r = await runWithCache(g, other, shared);
    expect(r.ran).toEqual(["a", "b", "v"]);
    expect(r.result.outputs.v).toBe("small");
    expect(r.warnings.filter((w) => /is (damaged|truncated)/.test(w))).toHaveLength(3);
    expect(r.warnings.filter((w) => /repaired/.test(w))).toHaveLength(3);
    expect(await readFile(join(other, "out/b.txt"), "utf8")).toBe("ALPHA\n");

    const third = join(dir, "checkout3");
    await mkdir(join(third, "src"), { recursive: true });
    await writeFile(join(third, "src/a.txt"), "alpha\n");
    const r2 = await runWithCache(g, third, shared);
    expect(r2.ran).toEqual([]);
    expect(r2.warnings).toEqual([]);
    expect(r2.result.outputs.v).toBe("small");
    expect(r2.cache.counters.restoredFiles).toBe(2);
    expect(await readFile(join(third, "out/b.txt"), "utf8")).toBe("ALPHA\n");
  });

  it("tolerates a torn or garbled index and stat cache", async () => {
    await writeSources();
    // In the project's own cache the index is an entry's only record: the torn last block's step
    // (one save, one block) runs again. In a directory shared with others, ac/ has it too.
    for (const [cacheDir, rerun] of [
      [join(dir, ".tributary/cache"), 1],
      [join(dir, "shared-cache"), 0],
    ] as const) {
      const options = { dir: cacheDir };
      await runWithCache(diamond(), dir, options);
      const stateRoot = join(cacheDir, "state");
      const [project] = await readdir(stateRoot);
      const index = join(stateRoot, project!, "index.log");
      const size = (await stat(index)).size;
      await truncate(index, size - 40); // a torn last block
      await writeFile(join(stateRoot, project!, "stat-cache"), "garbage");
      const r = await runWithCache(diamond(), dir, options);
      expect(r.ran, cacheDir).toHaveLength(rerun);
      expect(r.warnings.join("\n")).toMatch(/stat cache .* unknown format/);
      const r2 = await runWithCache(diamond(), dir, options);
      expect(r2.ran).toEqual([]);
      expect(r2.warnings).toEqual([]);
      expect(r2.cache.stat.hashed).toBe(0);
    }
  });

  it("keeps the index whole when it is deleted or replaced while a run appends to it", async () => {
    const state = ".tributary/cache/state/*";
    // Between two of the run's saves, a step plays `tributary clean` (deletes the index) or another
    // process's compaction (renames a new file over it).
    const graph = (how: string): Graph => ({
      steps: [
        sh("a", ["echo a > ", out("out/a.txt")]),
        sh("b", [`${how}; cat `, ref("a"), " > ", out("out/b.txt")]),
        sh("c", ["cat ", ref("b"), " > ", out("out/c.txt")]),
      ],
    });
    const indexText = async () => {
      const stateRoot = join(dir, ".tributary/cache/state");
      const [project] = await readdir(stateRoot);
      return readFile(join(stateRoot, project!, "index.log"), "utf8");
    };
    for (const how of [
      `rm ${state}/index.log`,
      `cp ${state}/index.log x.tmp && mv x.tmp ${state}/index.log`,
    ]) {
      await rm(join(dir, ".tributary"), { recursive: true, force: true });
      const r = await runWithCache(graph(how), dir);
      expect(r.ran).toEqual(["a", "b", "c"]);
      // The blocks saved after the swap are in the file at the index's name, not in the one it replaced.
      const text = await indexText();
      for (const id of ["b", "c"]) expect(text, how).toMatch(new RegExp(`\\t${id}\\t\\{`));
      // a's entry went with the deleted index (its only record, as a clean takes ac/ too); a's output
      // is the same again, so b and c are restored.
      expect((await runWithCache(graph(how), dir)).ran, how).toEqual(how.startsWith("rm") ? ["a"] : []);
    }
  });

  it("keys function steps by their module's code, local imports included", async () => {
    const modDir = join(dir, "lib");
    await mkdir(modDir);
    await writeFile(
      join(modDir, "helper.ts"),
      `export const shout = (s: string): string => s.toUpperCase() + "!";\n`,
    );
    await writeFile(join(modDir, "types.ts"), `export interface Unused { x: number }\n`);
    await writeFile(
      join(modDir, "mod.ts"),
      `import { shout } from "./helper.js";\nimport type { Unused } from "./types.js";\nexport function greet(name: string): string { const u: Unused | undefined = undefined; void u; return shout("hello " + name); }\n`,
    );
    let calls = 0;
    let loads = 0;
    // Each run loads the module afresh (as a new process would): from a copy, since the module
    // loader caches by URL and would keep the first version of helper.ts.
    const load = async (): Promise<StepFn> => {
      const copy = join(dir, `lib-copy-${++loads}`);
      await cp(modDir, copy, { recursive: true });
      const m = (await import(pathToFileURL(join(copy, "mod.ts")).href)) as { greet: StepFn };
      return function (this: unknown, ...args: unknown[]) {
        calls++;
        return m.greet.apply(this as never, args as never);
      } as StepFn;
    };
    const graph = async (): Promise<Graph> => ({
      steps: [
        {
          id: "greet",
          module: "greet",
          action: {
            kind: "function",
            fn: await load(),
            ref: { file: join(modDir, "mod.ts"), exportName: "greet" },
          },
          inputs: [lit("world")],
          options: {},
        },
        sh("save", ["echo ", ref("greet"), " > ", out("out/greeting.txt")]),
      ],
    });
    const r1 = await runWithCache(await graph(), dir);
    expect(r1.result.outputs.save).toBeDefined();
    expect(await read("out/greeting.txt")).toBe("HELLO WORLD!\n");
    expect(calls).toBe(1);
    const r2 = await runWithCache(await graph(), dir);
    expect(r2.ran).toEqual([]);
    expect(calls).toBe(1);
    // A type-only import is not code: editing it changes nothing.
    await writeFile(join(modDir, "types.ts"), `export interface Unused { x: string }\n`);
    expect((await runWithCache(await graph(), dir)).ran).toEqual([]);
    // Editing an imported file is a code change.
    await writeFile(
      join(modDir, "helper.ts"),
      `export const shout = (s: string): string => s.toUpperCase() + "?";\n`,
    );
    const r3 = await runWithCache(await graph(), dir);
    expect(r3.ran).toEqual(["greet", "save"]);
    expect(calls).toBe(2);
    expect(await read("out/greeting.txt")).toBe("HELLO WORLD?\n");
    const why = r3.cache.explainStep("greet");
    expect(why.cause).toBe("changed");
    expect(why.changes).toEqual([expect.objectContaining({ kind: "code", file: "lib/helper.ts" })]);
    expect(formatExplanation(why)).toMatch(/code lib\/helper\.ts: [0-9a-f]{12} → [0-9a-f]{12}/);
  });

  it("does not cache a closure unless it declares a version", async () => {
    let calls = 0;
    const fn = ((x: number) => {
      calls++;
      return x * 2;
    }) as StepFn;
    const step = (options: Step["options"]): Graph => ({
      steps: [
        { id: "double", module: "double", action: { kind: "function", fn }, inputs: [lit(21)], options },
      ],
    });
    const r1 = await runWithCache(step({}), dir);
    const r2 = await runWithCache(step({}), dir);
    expect([r1.ran, r2.ran]).toEqual([["double"], ["double"]]);
    expect(r2.cache.counters.uncacheable).toBe(1);
    expect(r2.cache.explainStep("double")).toMatchObject({ decision: "ran", cause: "uncacheable" });
    const r3 = await runWithCache(step({ version: "1" }), dir);
    const r4 = await runWithCache(step({ version: "1" }), dir);
    expect([r3.ran, r4.ran]).toEqual([["double"], []]);
    expect(r4.result.outputs.double).toBe(42);
    const r5 = await runWithCache(step({ version: "2" }), dir);
    expect(r5.ran).toEqual(["double"]);
    expect(r5.cache.explainStep("double").changes).toEqual([
      { kind: "code", file: "(declared version)", from: '"1"', to: '"2"' },
    ]);
    // Scheduling options are not part of the key.
    const r6 = await runWithCache(
      step({ version: "2", priority: 5, retries: 3, timeoutMs: 1000, estimateMs: 9 }),
      dir,
    );
    expect(r6.ran).toEqual([]);
    expect(calls).toBe(4);
  });

  it("keys on declared env vars (and only those)", async () => {
    const g: Graph = {
      steps: [{ ...sh("greet", ['echo "$GREETING" > ', out("out/g.txt")]), options: { env: ["GREETING"] } }],
    };
    const env = (GREETING?: string, OTHER?: string) => ({ ...process.env, GREETING, OTHER });
    await runWithCache(g, dir, { env: env("hi") }, { env: env("hi") });
    expect((await runWithCache(g, dir, { env: env("hi", "x") }, { env: env("hi", "x") })).ran).toEqual([]);
    const r = await runWithCache(g, dir, { env: env("hello") }, { env: env("hello") });
    expect(r.ran).toEqual(["greet"]);
    expect(await read("out/g.txt")).toBe("hello\n");
    expect(r.cache.explainStep("greet").changes).toEqual([
      { kind: "env", name: "GREETING", from: "hi", to: "hello" },
    ]);
  });

  it("with read: false (--force '*') runs every step but still saves, replacing entries", async () => {
    await writeSources();
    await runWithCache(diamond(), dir);
    const forced = await runWithCache(diamond(), dir, { read: false });
    expect(forced.ran).toEqual(["a", "b", "c", "d", "e"]);
    expect(forced.cache.counters.forced).toBe(5);
    expect(forced.cache.explainStep("a")).toMatchObject({ decision: "ran", cause: "forced" });
    const after = await runWithCache(diamond(), dir);
    expect(after.ran).toEqual([]);
  });

  it("explains why a step ran or was restored", async () => {
    await writeSources();
    const r1 = await runWithCache(diamond(), dir);
    expect(r1.cache.explainStep("a")).toMatchObject({ decision: "ran", cause: "new", run: "current" });
    await write("src/a.txt", "ALPHA\n");
    const r2 = await runWithCache(diamond(), dir);
    expect(r2.ran).toEqual(["a"]); // tr a-z A-Z: same output, early cutoff for b and e
    const a = r2.cache.explainStep("a");
    expect(a).toMatchObject({ decision: "ran", cause: "changed" });
    expect(a.changes).toEqual([expect.objectContaining({ kind: "input-file", path: "src/a.txt" })]);
    const change = a.changes[0] as { from: string; to: string };
    expect(change.from).toMatch(/^[0-9a-f]{64}$/);
    expect(change.to).not.toBe(change.from);
    expect(formatExplanation(a)).toMatch(
      /^a: ran — something changed since its last run\n {2}input file src\/a.txt: [0-9a-f]{12} → [0-9a-f]{12}$/,
    );
    expect(r2.cache.explainStep("b")).toMatchObject({ decision: "restored", cause: "unchanged" });
    expect(r2.cache.explainStep("nope")).toMatchObject({ decision: "unknown" });
    // Changing it back: restored from the cache, and explain says what changed.
    await write("src/a.txt", "alpha\n");
    const r3 = await runWithCache(diamond(), dir);
    expect(r3.ran).toEqual([]);
    expect(r3.cache.explainStep("a")).toMatchObject({ decision: "restored", cause: "changed" });
    // A separate process (the CLI's `explain`) reads the last run's record.
    const { explainLastRun } = await import("../../src/cache/index.js");
    expect(explainLastRun({ root: dir }, "a")).toMatchObject({
      decision: "restored",
      cause: "changed",
      run: "last",
    });
    // A command change is shown as such.
    const g = diamond();
    g.steps[3] = sh("d", ["rev ", file("src/d.txt"), " | tr a-z A-Z > ", out("out/d.txt")]);
    const r4 = await runWithCache(g, dir);
    expect(r4.ran).toEqual(["d", "e"]);
    const d = formatExplanation(r4.cache.explainStep("d"));
    expect(d).toContain("command line: rev src/d.txt > out/d.txt → rev src/d.txt | tr a-z A-Z > out/d.txt");
    expect(d).toContain(`input 0 part 2: " > " → " | tr a-z A-Z > "`);
  });

  it("keeps large values in the cas, small ones inline, and streams large files", async () => {
    const big = "x".repeat(100_000);
    const g: Graph = {
      steps: [
        exec("big", ["node", "-e", `process.stdout.write(${JSON.stringify(big)})`]),
        exec("small", ["echo", "small"]),
        sh("file", ["head -c 9000000 /dev/urandom > ", out("out/big.bin")]),
      ],
    };
    const r1 = await runWithCache(g, dir);
    expect(r1.result.outputs.big).toBe(big);
    const bytes = await readFile(join(dir, "out/big.bin"));
    expect(bytes.length).toBe(9_000_000);
    await rm(join(dir, "out/big.bin"));
    const r2 = await runWithCache(g, dir);
    expect(r2.ran).toEqual([]);
    expect(r2.result.outputs.big).toBe(big);
    expect(r2.result.outputs.small).toBe("small");
    expect((await readFile(join(dir, "out/big.bin"))).equals(bytes)).toBe(true);
  });

  it("answers plan's probe without touching the project", async () => {
    const { planGraph } = await import("../../src/engine/plan.js");
    const { openCache } = await import("../../src/cache/index.js");
    await writeSources();
    await runWithCache(diamond(), dir);
    await rm(join(dir, "out/e.txt"));
    await write("src/d.txt", "changed\n");
    const cache = await openCache({ root: dir });
    const plan = await planGraph(diamond(), { concurrency: 2, root: dir, cache });
    const status = Object.fromEntries(plan.steps.map((s) => [s.id, s.status]));
    expect(status).toEqual({ a: "cached", b: "cached", c: "cached", d: "run", e: "run" });
    expect(plan.steps.find((s) => s.id === "d")!.reason).toBe("not in the cache");
    await cache.close();
    // Nothing restored, nothing counted.
    await expect(stat(join(dir, "out/e.txt"))).rejects.toMatchObject({ code: "ENOENT" });
    expect(cache.counters.lookups).toBe(0);
    const cache2 = await openCache({ root: dir });
    await rm(join(dir, "out/a.txt"));
    const plan2 = await planGraph(
      { steps: diamond().steps.slice(0, 3) },
      { concurrency: 2, root: dir, cache: cache2 },
    );
    expect(plan2.steps.map((s) => s.status)).toEqual(["cached", "cached", "cached"]);
    await cache2.close();
    await expect(stat(join(dir, "out/a.txt"))).rejects.toMatchObject({ code: "ENOENT" });
  });

  it("with write: false uses the cache but never writes it", async () => {
    await writeSources();
    const ro = await runWithCache(diamond(), dir, { write: false });
    expect(ro.ran).toEqual(["a", "b", "c", "d", "e"]);
    expect(await readdir(join(dir, ".tributary/cache/ac"))).toEqual([]);
    await runWithCache(diamond(), dir);
    const again = await runWithCache(diamond(), dir, { write: false });
    expect(again.ran).toEqual([]);
  });
});
