import { mkdir, readdir, readFile, rm, stat, utimes, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import {
  cacheStats,
  clean,
  digestBytes,
  formatSize,
  gc,
  parseSize,
  resolveCacheDir,
} from "../../src/cache/index.js";
import type { Graph } from "../../src/graph/ir.js";
import { out, runWithCache, sh, tempDir } from "./helpers.js";

let dir: string;
let cleanup: () => Promise<void>;
beforeEach(async () => {
  ({ dir, cleanup } = await tempDir());
});
afterEach(async () => {
  await cleanup();
});

/** Steps x, y, z, each writing 50 kB of its own content. */
function threeBig(only?: string[]): Graph {
  const steps = ["x", "y", "z"].map((id) =>
    sh(id, [`head -c 50000 /dev/zero | tr '\\0' ${id} > `, out(`out/${id}.bin`)]),
  );
  return { steps: only ? steps.filter((s) => only.includes(s.id)) : steps };
}

describe("cache directory", () => {
  it("comes from the flag, else TRIBUTARY_CACHE_DIR, else the config, else the project", () => {
    const root = "/work/p";
    expect(resolveCacheDir(root, { env: {} })).toBe("/work/p/.tributary/cache");
    expect(resolveCacheDir(root, { env: {}, config: "../team-cache" })).toBe("/work/team-cache");
    expect(resolveCacheDir(root, { env: { TRIBUTARY_CACHE_DIR: "c" }, config: "x", cwd: "/home" })).toBe(
      "/home/c",
    );
    expect(resolveCacheDir(root, { flag: "/f", env: { TRIBUTARY_CACHE_DIR: "c" }, config: "x" })).toBe("/f");
  });
});

describe("sizes", () => {
  it("parses SI and IEC sizes", () => {
    expect(parseSize("2GB")).toBe(2_000_000_000);
    expect(parseSize("500MB")).toBe(500_000_000);
    expect(parseSize("500mb")).toBe(500_000_000);
    expect(parseSize("1.5GiB")).toBe(1.5 * 1024 ** 3);
    expect(parseSize("10 KiB")).toBe(10240);
    expect(parseSize("4096")).toBe(4096);
    expect(parseSize("3k")).toBe(3000);
    expect(parseSize("1TB")).toBe(1e12);
    for (const bad of ["", "GB", "2 GBs", "-1GB", "1e9", "two"])
      expect(() => parseSize(bad), bad).toThrow(/not a size/);
    expect(formatSize(1234)).toBe("1.2 kB");
    expect(formatSize(2_000_000_000)).toBe("2.0 GB");
    expect(formatSize(12)).toBe("12 B");
  });
});

describe("stats, gc, clean", () => {
  it("reports size, entries and the last run's hit rate", async () => {
    const root = join(dir, "p");
    await mkdir(root);
    await runWithCache(threeBig(), root);
    await rm(join(root, "out/y.bin"));
    await runWithCache(threeBig(), root);
    const s = await cacheStats(join(root, ".tributary/cache"));
    expect(s.entries).toBe(3);
    expect(s.blobs).toBe(3);
    expect(s.casBytes).toBe(150_000);
    expect(s.totalBytes).toBeGreaterThan(150_000);
    expect(s.lastRun).toMatchObject({ hits: 3, misses: 0, hitRate: 1, restoredFiles: 1, reusedFiles: 2 });

    const g = threeBig();
    g.steps[0] = sh("x", ["head -c 40000 /dev/zero > ", out("out/x.bin")]);
    await runWithCache(g, root);
    const s2 = await cacheStats(join(root, ".tributary/cache"));
    expect(s2.lastRun).toMatchObject({ hits: 2, misses: 1 });
    expect(s2.lastRun!.hitRate).toBeCloseTo(2 / 3);
    expect(s2.entries).toBe(4);
  });

  it("evicts least recently used entries first, counting hits as uses", async () => {
    const cacheDir = join(dir, "cache");
    const a = join(dir, "a");
    await mkdir(a);
    await runWithCache(threeBig(), a, { dir: cacheDir });
    const ac = join(cacheDir, "ac");
    const keyOf = async (id: string) => {
      const { explainLastRun } = await import("../../src/cache/index.js");
      return explainLastRun({ root: a, dir: cacheDir }, id).key!;
    };
    const keys = { x: await keyOf("x"), y: await keyOf("y"), z: await keyOf("z") };
    // Checkout a is gone: only ac/ remembers its entries (a project's index counts as a use too), aged
    // below.
    await rm(join(cacheDir, "state"), { recursive: true });
    const day = 24 * 3600 * 1000;
    for (const [id, age] of [
      ["x", 3],
      ["y", 2],
      ["z", 1],
    ] as const) {
      const t = new Date(Date.now() - age * day);
      await utimes(join(ac, keys[id]), t, t);
    }
    // Another checkout uses y: a hit, recorded as a use at flush.
    const b = join(dir, "b");
    await mkdir(b);
    const r = await runWithCache(threeBig(["y"]), b, { dir: cacheDir });
    expect(r.ran).toEqual([]);
    // Its entry is now the most recently used: newer than z's (used a day ago), which was the newest.
    const used = async (id: keyof typeof keys) => (await stat(join(ac, keys[id]))).mtimeMs;
    expect(await used("y")).toBeGreaterThan(await used("z"));
    // An orphan blob (a writer killed between blob and entry): old ones go, young ones stay.
    const orphanOld = digestBytes("old orphan");
    const orphanNew = digestBytes("new orphan");
    for (const [d, age] of [
      [orphanOld, day],
      [orphanNew, 0],
    ] as const) {
      await mkdir(join(cacheDir, "cas", d.slice(0, 2)), { recursive: true });
      const p = join(cacheDir, "cas", d.slice(0, 2), d);
      await writeFile(p, d === orphanOld ? "old orphan" : "new orphan");
      const t = new Date(Date.now() - age);
      await utimes(p, t, t);
    }

    const res = await gc(cacheDir, { maxBytes: 110_000 });
    expect(res.removedEntries).toBe(1);
    expect(res.removedBlobs).toBe(2); // x's output and the old orphan
    expect(res.remainingBytes).toBeLessThanOrEqual(110_000);
    expect((await readdir(ac)).sort()).toEqual([keys.y, keys.z].sort());
    const blobs = (await readdir(join(cacheDir, "cas"), { recursive: true })).filter((f) => f.length > 64);
    expect(blobs.some((f) => f.endsWith(orphanNew))).toBe(true);
    expect(blobs.some((f) => f.endsWith(orphanOld))).toBe(false);

    const res2 = await gc(cacheDir, { maxBytes: 60_000 });
    expect(res2.removedEntries).toBe(1);
    expect(await readdir(ac)).toEqual([keys.y]);

    // Evicted means a miss (never a wrong result) for a checkout without the outputs.
    const c = join(dir, "c");
    await mkdir(c);
    const r2 = await runWithCache(threeBig(), c, { dir: cacheDir });
    expect(r2.ran).toEqual(["x", "z"]);
    expect(r2.cached).toEqual(["y"]);
    expect((await readFile(join(c, "out/y.bin"), "utf8")).length).toBe(50_000);
  });

  it("cleans a cache directory, and refuses any other directory", async () => {
    const root = join(dir, "p");
    await mkdir(root);
    await runWithCache(threeBig(), root);
    const cacheDir = join(root, ".tributary/cache");
    const res = await clean(cacheDir);
    expect(res.freedBytes).toBeGreaterThan(150_000);
    const s = await cacheStats(cacheDir);
    expect(s).toMatchObject({ entries: 0, blobs: 0, totalBytes: 0 });
    expect(s.lastRun).toBeUndefined();
    expect((await readdir(cacheDir)).sort()).toEqual(["CACHEDIR.TAG"]);
    // The next run starts from nothing (the per-project index went too) and works.
    await rm(join(root, "out"), { recursive: true });
    const r = await runWithCache(threeBig(), root);
    expect(r.ran).toEqual(["x", "y", "z"]);

    const notACache = join(dir, "home");
    await mkdir(join(notACache, "ac"), { recursive: true });
    await writeFile(join(notACache, "ac", "precious.txt"), "keep me");
    await expect(clean(notACache)).rejects.toThrow(/not a tributary cache/);
    expect(await readFile(join(notACache, "ac", "precious.txt"), "utf8")).toBe("keep me");
    expect(await clean(join(dir, "does-not-exist"))).toEqual({ freedBytes: 0 });
  });
});
