import { appendFile, readFile } from "node:fs/promises";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { IndexLog } from "../../src/cache/index-log.js";
import { digestBytes } from "../../src/cache/index.js";
import { tempDir } from "./helpers.js";

let dir: string;
let cleanup: () => Promise<void>;
beforeEach(async () => {
  ({ dir, cleanup } = await tempDir());
});
afterEach(async () => {
  await cleanup();
});

const key = (name: string) => digestBytes(name);
const save = (log: IndexLog, name: string) => {
  log.add(key(name), name, `{"format":1,"outputs":[],"value":"${name}"}`, Date.now());
  log.writePending();
};
const knows = (log: IndexLog, names: string[]) => names.filter((n) => log.get(key(n)) !== undefined);

describe("the index of one project, written by two processes at once", () => {
  it("each reads what the other appended, whatever the order of their blocks", () => {
    const file = join(dir, "state", "index.log");
    const a = IndexLog.load(file, () => {});
    const b = IndexLog.load(file, () => {});
    expect(b.refresh()).toBe(false); // no file yet
    save(a, "one");
    save(a, "again");
    expect(a.refresh()).toBe(false); // its own blocks: known without reading them back
    expect(knows(b, ["one"])).toEqual([]);
    expect(b.refresh()).toBe(true);
    expect(knows(b, ["one"])).toEqual(["one"]);
    expect(b.refresh()).toBe(false); // nothing new: one stat

    save(b, "two");
    save(a, "three");
    save(b, "four");
    expect(a.refresh()).toBe(true);
    expect(b.refresh()).toBe(true);
    for (const log of [a, b]) expect(knows(log, ["one", "two", "three", "four"])).toHaveLength(4);
    expect(a.refresh()).toBe(false);
    expect(b.refresh()).toBe(false);
    a.close();
    b.close();
  });

  it("leaves a block still being written for later, and reads a file another process rewrote whole", async () => {
    const file = join(dir, "index.log");
    const a = IndexLog.load(file, () => {});
    const b = IndexLog.load(file, () => {});
    save(b, "zero"); // b's descriptor is open on this file from now on
    save(a, "one");
    save(a, "two");
    // Half a block: a record without its trailer yet.
    await appendFile(file, `P\t${key("half")}\t1\thalf\t{}\n`);
    expect(b.refresh()).toBe(true);
    expect(knows(b, ["zero", "one", "two", "half"])).toEqual(["zero", "one", "two"]);
    // Not counted as a torn write (which would make the next flush compact the file).
    expect(await b.compactIfNeeded(0)).toBe(false);

    // a evicts "one" (gc): the file at the name is a new one, which b reads whole.
    expect(await a.drop(new Set([key("one")]))).toBe(true);
    expect(b.refresh()).toBe(true);
    // b reads it whole; what it held stays (a valid entry all the same).
    expect(knows(b, ["zero", "one", "two"])).toEqual(["zero", "one", "two"]);
    expect(await readFile(file, "utf8")).not.toContain("\tone\t");
    // b's descriptor is the old file: its next block goes to the new one, where a sees it.
    save(b, "three");
    expect(await readFile(file, "utf8")).toContain("\tthree\t");
    expect(a.refresh()).toBe(true);
    expect(knows(a, ["zero", "two", "three"])).toEqual(["zero", "two", "three"]);
    expect(a.refresh()).toBe(false);
    a.close();
    b.close();
  });
});
