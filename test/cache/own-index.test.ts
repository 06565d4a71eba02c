import { appendFile, cp, mkdir, readdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { cacheStats, gc, openCache } from "../../src/cache/index.js";
import { runGraph } from "../../src/project/run-graph.js";
import type { Graph } from "../../src/graph/ir.js";
import { file, out, runWithCache, sh, tempDir } from "./helpers.js";

let dir: string;
let cleanup: () => Promise<void>;
beforeEach(async () => {
  ({ dir, cleanup } = await tempDir());
  await mkdir(join(dir, "src"));
});
afterEach(async () => {
  await cleanup();
});

const own = () => join(dir, ".tributary/cache");
const acFiles = async (cacheDir: string) => (await readdir(join(cacheDir, "ac"))).sort();
const indexFile = async (cacheDir: string) => {
  const [project] = await readdir(join(cacheDir, "state"));
  return join(cacheDir, "state", project!, "index.log");
};

/** x copies src/x.txt (whose content picks the key); y and z write 50 kB each (blobs in the cas). */
function graph(): Graph {
  return {
    steps: [
      sh("x", ["cat ", file("src/x.txt"), " > ", out("out/x.txt")]),
      ...["y", "z"].map((id) =>
        sh(id, [`head -c 50000 /dev/zero | tr '\\0' ${id} > `, out(`out/${id}.bin`)]),
      ),
    ],
  };
}

describe("a project's own cache directory (the default): the index is the entries' record", () => {
  it("writes no file in ac/ per entry, where a directory shared with others gets one", async () => {
    await writeFile(join(dir, "src/x.txt"), "one\n");
    const first = await runWithCache(graph(), dir);
    expect(first.ran).toEqual(["x", "y", "z"]);
    expect(await acFiles(own())).toEqual([]);
    expect((await runWithCache(graph(), dir)).ran).toEqual([]);
    expect((await cacheStats(own())).entries).toBe(3);

    const shared = join(dir, "shared");
    await runWithCache(graph(), dir, { dir: shared });
    expect(await acFiles(shared)).toHaveLength(3);
  });

  it("is found by another checkout pointed at it, which restores from it", async () => {
    await writeFile(join(dir, "src/x.txt"), "one\n");
    await runWithCache(graph(), dir);
    const other = join(dir, "checkout2");
    await mkdir(join(other, "src"), { recursive: true });
    await writeFile(join(other, "src/x.txt"), "one\n");
    const r = await runWithCache(graph(), other, { dir: own() });
    expect(r.ran).toEqual([]);
    expect(r.warnings).toEqual([]);
    expect(await readFile(join(other, "out/x.txt"), "utf8")).toBe("one\n");
    expect((await stat(join(other, "out/y.bin"))).size).toBe(50_000);
  });

  it("travels with its project: a copy elsewhere (a move, a CI cache restore) restores from it", async () => {
    const a = join(dir, "a");
    await mkdir(join(a, "src"), { recursive: true });
    await writeFile(join(a, "src/x.txt"), "one\n");
    await runWithCache(graph(), a);
    const b = join(dir, "b");
    await cp(a, b, { recursive: true });
    await rm(join(b, "out"), { recursive: true });
    const r = await runWithCache(graph(), b);
    expect(r.ran).toEqual([]);
    expect(await readFile(join(b, "out/x.txt"), "utf8")).toBe("one\n");
    // The copy's own index (its state is under another name) has them now.
    const copied = await readFile(join(r.cache.stateDir, "index.log"), "utf8");
    expect(copied.match(/^P\t/gm)).toHaveLength(3);
    const again = await runWithCache(graph(), b);
    expect(again.ran).toEqual([]);
    expect(again.cache.counters.restoredFiles).toBe(0);
  });

  it("is seen by a run of the project beside the one that saved to it", async () => {
    await writeFile(join(dir, "src/x.txt"), "one\n");
    // Both open the cache (and read the index) before either runs: the second sees the first's saves.
    const first = await openCache({ root: dir });
    const second = await openCache({ root: dir });
    const a = await runGraph(graph(), { cache: first, root: dir, concurrency: 2 });
    expect(a.steps.filter((s) => !s.cached)).toHaveLength(3);
    const b = await runGraph(graph(), { cache: second, root: dir, concurrency: 2 });
    expect(b.steps.filter((s) => s.cached).map((s) => s.id)).toEqual(["x", "y", "z"]);
    await first.close();
    await second.close();
    expect((await runWithCache(graph(), dir)).ran).toEqual([]);
  });

  it("writes to ac/ what a compaction of the index drops, so that it is still found", async () => {
    const keys: string[] = [];
    for (const content of ["one\n", "two\n", "three\n"]) {
      await writeFile(join(dir, "src/x.txt"), content);
      const r = await runWithCache(graph(), dir);
      keys.push(r.cache.explainStep("x").key!);
    }
    expect(await acFiles(own())).toEqual([]);
    // A torn block at the end makes the next flush compact: three keys of x, two kept.
    await appendFile(await indexFile(own()), "P\tgarbage");
    const r = await runWithCache(graph(), dir);
    expect(r.ran).toEqual([]);
    expect(await acFiles(own())).toEqual([keys[0]]);
    expect(await readFile(await indexFile(own()), "utf8")).not.toContain(keys[0]);

    await writeFile(join(dir, "src/x.txt"), "one\n");
    await rm(join(dir, "out/x.txt"));
    const back = await runWithCache(graph(), dir);
    expect(back.ran).toEqual([]);
    expect(await readFile(join(dir, "out/x.txt"), "utf8")).toBe("one\n");
  });

  it("loses to gc what gc evicts: gone from the index, its blobs too", async () => {
    await writeFile(join(dir, "src/x.txt"), "one\n");
    await runWithCache(graph(), dir);
    const res = await gc(own(), { maxBytes: 60_000 });
    expect(res.removedEntries).toBeGreaterThanOrEqual(1);
    expect(res.removedBlobs).toBeGreaterThanOrEqual(1);
    expect(res.remainingBytes).toBeLessThanOrEqual(60_000);
    const left = (await cacheStats(own())).entries;
    expect(left).toBe(3 - res.removedEntries);
    // The outputs are in place: what the index still holds is a hit, what gc evicted runs again.
    const r = await runWithCache(graph(), dir);
    expect(r.ran).toHaveLength(res.removedEntries);
    expect(r.cached).toHaveLength(left);
  });
});
