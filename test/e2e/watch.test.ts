/**
 * `tributary run --watch` as a user runs it: a real process on a real project, changed by writing files.
 * Each wait polls for what the process prints (a generous hang guard, never a measured time).
 */
import { spawn, type ChildProcess } from "node:child_process";
import { appendFileSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { BIN, jsonEvents, ranAndCached, type JsonEvent } from "../helpers/cli.js";
import { eventually, tempDir } from "../helpers/procs.js";

interface Watching {
  child: ChildProcess;
  stdout: () => string;
  stderr: () => string;
  exit: Promise<number | null>;
}

const started: ChildProcess[] = [];
afterEach(() => {
  for (const c of started.splice(0)) if (c.exitCode === null && c.signalCode === null) c.kill("SIGKILL");
});

function startWatch(dir: string, args: string[]): Watching {
  const child = spawn(process.execPath, [BIN, "run", "--watch", ...args], {
    cwd: dir,
    env: { ...process.env, CI: "1", NO_COLOR: "1" },
    stdio: ["ignore", "pipe", "pipe"],
  });
  started.push(child);
  let out = "";
  let err = "";
  child.stdout!.on("data", (b: Buffer) => (out += b));
  child.stderr!.on("data", (b: Buffer) => (err += b));
  const exit = new Promise<number | null>((r) => child.on("close", (code) => r(code)));
  return { child, stdout: () => out, stderr: () => err, exit };
}

/** The events of each run so far: the JSON lines up to each `watching` line. */
function runs(stdout: string): JsonEvent[][] {
  const all: JsonEvent[][] = [[]];
  for (const e of jsonEvents(stdout)) {
    if (e.type === "watching") all.push([]);
    else all[all.length - 1]!.push(e);
  }
  return all.slice(0, -1);
}

const WAIT = 120_000;

describe("run --watch", () => {
  it("reruns only what a change affects, sees new files of a glob, survives a broken flow, stops on Ctrl-C", async () => {
    const dir = tempDir();
    mkdirSync(join(dir, "src"));
    writeFileSync(join(dir, "a.txt"), "one\n");
    writeFileSync(join(dir, "b.txt"), "b\n");
    writeFileSync(join(dir, "src", "x.c"), "x\n");
    const flow = [
      'a = sh("cat ${file("a.txt")} > ${output("out/a.txt")}")',
      'b = sh("cat ${file("b.txt")} > ${output("out/b.txt")}")',
      'c = sh("cat ${glob("src/*.c")} > ${output("out/c.txt")}")',
      "out a, b, c",
      "",
    ].join("\n");
    writeFileSync(join(dir, "pipeline.flow"), flow);
    const w = startWatch(dir, ["--json"]);
    const after = (n: number) => eventually(() => runs(w.stdout()).length >= n, WAIT);

    // The first run: everything runs.
    expect(await after(1)).toBe(true);
    expect(ranAndCached(runs(w.stdout())[0]!)).toEqual({ ran: ["a", "b", "c"], cached: [] });

    // A changed input: only its step runs, the others are cache hits.
    writeFileSync(join(dir, "a.txt"), "two\n");
    expect(await after(2)).toBe(true);
    const second = runs(w.stdout())[1]!;
    expect(second[0]).toMatchObject({ type: "watch-rerun", changed: ["a.txt"] });
    expect(ranAndCached(second)).toEqual({ ran: ["a"], cached: ["b", "c"] });
    expect(readFileSync(join(dir, "out", "a.txt"), "utf8")).toBe("two\n");

    // A new file in a glob's directory that the glob does not match causes nothing; one it matches does.
    writeFileSync(join(dir, "src", "notes.md"), "not a source\n");
    writeFileSync(join(dir, "src", "y.c"), "y\n");
    expect(await after(3)).toBe(true);
    const third = runs(w.stdout())[2]!;
    expect(third[0]).toMatchObject({ type: "watch-rerun", changed: ["src/y.c"] });
    expect(ranAndCached(third)).toEqual({ ran: ["c"], cached: ["a", "b"] });
    expect(readFileSync(join(dir, "out", "c.txt"), "utf8")).toBe("x\ny\n");

    // A flow that stops compiling: its diagnostics, and the watch goes on.
    appendFileSync(join(dir, "pipeline.flow"), "broken = (\n");
    expect(await after(4)).toBe(true);
    expect(w.stderr()).toContain('pipeline.flow:5:10: error: "(" is never closed');
    expect(w.stderr()).toContain("1 error in pipeline.flow");
    expect(w.child.exitCode).toBeNull();

    // Fixed again: it runs, and nothing changed for any step.
    writeFileSync(join(dir, "pipeline.flow"), flow);
    expect(await after(5)).toBe(true);
    expect(ranAndCached(runs(w.stdout())[4]!)).toEqual({ ran: [], cached: ["a", "b", "c"] });

    w.child.kill("SIGINT");
    expect(await w.exit).toBe(130);
    expect(w.stderr()).not.toMatch(/internal error|\n\s+at /);
  });

  it("shows each rerun under a separator with the time and what changed", async () => {
    const dir = tempDir();
    writeFileSync(join(dir, "in.txt"), "1\n");
    writeFileSync(
      join(dir, "pipeline.flow"),
      'copy = sh("cat ${file("in.txt")} > ${output("out/copy.txt")}")\n',
    );
    const w = startWatch(dir, []);
    const watching = (n: number) =>
      eventually(
        () => (w.stderr().match(/^watching 2 files for changes \(Ctrl-C to stop\)$/gm) ?? []).length >= n,
        WAIT,
      );
    expect(await watching(1)).toBe(true);
    writeFileSync(join(dir, "in.txt"), "2\n");
    expect(await watching(2)).toBe(true);
    expect(w.stderr()).toMatch(/\n── \d\d:\d\d:\d\d: in\.txt changed ──\n/);
    expect(w.stderr().match(/✓ done/g)).toHaveLength(2);
    w.child.kill("SIGTERM");
    expect(await w.exit).toBe(130);
  });

  it("restarts when a module or a file it imports changes, and runs the new code", async () => {
    const dir = tempDir();
    writeFileSync(join(dir, "words.ts"), 'export const suffix = "!";\n');
    writeFileSync(
      join(dir, "m.ts"),
      'import { suffix } from "./words.js";\nexport function Shout(s: string) { return s.toUpperCase() + suffix; }\n',
    );
    writeFileSync(join(dir, "pipeline.flow"), 'use "./m.ts"\nx = Shout("hi")\nout x\n');
    const w = startWatch(dir, ["--json"]);
    const after = (n: number) => eventually(() => runs(w.stdout()).length >= n, WAIT);
    const value = (n: number) => runs(w.stdout())[n]!.find((e) => e.type === "run-end")?.outputs?.x;
    expect(await after(1)).toBe(true);
    expect(value(0)).toBe("HI!");
    writeFileSync(join(dir, "words.ts"), 'export const suffix = "?";\n');
    expect(await after(2)).toBe(true);
    // Node keeps what it imported: the watch goes on in a new process, which imports the new code.
    expect(jsonEvents(w.stdout())).toContainEqual({ v: 1, type: "watch-restart", changed: ["words.ts"] });
    expect(value(1)).toBe("HI?");
    // And again from there.
    writeFileSync(join(dir, "m.ts"), 'export function Shout(s: string) { return s + "."; }\n');
    expect(await after(3)).toBe(true);
    expect(value(2)).toBe("hi.");
    w.child.kill("SIGINT");
    expect(await w.exit).toBe(130);
  });

  it("waits for a missing input and an empty glob to be fixed by creating the files", async () => {
    const dir = tempDir();
    writeFileSync(
      join(dir, "pipeline.flow"),
      'n = sh("cat ${file("data.txt")} ${glob("lib/*.c")} > ${output("out/all.txt")}")\nout n\n',
    );
    const w = startWatch(dir, ["--json"]);
    expect(await eventually(() => jsonEvents(w.stdout()).some((e) => e.type === "watching"), WAIT)).toBe(
      true,
    );
    expect(w.stderr()).toContain("input file not found: data.txt");
    expect(w.stderr()).toContain('glob("lib/*.c") matches no file');
    writeFileSync(join(dir, "data.txt"), "data\n");
    // Still one error: the glob.
    expect(await eventually(() => runs(w.stdout()).length >= 2, WAIT)).toBe(true);
    expect(w.stderr().match(/1 error in pipeline\.flow/g)).toHaveLength(1);
    mkdirSync(join(dir, "lib"));
    writeFileSync(join(dir, "lib", "a.c"), "a\n");
    expect(await eventually(() => runs(w.stdout()).length >= 3, WAIT)).toBe(true);
    expect(ranAndCached(runs(w.stdout())[2]!)).toEqual({ ran: ["n"], cached: [] });
    expect(readFileSync(join(dir, "out", "all.txt"), "utf8")).toBe("data\na\n");
    w.child.kill("SIGINT");
    expect(await w.exit).toBe(130);
  });

  it("waits for an input whose directories do not exist yet, and runs once it is created", async () => {
    // chokidar never reports a path that was missing when it was given: the watcher watches the nearest
    // directory that exists instead, and looks into the directories on the way. Without either, this run
    // waited forever.
    const dir = tempDir();
    writeFileSync(
      join(dir, "pipeline.flow"),
      'n = sh("cat ${file("in/deep/data.txt")} > ${output("out/all.txt")}")\nout n\n',
    );
    const w = startWatch(dir, ["--json"]);
    expect(await eventually(() => runs(w.stdout()).length >= 1, WAIT)).toBe(true);
    expect(w.stderr()).toContain("input file not found: in/deep/data.txt");
    mkdirSync(join(dir, "in", "deep"), { recursive: true });
    writeFileSync(join(dir, "in", "deep", "data.txt"), "data\n");
    expect(await eventually(() => runs(w.stdout()).length >= 2, WAIT)).toBe(true);
    expect(ranAndCached(runs(w.stdout())[1]!)).toEqual({ ran: ["n"], cached: [] });
    expect(readFileSync(join(dir, "out", "all.txt"), "utf8")).toBe("data\n");
    w.child.kill("SIGINT");
    expect(await w.exit).toBe(130);
  });
});
