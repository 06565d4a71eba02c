/**
 * Missing input files and globs that match nothing are errors at their line, before anything runs: through
 * the compile API with a port of our own (no file system), the package's compileFlow on real files, and
 * `tributary check` / `tributary run` as a user meets them.
 */
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { compileFlow as compileOnDisk } from "../../src/index.js";
import { compileFlow, formatDiagnostics, type InputFilesPort } from "../../src/language/index.js";
import { cli } from "../helpers/cli.js";
import { tempDir } from "../helpers/procs.js";

/** A file system of the given files, asked through the port only. */
function memoryFiles(files: string[]): InputFilesPort & { asked: string[] } {
  const asked: string[] = [];
  const dirs = new Set(
    files.flatMap((f) =>
      f
        .split("/")
        .slice(0, -1)
        .map((_, i, a) => a.slice(0, i + 1).join("/")),
    ),
  );
  return {
    asked,
    kind(path) {
      asked.push(path);
      return files.includes(path) ? "file" : dirs.has(path) ? "directory" : undefined;
    },
    list(dir) {
      const prefix = dir === "" ? "" : `${dir}/`;
      return files
        .filter((f) => f.startsWith(prefix) && !f.slice(prefix.length).includes("/"))
        .map((f) => f.slice(prefix.length));
    },
    // Enough of a glob for these tests: "dir/*.ext".
    async globMatches(pattern) {
      const [dir, ext] = [
        pattern.slice(0, pattern.lastIndexOf("/")),
        pattern.slice(pattern.lastIndexOf("*") + 1),
      ];
      return files.some((f) => f.startsWith(`${dir}/`) && f.endsWith(ext));
    },
  };
}

async function check(source: string, files: string[]) {
  const port = memoryFiles(files);
  const r = await compileFlow(source, "main.flow", { root: "/nowhere", inputFiles: port });
  return { ...r, text: formatDiagnostics(r.diagnostics, source), port };
}

