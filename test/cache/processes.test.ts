import { spawn, type ChildProcess } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdir, readdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { Graph } from "../../src/graph/ir.js";
import { file, out, ref, runWithCache, sh, tempDir } from "./helpers.js";

const REPO = fileURLToPath(new URL("../..", import.meta.url));
const CHILD = join(REPO, "test/cache/fixtures/run-graph.ts");

let dir: string;
let cleanup: () => Promise<void>;
beforeEach(async () => {
  ({ dir, cleanup } = await tempDir());
});
afterEach(async () => {
  await cleanup();
});

interface Child {
  proc: ChildProcess;
  lines: Record<string, unknown>[];
  exited: Promise<number | null>;
  /** Resolves when `test(lines)` first holds. */
  until(test: (lines: Record<string, unknown>[]) => boolean): Promise<void>;
}

function startChild(root: string, cacheDir: string, graphFile: string, concurrency = 2): Child {
  const proc = spawn(
    process.execPath,
    ["--import", "tsx", CHILD, root, cacheDir, graphFile, String(concurrency)],
    {
      cwd: REPO,
      stdio: ["ignore", "pipe", "pipe"],
    },
  );
  const lines: Record<string, unknown>[] = [];
  const waiters: { test: (l: Record<string, unknown>[]) => boolean; resolve: () => void }[] = [];
  let buf = "";
  let stderr = "";
  proc.stdout!.on("data", (chunk: Buffer) => {
    buf += chunk.toString();
    let nl: number;
    while ((nl = buf.indexOf("\n")) >= 0) {
      lines.push(JSON.parse(buf.slice(0, nl)) as Record<string, unknown>);
      buf = buf.slice(nl + 1);
    }
    for (const w of [...waiters]) {
      if (w.test(lines)) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve();
      }
    }
  });
  proc.stderr!.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<number | null>((res) =>
    proc.on("exit", (code) => {
      if (code !== 0 && code !== null) console.error(stderr);
      for (const w of waiters) w.resolve(); // let waiters see the end (their test will fail)
      res(code);
    }),
  );
  return {
    proc,
    lines,
    exited,
    until: (test) =>
      new Promise<void>((res) => {
        if (test(lines)) res();
        else waiters.push({ test, resolve: res });
      }),
  };
}

const doneIds = (lines: Record<string, unknown>[]) =>
  lines.filter((l) => "done" in l).map((l) => l.done as string);

/** Every action-cache entry decodes and every blob hashes to its name: nothing partial is visible. */
async function expectStoreIntact(cacheDir: string): Promise<void> {
  const { decodeAcEntry, parseManifest } = await import("../../src/cache/manifest.js");
  for (const name of await readdir(join(cacheDir, "ac"))) {
    const d = decodeAcEntry(await readFile(join(cacheDir, "ac", name)));
    expect(d, `ac/${name}`).toHaveProperty("json");
    parseManifest((d as { json: string }).json);
  }
  for (const shard of await readdir(join(cacheDir, "cas"))) {
    for (const name of await readdir(join(cacheDir, "cas", shard))) {
      const data = await readFile(join(cacheDir, "cas", shard, name));
      expect(createHash("sha256").update(data).digest("hex"), `cas/${name}`).toBe(name);
    }
  }
}

/** 3 layers × `width`: sources → upper → pair of uppers → checksum. */
function layeredGraph(width: number): Graph {
  const steps = [];
  for (let i = 0; i < width; i++) {
    steps.push(
      sh(`up${i}`, [
        "sleep 0.0$((RANDOM % 5)); tr a-z A-Z < ",
        file(`src/${i}.txt`),
        " > ",
        out(`out/up${i}.txt`),
      ]),
    );
  }
  for (let i = 0; i < width; i++) {
    steps.push(
      sh(`pair${i}`, [
        "cat ",
        ref(`up${i}`),
        " ",
        ref(`up${(i + 1) % width}`),
        " > ",
        out(`out/pair${i}.txt`),
      ]),
    );
  }
  for (let i = 0; i < width; i++) {
    steps.push(sh(`sum${i}`, ["cksum < ", ref(`pair${i}`), " > ", out(`out/sum${i}.txt`)]));
  }
  return { steps };
}

async function project(root: string, width: number): Promise<void> {
  await mkdir(join(root, "src"), { recursive: true });
  for (let i = 0; i < width; i++) await writeFile(join(root, `src/${i}.txt`), `source number ${i}\n`);
}

