import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { cli, jsonEvents } from "../helpers/cli.js";
import { tempDir } from "../helpers/procs.js";

function project(): string {
  const dir = tempDir();
  mkdirSync(join(dir, "src"));
  writeFileSync(join(dir, "src/a.txt"), "hello\n");
  writeFileSync(join(dir, "src/extra.txt"), "one\n");
  return dir;
}

/** A command that counts its runs in ran.log, and upper-cases src/a.txt into build/A.txt. */
const UPPER = [
  "sh",
  "-c",
  'echo ran >> ran.log; mkdir -p build; tr a-z A-Z < "$0" > "$1"',
  "src/a.txt",
  "build/A.txt",
];
const exec = (dir: string, args: string[]) => cli(["exec", ...args], { cwd: dir });
const runs = (dir: string) => readFileSync(join(dir, "ran.log"), "utf8").split("\n").filter(Boolean).length;

describe("tributary exec: one command under the cache", () => {
  it("runs, then restores its outputs while its inputs are unchanged, and runs again when one changes", async () => {
    const dir = project();
    const args = ["-v", "--in", "src/a.txt", "--in", "src/extra.txt", "--out", "build/A.txt", "--", ...UPPER];
    const first = await exec(dir, args);
    expect(first.code, first.stderr).toBe(0);
    expect(first.stderr).toContain("tributary exec: ran, stored in the cache");
    rmSync(join(dir, "build"), { recursive: true });
    const hit = await exec(dir, args);
    expect(hit.code, hit.stderr).toBe(0);
    expect(hit.stderr).toContain("restored from the cache");
    expect(readFileSync(join(dir, "build/A.txt"), "utf8")).toBe("HELLO\n");
    expect(runs(dir)).toBe(1);
    // An input that is not on the command line (a header, say) is in the key too.
    writeFileSync(join(dir, "src/extra.txt"), "two\n");
    expect((await exec(dir, args)).stderr).toContain("ran, stored");
    expect(runs(dir)).toBe(2);
  });

  it("shares entries with the equivalent flow step, both ways", async () => {
    const dir = project();
    writeFileSync(
      join(dir, "pipeline.flow"),
      'c = exec("cp", file("src/a.txt"), output("build/copy.txt"))\n',
    );
    const args = [
      "-v",
      "--in",
      "src/a.txt",
      "--out",
      "build/copy.txt",
      "--",
      "cp",
      "src/a.txt",
      "build/copy.txt",
    ];
    const run = await cli(["run"], { cwd: dir });
    expect(run.code, run.stderr).toBe(0);
    rmSync(join(dir, "build"), { recursive: true });
    const fromFlow = await exec(dir, args);
    expect(fromFlow.stderr).toContain("restored from the cache");
    expect(readFileSync(join(dir, "build/copy.txt"), "utf8")).toBe("hello\n");

    writeFileSync(join(dir, "src/a.txt"), "changed\n");
    expect((await exec(dir, args)).stderr).toContain("ran, stored");
    rmSync(join(dir, "build"), { recursive: true });
    const flow = await cli(["run", "--json"], { cwd: dir });
    const end = jsonEvents(flow.stdout).find((e) => e.type === "step-end");
    expect(end?.cached).toBe(true);
    expect(readFileSync(join(dir, "build/copy.txt"), "utf8")).toBe("changed\n");
  });

  it("gives the command's own exit code and output, and stores nothing when it fails", async () => {
    const dir = project();
    const fail = [
      "--in",
      "src/a.txt",
      "--",
      "sh",
      "-c",
      "echo ran >> ran.log; echo out; echo err >&2; exit 3",
    ];
    const r = await exec(dir, fail);
    expect(r.code).toBe(3);
    expect(r.stdout).toBe("out\n");
    expect(r.stderr).toBe("err\n");
    await exec(dir, fail);
    expect(runs(dir)).toBe(2);
  });

  it("keeps a command without outputs for its stdout, and prints it again on a hit", async () => {
    const dir = project();
    const args = ["--in", "src/a.txt", "--", "sh", "-c", 'echo ran >> ran.log; wc -c < "$0"', "src/a.txt"];
    expect((await exec(dir, args)).stdout).toBe("6\n");
    const hit = await exec(dir, args);
    expect(hit.code).toBe(0);
    expect(hit.stdout).toBe("6\n");
    expect(runs(dir)).toBe(1);
  });

  it("refuses an output outside the project or not on the command line, and reports one not written", async () => {
    const dir = project();
    const outside = await exec(dir, ["--out", "../x.txt", "--", "cp", "src/a.txt", "../x.txt"]);
    expect(outside.code).toBe(2);
    expect(outside.stderr).toContain("--out ../x.txt: outside the project directory");
    const unnamed = await exec(dir, ["--out", "build/b.txt", "--", "cp", "src/a.txt", "build/a.txt"]);
    expect(unnamed.code).toBe(2);
    expect(unnamed.stderr).toContain("--out build/b.txt: not on the command line");
    const unwritten = await exec(dir, ["--out", "build/c.txt", "--", "true", "build/c.txt"]);
    expect(unwritten.code).toBe(1);
    expect(unwritten.stderr).toContain("did not write its declared output build/c.txt");
    const missing = await exec(dir, ["--", "no-such-program-here"]);
    expect(missing.code).toBe(127);
    expect(missing.stderr).toContain("no-such-program-here");
    expect(existsSync(join(dir, "build/c.txt"))).toBe(false);
  });
});
