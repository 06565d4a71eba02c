import { describe, expect, it } from "vitest";
import {
  coneOf,
  levels,
  make,
  makefile,
  materialize,
  ninjaFile,
  skewCheck,
  xargsLevels,
} from "../../bench/peers.js";
import { loadWorkload, type Workload } from "../../bench/workloads.js";

const diamond: Workload = {
  id: "diamond",
  title: "diamond",
  bench: {},
  outputDirs: ["out"],
  files: [{ path: "src/a.txt", content: "a\n" }],
  nodes: [
    {
      id: "a",
      command: "cp src/a.txt out/a",
      deps: [],
      inputs: ["src/a.txt"],
      outputs: ["out/a"],
      duration: 0,
    },
    { id: "b", command: "sleep 0 && : > out/b", deps: ["a"], inputs: [], outputs: ["out/b"], duration: 0 },
    {
      id: "c",
      command: "cat out/a > out/c",
      deps: ["a"],
      inputs: ["out/a"],
      outputs: ["out/c"],
      duration: 0,
    },
    {
      id: "d",
      command: "cat out/b out/c > out/d",
      deps: ["b", "c"],
      inputs: ["out/b", "out/c"],
      outputs: ["out/d"],
      duration: 0,
    },
  ],
};

describe("peer build files", () => {
  it("Makefile: outputs as targets, inputs plus deps' outputs as prerequisites, all = sinks", () => {
    const mk = makefile(diamond);
    expect(mk).toContain("all: out/d\n");
    expect(mk).toContain("out/b : out/a\n\tsleep 0 && : > out/b\n");
    expect(mk).toContain("out/d : out/b out/c\n\tcat out/b out/c > out/d\n");
  });

  it("build.ninja: one generic rule and a default all", () => {
    const nj = ninjaFile(diamond);
    expect(nj).toContain("rule cmd\n  command = $cmd\n");
    expect(nj).toContain("build out/a: cmd src/a.txt\n  cmd = cp src/a.txt out/a\n");
    expect(nj).toContain("build all: phony out/d\ndefault all\n");
  });

  it("xargs levels and touch cones", () => {
    expect([...levels(diamond).values()]).toEqual([0, 1, 1, 2]);
    expect(xargsLevels(diamond)).toEqual([
      "cp src/a.txt out/a\n",
      "sleep 0 && : > out/b\ncat out/a > out/c\n",
      "cat out/b out/c > out/d\n",
    ]);
    expect([...coneOf(diamond, "src/a.txt")]).toEqual(["a", "b", "c", "d"]);
  });
});

describe("W4 with make", () => {
  it("finds make's stale outputs after a content change with an old mtime", () => {
    const w = loadWorkload("w4");
    const r = skewCheck(make, w, materialize(w, make, 2), 2);
    expect(r.skewReran).toEqual([]);
    expect(r.skewCorrect).toBe(false);
    expect(r.touchReran).toEqual(["copy", "sum"]);
    expect(r.touchCorrect).toBe(true);
  });
});