describe("several processes, crashes", () => {
  it("two processes filling the same cache at once both finish right, and leave it intact", async () => {
    const width = 12;
    const cacheDir = join(dir, "shared-cache");
    const graphFile = join(dir, "graph.json");
    await writeFile(graphFile, JSON.stringify(layeredGraph(width)));
    const roots = [join(dir, "p1"), join(dir, "p2")];
    for (const r of roots) await project(r, width);

    const children = roots.map((r) => startChild(r, cacheDir, graphFile, 3));
    const codes = await Promise.all(children.map((c) => c.exited));
    expect(codes).toEqual([0, 0]);
    for (const c of children) {
      expect(c.lines.at(-1)).toEqual({ finished: true, ok: true });
      expect(c.lines.filter((l) => "warning" in l)).toEqual([]);
      expect(doneIds(c.lines)).toHaveLength(3 * width);
    }
    for (const r of roots) {
      for (let i = 0; i < width; i++) {
        const up = (k: number) => `SOURCE NUMBER ${k}\n`;
        expect(await readFile(join(r, `out/pair${i}.txt`), "utf8")).toBe(up(i) + up((i + 1) % width));
      }
    }
    await expectStoreIntact(cacheDir);
    expect(await readdir(join(cacheDir, "ac"))).toHaveLength(3 * width);

    // A third checkout gets everything from the cache.
    const third = join(dir, "p3");
    await project(third, width);
    const r = await runWithCache(layeredGraph(width), third, { dir: cacheDir });
    expect(r.ran).toEqual([]);
    expect(r.cache.counters.restoredFiles).toBe(3 * width);
    expect(await readFile(join(third, "out/sum3.txt"), "utf8")).toBe(
      await readFile(join(roots[0]!, "out/sum3.txt"), "utf8"),
    );
  });

  it("after kill -9 at any point, the next run reuses every step that finished", async () => {
    const n = 16;
    const steps = Array.from({ length: n }, (_, i) =>
      sh(`s${i}`, [`sleep 0.15; echo ${i} > `, out(`out/${i}.txt`)]),
    );
    steps.push(sh("all", ["cat ", ...steps.flatMap((s) => [ref(s.id), " "]), "> ", out("out/all.txt")]));
    const graph: Graph = { steps };
    const graphFile = join(dir, "graph.json");
    await writeFile(graphFile, JSON.stringify(graph));
    const root = join(dir, "p");
    await mkdir(root);
    const cacheDir = join(dir, "cache");

    const finished = new Set<string>();
    for (const fresh of [2, 5]) {
      const child = startChild(root, cacheDir, graphFile, 2);
      const isNew = (id: string) => !finished.has(id);
      await child.until(
        (lines) => doneIds(lines).filter(isNew).length >= fresh || lines.some((l) => "finished" in l),
      );
      child.proc.kill("SIGKILL");
      await child.exited;
      expect(child.lines.some((l) => "finished" in l)).toBe(false);
      const now = doneIds(child.lines).filter(isNew);
      expect(now.length).toBeGreaterThanOrEqual(fresh);
      // Whatever finished before is reused by the next process.
      expect(
        child.lines.filter((l) => "done" in l && finished.has(l.done as string)).every((l) => l.cached),
      ).toBe(true);
      for (const id of now) finished.add(id);
      await expectStoreIntact(cacheDir);
    }

    const r = await runWithCache(graph, root, { dir: cacheDir });
    for (const id of finished) expect(r.cached, id).toContain(id);
    expect(r.warnings).toEqual([]);
    // A step may also have finished (and been saved) in the instant before a kill, unseen by this test:
    // then it is reused too. Nothing that finished ever runs again.
    expect(r.ran.length).toBeLessThanOrEqual(n + 1 - finished.size);
    expect(r.ran.length + r.cached.length).toBe(n + 1);
    expect((await readFile(join(root, "out/all.txt"), "utf8")).split(/\s+/).filter(Boolean)).toEqual(
      Array.from({ length: n }, (_, i) => String(i)),
    );
    // The killed processes' temp files are swept once their pid is gone.
    const tmp = await readdir(join(cacheDir, "tmp"));
    expect(tmp.filter((f) => !f.includes(`~${process.pid}~`))).toEqual([]);
  });
});