describe("input files, through the compile API", () => {
  it("a missing file is an error at its literal, with the nearest name in its directory", async () => {
    const r = await check('a = exec("cat", file("data/inptu.txt"))\n', ["data/input.txt", "data/other.csv"]);
    expect(r.graph).toBeUndefined();
    expect(r.diagnostics).toMatchObject([{ code: "missing-file", severity: "error", line: 1, col: 22 }]);
    expect(r.text).toBe(
      [
        "main.flow:1:22: error: input file not found: data/inptu.txt",
        'a = exec("cat", file("data/inptu.txt"))',
        "                     ^~~~~~~~~~~~~~~~",
        "hint: did you mean data/input.txt?",
      ].join("\n"),
    );
  });

  it("a missing directory says so; a directory is not a file", async () => {
    const r = await check('a = exec("cat", file("nodir/x.txt"), file("src"))\n', ["src/a.c"]);
    expect(r.diagnostics.map((d) => [d.code, d.message, d.hint])).toEqual([
      [
        "missing-file",
        "input file not found: nodir/x.txt",
        "there is no directory nodir either; file() paths start at the project root",
      ],
      [
        "input-is-directory",
        "input is a directory, not a file: src",
        'to use the files in it, use glob("src/*")',
      ],
    ]);
  });

  it("a glob that matches nothing is an error: an empty list fed to a map would do nothing", async () => {
    const source =
      'b = exec("cat", glob("src/*.c"))\nc = exec("cat", glob("lib/*.c"))\nd = exec("cat", glob("src/*.h"))\n';
    const r = await check(source, ["src/a.h"]);
    expect(r.diagnostics.map((d) => [d.code, d.line, d.col, d.message])).toEqual([
      ["empty-glob", 1, 22, 'glob("src/*.c") matches no file'],
      ["empty-glob", 2, 22, 'glob("lib/*.c") matches no file'],
    ]);
    expect(r.diagnostics[0]!.hint).toMatch(/^check the pattern; it starts at the project root/);
    expect(r.diagnostics[1]!.hint).toBe(
      "check the pattern: there is no directory lib (patterns start at the project root)",
    );
  });

  it("files that exist, and paths that steps write, are fine; each path is asked once", async () => {
    const source = [
      'a = exec("cat", file("in.txt"), file("./in.txt"), glob("src/*.c"))',
      'o = sh("echo > ${output("build/x")}")',
      'b = exec("cat", file("in.txt"))',
    ].join("\n");
    const r = await check(source, ["in.txt", "src/a.c"]);
    expect(r.diagnostics).toEqual([]);
    expect(r.graph).toBeDefined();
    expect(r.port.asked).toEqual(["in.txt"]);
  });

  it("a file that a step writes gets the file-is-output error only", async () => {
    const source = 'o = sh("echo > ${output("build/x")}")\nf = exec("cat", file("build/x"))\n';
    const r = await check(source, []);
    expect(r.diagnostics.map((d) => d.code)).toEqual(["file-is-output"]);
  });

  it("without a port nothing is checked: the compiler reads no file itself", async () => {
    const r = await compileFlow('a = exec("cat", file("missing.txt"), glob("none/*"))\n', "main.flow", {
      root: "/nowhere",
    });
    expect(r.diagnostics).toEqual([]);
  });

  it("the package's compileFlow checks on the disk, under the root", async () => {
    const dir = tempDir();
    writeFileSync(join(dir, "input.txt"), "x");
    const source = 'a = exec("cat", file("inptu.txt"))\n';
    const r = await compileOnDisk(source, join(dir, "main.flow"));
    expect(r.diagnostics.map((d) => [d.code, d.hint])).toEqual([["missing-file", "did you mean input.txt?"]]);
    const unchecked = await compileOnDisk(source, join(dir, "main.flow"), { inputFiles: undefined });
    expect(unchecked.diagnostics).toEqual([]);
  });
});

describe("input files, on the command line", () => {
  it("check and run report them with file:line:col and a caret, and run starts nothing", async () => {
    const dir = tempDir();
    mkdirSync(join(dir, "src"));
    writeFileSync(join(dir, "src", "a.h"), "x");
    writeFileSync(join(dir, "input.txt"), "x");
    writeFileSync(
      join(dir, "pipeline.flow"),
      [
        'first = sh("touch ${output("ran.txt")}")',
        'a = exec("cat", file("inptu.txt"))',
        'b = exec("cat", glob("src/*.c"))',
      ].join("\n"),
    );
    const checked = await cli(["check"], { cwd: dir });
    expect(checked.code).toBe(2);
    expect(checked.stderr).toContain(
      [
        "pipeline.flow:2:22: error: input file not found: inptu.txt",
        'a = exec("cat", file("inptu.txt"))',
        "                     ^~~~~~~~~~~",
        "hint: did you mean input.txt?",
      ].join("\n"),
    );
    expect(checked.stderr).toContain(
      [
        'pipeline.flow:3:22: error: glob("src/*.c") matches no file',
        'b = exec("cat", glob("src/*.c"))',
        "                     ^~~~~~~~~",
      ].join("\n"),
    );
    expect(checked.stderr).toContain("2 errors in pipeline.flow");
    const ran = await cli(["run"], { cwd: dir });
    expect(ran.code).toBe(2);
    expect(ran.stderr).toContain("input file not found: inptu.txt");
    expect(existsSync(join(dir, "ran.txt"))).toBe(false);

    writeFileSync(join(dir, "inptu.txt"), "x");
    writeFileSync(join(dir, "src", "a.c"), "x");
    const fixed = await cli(["check"], { cwd: dir });
    expect(fixed.stderr).toBe("");
    expect(fixed).toMatchObject({ code: 0, stdout: "pipeline.flow: ok, 3 steps\n" });
  });
});
