import { mkdirSync, realpathSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { outputLanding, writablePathInside } from "../../src/graph/inside-project.js";
import { tempDir } from "../helpers/procs.js";

/** A project directory and, beside it, a directory outside the project. */
function layout(): { root: string; outside: string } {
  const top = tempDir();
  const root = join(top, "project");
  const outside = join(top, "elsewhere");
  mkdirSync(root);
  mkdirSync(outside);
  return { root, outside };
}

describe("writablePathInside: where a write to a project path lands", () => {
  it("a path without links lands at itself, whether or not its directories exist yet", () => {
    const { root } = layout();
    mkdirSync(join(root, "out"));
    writeFileSync(join(root, "out", "old.txt"), "x");
    expect(writablePathInside(root, "out/new.txt")).toBe(join(root, "out", "new.txt"));
    expect(writablePathInside(root, "out/old.txt")).toBe(join(root, "out", "old.txt"));
    expect(writablePathInside(root, "gen/deep/er/x.txt")).toBe(join(root, "gen", "deep", "er", "x.txt"));
  });

  it("a link on the way is followed: inside the project it is allowed, out of it refused, at any depth", () => {
    const { root, outside } = layout();
    mkdirSync(join(root, "build", "real"), { recursive: true });
    symlinkSync(join(root, "build"), join(root, "out"));
    const inside = writablePathInside(root, "out/real/x.txt");
    expect(inside).toBe(join(realpathSync(root), "build", "real", "x.txt"));

    mkdirSync(join(root, "a"));
    mkdirSync(join(outside, "b"));
    symlinkSync(outside, join(root, "a", "link"));
    // The directory below the link is a real one: only looking at every component finds the way out.
    expect(writablePathInside(root, "a/link/b/x.txt")).toBeUndefined();
    expect(writablePathInside(root, "a/link/missing/x.txt")).toBeUndefined();
  });

  it("an output that is itself a link is judged by its target, a dangling one too", () => {
    const { root, outside } = layout();
    mkdirSync(join(root, "out"));
    symlinkSync(join(outside, "not-yet.txt"), join(root, "out", "dangling.txt"));
    symlinkSync(join(root, "out", "target.txt"), join(root, "out", "to-inside.txt"));
    expect(writablePathInside(root, "out/dangling.txt")).toBeUndefined();
    expect(writablePathInside(root, "out/to-inside.txt")).toBe(join(realpathSync(root), "out", "target.txt"));
  });

  it("the project directory itself, or a path out of it, is never a place to write", () => {
    const { root } = layout();
    expect(writablePathInside(root, ".")).toBeUndefined();
    expect(writablePathInside(root, "../elsewhere/x.txt")).toBeUndefined();
  });

  it("a file in the middle of the path ends the walk: the write itself will fail there, inside", () => {
    const { root } = layout();
    writeFileSync(join(root, "afile"), "x");
    expect(writablePathInside(root, "afile/x.txt")).toBe(join(root, "afile", "x.txt"));
  });
  it("says whether the file's directory exists already, so that a step's output needs no mkdir", () => {
    const { root, outside } = layout();
    mkdirSync(join(root, "out"));
    writeFileSync(join(root, "afile"), "x");
    symlinkSync(join(root, "out"), join(root, "alias"));
    symlinkSync(outside, join(root, "away"));
    expect(outputLanding(root, "out/x.txt")).toEqual({ path: join(root, "out", "x.txt"), dirExists: true });
    expect(outputLanding(root, "top.txt")?.dirExists).toBe(true);
    expect(outputLanding(root, "gen/x.txt")?.dirExists).toBe(false);
    expect(outputLanding(root, "afile/x.txt")?.dirExists).toBe(false);
    // Through a link: resolved, and not vouched for.
    expect(outputLanding(root, "alias/x.txt")).toEqual({
      path: join(realpathSync(root), "out", "x.txt"),
      dirExists: false,
    });
    expect(outputLanding(root, "away/x.txt")).toBeUndefined();
  });
});
