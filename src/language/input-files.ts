import { posix } from "node:path";
import { globBase } from "../graph/glob-files.js";
import { suggest } from "./checker/hints.js";
import type { LiteralInputs } from "./checker/index.js";
import type { DiagnosticSink } from "./diagnostics.js";

/**
 * What the compiler may ask of the file system about a flow's inputs, through whoever compiles it: the
 * language does no I/O of its own, so the TS API and tests compile without a file system, and the
 * project layer (which knows the root) answers from the disk. Paths are as the flow writes them:
 * relative to the project root, or absolute. Answers may be promises.
 */
export interface InputFilesPort {
  /** What is at a path: a file, a directory, or nothing (undefined). */
  kind(path: string): "file" | "directory" | undefined | Promise<"file" | "directory" | undefined>;
  /** The names in a directory ("" is the root), for "did you mean"; [] when there is none. */
  list(dir: string): string[] | Promise<string[]>;
  /** Whether the pattern matches at least one file, exactly as glob() will when the flow runs. */
  globMatches(pattern: string): boolean | Promise<boolean>;
}

/**
 * Reports the `file("...")` literals that name no file and the `glob("...")` patterns that match none,
 * at the literal, before anything runs: a missing input would fail its step (and everything after it)
 * only once the run reaches it, and an empty glob feeds an empty list to a map, which then does nothing
 * while looking successful.
 */
export async function checkInputFiles(
  inputs: LiteralInputs,
  port: InputFilesPort,
  sink: DiagnosticSink,
): Promise<void> {
  // Each path and pattern is asked once, however many times the flow names it.
  const kinds = new Map<string, Promise<"file" | "directory" | undefined>>();
  const kindOf = (p: string) => {
    let k = kinds.get(p);
    if (!k) kinds.set(p, (k = Promise.resolve(port.kind(p))));
    return k;
  };
  const globs = new Map<string, Promise<boolean>>();
  const fileChecks = inputs.files.map(async ({ path, span }) => {
    const kind = await kindOf(path);
    if (kind === "file") return;
    if (kind === "directory") {
      sink.error(
        "input-is-directory",
        `input is a directory, not a file: ${path}`,
        span.start,
        span.end,
        `to use the files in it, use glob(${JSON.stringify(`${path.replace(/\/$/, "")}/*`)})`,
      );
      return;
    }
    sink.error(
      "missing-file",
      `input file not found: ${path}`,
      span.start,
      span.end,
      await missingFileHint(path, port, kindOf),
    );
  });
  const globChecks = inputs.globs.map(async ({ pattern, span }) => {
    let matches = globs.get(pattern);
    if (!matches) globs.set(pattern, (matches = Promise.resolve(port.globMatches(pattern))));
    if (await matches) return;
    const { base } = globBase(pattern);
    const noDir = base !== "" && (await kindOf(base)) !== "directory";
    sink.error(
      "empty-glob",
      `glob(${JSON.stringify(pattern)}) matches no file`,
      span.start,
      span.end,
      noDir
        ? `check the pattern: there is no directory ${base} (patterns start at the project root)`
        : "check the pattern; it starts at the project root, and files that steps write are not there before the run (use those steps instead)",
    );
  });
  await Promise.all([...fileChecks, ...globChecks]);
}

/** "did you mean" among the names of the missing file's directory. */
async function missingFileHint(
  path: string,
  port: InputFilesPort,
  kindOf: (p: string) => Promise<"file" | "directory" | undefined>,
): Promise<string> {
  const dir = posix.dirname(path);
  const inDir = dir === "." ? "" : dir;
  if (inDir !== "" && (await kindOf(inDir)) !== "directory") {
    return `there is no directory ${inDir} either; file() paths start at the project root`;
  }
  const names = await port.list(inDir);
  const near = suggest(
    path,
    names.map((n) => (inDir === "" ? n : `${inDir}/${n}`)),
  );
  return near ?? "check the path; file() paths start at the project root";
}
