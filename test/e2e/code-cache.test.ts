import { spawnSync } from "node:child_process";
import {
  chmodSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { cli, REPO } from "../helpers/cli.js";
import { tempDir } from "../helpers/procs.js";

/**
 * The run bundle's code cache (src/project/compiled-code.ts): a start reuses V8's compiled code, and a
 * damaged, foreign or unsafe cache is never used, never fatal, and replaced once.
 */

/** A process step and a module step: loading a module is an import() from the bundle's code. */
function project(): string {
  const dir = tempDir();
  writeFileSync(join(dir, "m.mjs"), "export function Twice(x) {\n  return 2 * x;\n}\n");
  writeFileSync(
    join(dir, "pipeline.flow"),
    'use "./m.mjs"\na = sh("echo hi > ${output("a.txt")}")\nb = Twice(21)\nout a, b\n',
  );
  return dir;
}

/** One quick run (the run bundle's command line) with the cache under `cacheRoot`; it must succeed. */
async function quickRun(dir: string, cacheRoot: string, env: NodeJS.ProcessEnv = {}): Promise<void> {
  const r = await cli(["run", "--no-cache"], { cwd: dir, env: { NODE_COMPILE_CACHE: cacheRoot, ...env } });
  expect(r.code, r.stderr).toBe(0);
  expect(readFileSync(join(dir, "a.txt"), "utf8")).toBe("hi\n");
  expect(r.stdout).toContain("b: 42");
}

function cacheDir(cacheRoot: string): string {
  return join(cacheRoot, `tributary-code-cache-${process.getuid!()}`);
}

function entries(cacheRoot: string): string[] {
  const dir = cacheDir(cacheRoot);
  return existsSync(dir) ? readdirSync(dir).map((f) => join(dir, f)) : [];
}

/** What tells a rewritten file from the one that was there: its inode (written beside, then renamed). */
function identity(file: string): string {
  const st = statSync(file);
  return `${st.ino}:${st.size}`;
}

/** Loads `bundle` (a CommonJS file) the way the CLI loads its run bundle, in a process of its own. */
function loadCompiled(bundle: string, cacheRoot: string): void {
  const loader = join(REPO, "dist", "project", "compiled-code.js");
  const r = spawnSync(
    process.execPath,
    [
      "--input-type=module",
      "-e",
      `(await import(${JSON.stringify(loader)})).requireCompiled(process.argv[1])`,
      bundle,
    ],
    { env: { ...process.env, NODE_COMPILE_CACHE: cacheRoot }, encoding: "utf8" },
  );
  expect(r.status, r.stderr).toBe(0);
}

describe("the run bundle's code cache", () => {
  it("is written by the first start and read, not rewritten, by the next", async () => {
    const dir = project();
    const root = tempDir();
    await quickRun(dir, root);
    const [entry, ...more] = entries(root);
    expect(more).toEqual([]);
    expect(entry).toMatch(/run\.cjs-[0-9a-f]{8}\.v8$/);
    expect(readFileSync(entry!, "latin1")).toMatch(/^\/.*run\.cjs\0/);
    expect(statSync(entry!).mode & 0o777).toBe(0o600);
    const before = identity(entry!);
    await quickRun(dir, root);
    expect(identity(entry!)).toBe(before);
  });

  it("a truncated, damaged or foreign entry is a miss: the run is right and the entry written once more", async () => {
    const dir = project();
    const root = tempDir();
    await quickRun(dir, root);
    const [entry] = entries(root);
    const good = readFileSync(entry!);
    const damaged = Buffer.from(good);
    damaged[damaged.length - 100] = damaged[damaged.length - 100]! ^ 0xff; // V8's data: its length still fits
    const foreign = Buffer.concat([Buffer.from("/elsewhere/run.cjs\0"), good.subarray(good.indexOf(10) + 1)]);
    for (const bad of [good.subarray(0, good.length >> 1), damaged, foreign, Buffer.from("garbage")]) {
      writeFileSync(entry!, bad);
      const badOne = identity(entry!);
      await quickRun(dir, root);
      const rewritten = identity(entry!);
      expect(rewritten).not.toBe(badOne);
      expect(readFileSync(entry!).length).toBeGreaterThan(1000);
      // Rewritten once: the next start takes it as it is.
      await quickRun(dir, root);
      expect(identity(entry!)).toBe(rewritten);
    }
  });

  it("a directory others can write is not used, and NODE_DISABLE_COMPILE_CACHE=1 turns the cache off", async () => {
    const dir = project();
    const root = tempDir();
    await quickRun(dir, root);
    const [entry] = entries(root);
    rmSync(entry!);
    chmodSync(cacheDir(root), 0o777);
    await quickRun(dir, root);
    expect(entries(root)).toEqual([]);

    const off = tempDir();
    await quickRun(dir, off, { NODE_DISABLE_COMPILE_CACHE: "1" });
    expect(existsSync(cacheDir(off))).toBe(false);
  });

  it("a cache directory that cannot be made is no cache, never a hang or an error", async () => {
    const dir = project();
    // /proc answers ENOENT to mkdir (Node's recursive mkdir spins on that); a file where the
    // directory would be; a parent that does not exist.
    const file = tempDir();
    writeFileSync(cacheDir(file), "not a directory");
    for (const root of ["/proc/tributary-test", file, join(tempDir(), "missing", "deeper")]) {
      await quickRun(dir, root);
    }
    expect(readFileSync(cacheDir(file), "utf8")).toBe("not a directory");
  });

  it("an entry replaced by a rebuilt bundle is deleted; other installs' and other Node versions' are kept", () => {
    const root = tempDir();
    const installs = tempDir();
    const [mine, theirs] = ["a", "b"].map((d) => {
      mkdirSync(join(installs, d));
      const bundle = join(installs, d, "run.cjs");
      writeFileSync(bundle, "module.exports = function twice(x) {\n  return 2 * x;\n};\n");
      return bundle;
    });
    loadCompiled(mine!, root);
    loadCompiled(theirs!, root);
    expect(entries(root)).toHaveLength(2);
    // An entry of the same bundle made by another Node: its key names another version.
    const other = join(cacheDir(root), "run.cjs-00000000.v8");
    writeFileSync(
      other,
      `${mine}\0${statSync(mine!).size}\0${statSync(mine!).mtimeMs}\0v0.0.1\0${process.arch}\nDATA`,
    );
    const keyed = (bundle: string) =>
      entries(root).find((e) => e !== other && readFileSync(e, "latin1").startsWith(`${bundle}\0`))!;
    const [replaced, kept] = [keyed(mine!), keyed(theirs!)];

    writeFileSync(mine!, "module.exports = function thrice(x) {\n  return 3 * x;\n};\n"); // rebuilt in place
    loadCompiled(mine!, root);
    const after = entries(root);
    expect(after).toHaveLength(3);
    expect(after).toContain(other);
    expect(after).toContain(keyed(mine!));
    expect(after).not.toContain(replaced);
    expect(after).toContain(kept);
  });
});
