/**
 * The shared-directory store (an NFS-style directory several machines mount) under concurrent writer
 * processes: never a partial entry visible, first writer wins for action entries, every blob intact.
 */
import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, expect, it } from "vitest";
import { digestBytes } from "../../src/graph/digest.js";
import { decodeAcEntry } from "../../src/cache/manifest.js";
import { SharedDirStore } from "../../src/cache/stores/shared-dir.js";
import { cli, REPO } from "../helpers/cli.js";
import { tempDir } from "../helpers/procs.js";

const here = dirname(fileURLToPath(import.meta.url));
const dirs: string[] = [];
const scratch = (prefix: string) => {
  const d = tempDir(prefix);
  dirs.push(d);
  return d;
};
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function writer(
  dir: string,
  tag: string,
  n: number,
): Promise<{ code: number | null; out: string; err: string }> {
  return new Promise((resolve) => {
    const child = spawn(
      process.execPath,
      ["--import", "tsx", join(here, "fixtures", "shared-writer.ts"), dir, tag, String(n)],
      { cwd: REPO, stdio: ["ignore", "pipe", "pipe"] },
    );
    let out = "";
    let err = "";
    child.stdout.on("data", (b: Buffer) => (out += b));
    child.stderr.on("data", (b: Buffer) => (err += b));
    child.on("close", (code) => resolve({ code, out, err }));
  });
}

const sha = (b: Buffer) => createHash("sha256").update(b).digest("hex");

it("two writer processes at once: whole entries only, first writer wins, every blob intact", async () => {
  const dir = scratch("tributary-rc-shared-");
  const N = 150;
  const reader = new SharedDirStore(dir);
  const writers = Promise.all([writer(dir, "A", N), writer(dir, "B", N)]);
  // Read while they write: an entry is absent or whole, never partial.
  let done = false;
  void writers.finally(() => (done = true));
  let seen = 0;
  while (!done) {
    for (let i = 0; i < N; i += 7) {
      const data = await reader.get("ac", digestBytes(`key ${i}`));
      if (!data) continue;
      seen++;
      const d = decodeAcEntry(data);
      expect("json" in d, `entry ${i} read while being written`).toBe(true);
    }
  }
  const [a, b] = await writers;
  expect(a.code, a.err).toBe(0);
  expect(b.code, b.err).toBe(0);
  expect(seen).toBeGreaterThan(0);

  const ac = readdirSync(join(dir, "ac"));
  expect(ac).toHaveLength(N);
  const winners = { A: 0, B: 0 };
  for (const key of ac) {
    const d = decodeAcEntry(readFileSync(join(dir, "ac", key)));
    if (!("json" in d)) throw new Error(`damaged entry ${key}: ${d.error}`);
    const value = JSON.parse(d.json).value as string;
    const tag = value[0] as "A" | "B";
    expect(value).toMatch(/^(A|B):\d+:/);
    expect(value.slice(value.indexOf(":", 2) + 1)).toBe(tag.repeat(12_000));
    winners[tag]++;
  }
  expect(winners.A + winners.B).toBe(N);

  let blobs = 0;
  for (const sub of readdirSync(join(dir, "cas"))) {
    for (const name of readdirSync(join(dir, "cas", sub))) {
      expect(sha(readFileSync(join(dir, "cas", sub, name))), name).toBe(name);
      blobs++;
    }
  }
  expect(blobs).toBe(3 * N); // N shared + N of each writer's own
  for (const w of [a, b]) {
    const { own } = JSON.parse(w.out) as { own: string[] };
    expect(own).toHaveLength(N);
  }
  expect(readdirSync(join(dir, "tmp"))).toEqual([]);
});

it("two projects filling one shared directory at once through the CLI; a third restores everything", async () => {
  const shared = scratch("tributary-rc-nfs-");
  const lines: string[] = [];
  for (let i = 0; i < 12; i++) {
    lines.push(`s${i} = sh("printf 'step ${i}\\\\n' > \${output("out/s${i}.txt")}")`);
  }
  lines.push(
    `all = sh("cat ${Array.from({ length: 12 }, (_, i) => `\${s${i}}`).join(" ")} > \${output("out/all.txt")}")`,
  );
  lines.push("out all");
  const project = () => {
    const root = scratch("tributary-rc-proj-");
    writeFileSync(join(root, "pipeline.flow"), lines.join("\n") + "\n");
    return root;
  };
  const [p1, p2, p3] = [project(), project(), project()];
  const [r1, r2] = await Promise.all([
    cli(["run", "--remote-cache", shared], { cwd: p1 }),
    cli(["run", "--remote-cache", shared], { cwd: p2 }),
  ]);
  expect(r1.code, r1.stderr).toBe(0);
  expect(r2.code, r2.stderr).toBe(0);
  expect(r1.stderr + r2.stderr).not.toMatch(/warning/);
  expect(readdirSync(join(shared, "ac"))).toHaveLength(13);
  const r3 = await cli(["run"], { cwd: p3, env: { TRIBUTARY_REMOTE_CACHE: shared } });
  expect(r3.code, r3.stderr).toBe(0);
  expect(r3.stderr).toMatch(/0 ok · 13 cached/);
  expect(readFileSync(join(p3, "out/all.txt"), "utf8")).toBe(
    Array.from({ length: 12 }, (_, i) => `step ${i}\n`).join(""),
  );
});
