import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, expect, it } from "vitest";
import {
  AtomicWriteError,
  moveIntoPlace,
  withTempFile,
  writeFileAtomic,
  writeFileAtomicSync,
} from "../../src/cache/atomic-write.js";
import { syncFsOps } from "../../src/cache/fs-ops.js";
import { tempDir } from "../helpers/procs.js";

const made: string[] = [];
const dir = (): string => {
  const d = tempDir("tributary-atomic-");
  made.push(d);
  return d;
};
afterAll(() => {
  for (const d of made) rmSync(d, { recursive: true, force: true });
});

it("writes the whole file with its mode, replaces an old one, and leaves no temp file", async () => {
  const d = dir();
  const file = join(d, "state.json");
  writeFileSync(file, "old");
  await writeFileAtomic(file, "new", { mode: 0o600 });
  expect(readFileSync(file, "utf8")).toBe("new");
  expect(statSync(file).mode & 0o777).toBe(0o600);
  writeFileAtomicSync(file, Buffer.from("newer"));
  expect(readFileSync(file, "utf8")).toBe("newer");
  expect(readdirSync(d)).toEqual(["state.json"]);
});

it("overwrite: false keeps an existing file (the first writer wins), in both I/O flavours", async () => {
  for (const io of [syncFsOps, undefined]) {
    const d = dir();
    const tmp = join(d, "tmp");
    const file = join(d, "ab", "entry");
    await writeFileAtomic(file, "first", { overwrite: false, tempDir: tmp, createDirs: true, io });
    await writeFileAtomic(file, "second", { overwrite: false, tempDir: tmp, createDirs: true, io });
    expect(readFileSync(file, "utf8")).toBe("first");
    expect(readdirSync(tmp)).toEqual([]);
  }
});

it("a failed write removes its temp file and names the destination, keeping the error code", async () => {
  const d = dir();
  // A directory where the file should go: the temp file is written, the rename fails.
  const taken = join(d, "taken");
  mkdirSync(taken);
  writeFileSync(join(taken, "inside"), "");
  const err = await writeFileAtomic(taken, "x").catch((e: unknown) => e);
  expect(err).toBeInstanceOf(AtomicWriteError);
  expect((err as AtomicWriteError).message).toMatch(new RegExp(`^cannot write ${taken}: E\\w+: `));
  expect((err as AtomicWriteError).code).toMatch(/^E(ISDIR|NOTEMPTY|EXIST)$/);
  expect(() => writeFileAtomicSync(taken, "x")).toThrow(`cannot write ${taken}: `);
  expect(readdirSync(d)).toEqual(["taken"]);

  // A missing directory fails (ENOENT, nothing left behind) unless asked to create it.
  const deep = join(d, "no", "such", "file");
  await expect(writeFileAtomic(deep, "x")).rejects.toMatchObject({
    code: "ENOENT",
    message: `cannot write ${deep}: ENOENT: no such file or directory`,
  });
  expect(() => writeFileAtomicSync(deep, "x")).toThrow(`cannot write ${deep}: ENOENT`);
  expect(readdirSync(d)).toEqual(["taken"]);
  await writeFileAtomic(deep, "x", { createDirs: true });
  expect(readFileSync(deep, "utf8")).toBe("x");
});

it("withTempFile removes what its filler left, also when it throws", async () => {
  const d = dir();
  const tmp = join(d, "partial");
  await expect(
    withTempFile(tmp, async (t) => {
      writeFileSync(t, "half");
      throw new Error("download failed");
    }),
  ).rejects.toThrow("download failed");
  expect(existsSync(tmp)).toBe(false);
  const placed = await withTempFile(join(d, "whole"), async (t) => {
    writeFileSync(t, "all");
    await moveIntoPlace(t, join(d, "out"));
    return "placed";
  });
  expect(placed).toBe("placed");
  expect(readdirSync(d)).toEqual(["out"]);
});

// The cache's tmp/ on one file system, the project on another: the file is copied beside the destination.
// Where /dev/shm is not a file system of its own, the first rename fails with EXDEV as it would across two.
const shm = "/dev/shm";
const crossDevice = existsSync(shm) && statSync(shm).dev !== statSync(tmpdir()).dev;
it(`moves a temp file from another file system into place (copy beside, then rename)${crossDevice ? "" : " (EXDEV simulated: /dev/shm is not separate here)"}`, async () => {
  const other = mkdtempSync(join(crossDevice ? shm : tmpdir(), "tributary-atomic-"));
  made.push(other);
  const d = dir();
  const exdev = (io: typeof syncFsOps): typeof syncFsOps => {
    if (crossDevice) return io;
    let first = true;
    return {
      ...io,
      rename: (from, to) => {
        if (first && from.startsWith(other)) {
          first = false;
          throw Object.assign(new Error("EXDEV: cross-device link not permitted"), { code: "EXDEV" });
        }
        return io.rename(from, to);
      },
    };
  };
  for (const io of [exdev(syncFsOps), crossDevice ? undefined : exdev(syncFsOps)]) {
    const tmp = join(other, "blob");
    writeFileSync(tmp, "content", { mode: 0o640 });
    await moveIntoPlace(tmp, join(d, "restored"), { io });
    expect(readFileSync(join(d, "restored"), "utf8")).toBe("content");
    expect(statSync(join(d, "restored")).mode & 0o777).toBe(0o640);
    expect(readdirSync(other)).toEqual([]);
    expect(readdirSync(d)).toEqual(["restored"]);
  }
});
