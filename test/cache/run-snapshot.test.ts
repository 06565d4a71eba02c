import { mkdirSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import {
  checkSnapshot,
  dropSnapshot,
  lastNoOpRun,
  markNoOpRun,
  writeSnapshot,
  type SnapshotGuard,
  type SnapshotKey,
} from "../../src/cache/run-snapshot.js";
import { tempDir } from "./helpers.js";

let root: string;
let cleanup: () => Promise<void>;
let state: string;
beforeEach(async () => {
  ({ dir: root, cleanup } = await tempDir());
  state = join(root, ".tributary");
  mkdirSync(state);
  mkdirSync(join(root, "out"));
  writeFileSync(join(root, "in.txt"), "one\n");
  writeFileSync(join(root, "out/a.txt"), "A\n");
});
afterEach(async () => {
  await cleanup();
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const FLOW = 'a = sh("cat ${file("in.txt")} > ${output("out/a.txt")}")\nout a\n';
const key = (over: Partial<SnapshotKey> = {}): SnapshotKey => ({
  flow: Buffer.from(FLOW),
  inputs: { x: "1" },
  version: "1.0.0",
  ...over,
});
const scope = { files: ["in.txt", "out/a.txt"], env: ["GREETING"] };
const outputs = { a: { $file: "out/a.txt", digest: "d" } };

/** A record of the files as they are, written once they are past the racy window. */
async function record(): Promise<void> {
  await sleep(20);
  expect(writeSnapshot(state, root, key(), scope, ["a"], outputs, { GREETING: "hi" }, trustAll())).toBe(true);
}
/** A guard as a run's cache gives it when it hashed every file as it is now. */
const trustAll = (): SnapshotGuard => ({ statsFrom: Date.now(), confirms: () => true });
const check = (k = key(), env: NodeJS.ProcessEnv = { GREETING: "hi" }) => checkSnapshot(state, root, k, env);

describe("run snapshot", () => {
  it("answers an unchanged run with its steps and outputs", async () => {
    await record();
    expect(check()).toEqual({ steps: ["a"], outputs });
    markNoOpRun(state);
    expect(lastNoOpRun(state)?.steps).toEqual(["a"]);
  });

  it("misses on another flow text of the same length, inputs, env or version", async () => {
    await record();
    expect(check(key({ flow: Buffer.from(FLOW.replace("cat", "tac")) }))).toBeUndefined();
    expect(check(key({ inputs: { x: "2" } }))).toBeUndefined();
    expect(check(key({ inputs: {} }))).toBeUndefined();
    expect(check(key({ version: "1.0.1" }))).toBeUndefined();
    expect(check(key(), { GREETING: "hello" })).toBeUndefined();
    expect(check(key(), {})).toBeUndefined();
  });

  it("misses when a file changed, even with its size and mtime put back", async () => {
    await record();
    const f = join(root, "in.txt");
    const { mtime } = statSync(f);
    writeFileSync(f, "two\n");
    utimesSync(f, mtime, mtime);
    // Same size and mtime: the ctime (and the racy rule) still tell.
    expect(check()).toBeUndefined();
  });

  it("is not written when a file's content is not what the run hashed, or its clock is later", async () => {
    await sleep(20);
    const write = (guard: SnapshotGuard) =>
      writeSnapshot(state, root, key(), scope, ["a"], outputs, { GREETING: "hi" }, guard);
    const changed = { ...trustAll(), confirms: (abs: string) => !abs.endsWith("in.txt") };
    expect(write(changed)).toBe(false);
    expect(check()).toBeUndefined();
    // A file-system clock behind the files' time stamps: every file counts as racy.
    expect(write({ statsFrom: 0, confirms: () => true })).toBe(true);
    expect(check()).toBeUndefined();
  });

  it("misses when a file is gone", async () => {
    await record();
    rmSync(join(root, "out/a.txt"));
    expect(check()).toBeUndefined();
  });

  it("does not trust a file stamped at or after the time its stat was taken", async () => {
    // A clock ahead of ours (a file server's, say) gives such a stamp; so can a write within the tick
    // of the stat, with the same size: the racy-clean rule sends both the normal way.
    const later = new Date(Date.now() + 60_000);
    utimesSync(join(root, "in.txt"), later, later);
    await record();
    expect(check()).toBeUndefined();
  });

  it("checks the same from another working directory", async () => {
    await record();
    const cwd = process.cwd();
    try {
      process.chdir(root);
      expect(check()).toBeDefined();
      process.chdir(join(root, "out"));
      expect(check()).toBeDefined();
      writeFileSync(join(root, "out/a.txt"), "B\n");
      expect(check()).toBeUndefined();
    } finally {
      process.chdir(cwd);
    }
  });

  it("misses on a damaged or dropped record, without throwing", async () => {
    await record();
    const path = join(state, "snapshot.bin");
    const bytes = readFileSync(path);
    writeFileSync(path, bytes.subarray(0, bytes.length - 1));
    expect(check()).toBeUndefined();
    writeFileSync(path, Buffer.concat([bytes, Buffer.from("x")]));
    expect(check()).toBeUndefined();
    writeFileSync(path, "not a record");
    expect(check()).toBeUndefined();
    writeFileSync(path, bytes);
    expect(check()).toBeDefined();
    dropSnapshot(state);
    expect(check()).toBeUndefined();
  });
});
