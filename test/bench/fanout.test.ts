import { spawnSync } from "node:child_process";
import { describe, expect, it } from "vitest";
import {
  editSource,
  logLines,
  mapFixture,
  mapFlow,
  resetRule,
  ruleFixture,
  ruleFlow,
  ruleFlowUnrolled,
  ruleMakefile,
  ruleNinja,
  wrongObjects,
} from "../../bench/fanout/fixtures.js";

const make = (dir: string): void => {
  const r = spawnSync("make", ["-rR", "-s", "-j2", "all"], { cwd: dir, encoding: "utf8" });
  expect(r.stderr).toBe("");
  expect(r.status).toBe(0);
};

describe("fan-out fixtures (issue 12)", () => {
  it("the map fixture: n items, one per line, and a flow with `for`", () => {
    const fx = mapFixture(3);
    const list = spawnSync("cat", ["list.txt"], { cwd: fx.dir, encoding: "utf8" }).stdout;
    expect(list).toBe("item-00000\nitem-00001\nitem-00002\n");
    expect(mapFlow()).toContain('lens = for line in lines(file("list.txt")): exec("echo", line)\nout lens\n');
  });

  it("build files: a pattern rule, one ninja build line per source, a flow with and without `for`", () => {
    expect(ruleMakefile()).toContain("build/%.o: src/%.c\n\tcp $< $@ && echo $< >> log/runs.txt\n");
    const nj = ruleNinja(["src/c0000.c", "src/c0001.c"]);
    expect(nj).toContain("rule cc\n  command = cp $in $out && echo $in >> log/runs.txt\n");
    expect(nj).toContain("build build/c0001.o: cc src/c0001.c\n");
    expect(ruleFlow()).toContain('objs = for c in glob("src/*.c"): sh(');
    expect(ruleFlowUnrolled(["src/c0007.c"])).toContain(
      'o_c0007 = sh("cp ${file("src/c0007.c")} ${output("build/c0007.o")} && echo src/c0007.c >> log/runs.txt")\nout o_c0007\n',
    );
  });

  it("make reruns what the log says: all, none, the edited source, the touched one", () => {
    const fx = ruleFixture(5, "test-make");
    make(fx.dir);
    expect(logLines(fx.dir)).toHaveLength(5);
    expect(wrongObjects(fx)).toEqual([]);
    make(fx.dir);
    expect(logLines(fx.dir)).toHaveLength(5);
    editSource(fx.dir, 2, "edit");
    make(fx.dir);
    expect(logLines(fx.dir).slice(5)).toEqual(["src/c0002.c"]);
    expect(wrongObjects(fx)).toEqual([]);
    resetRule(fx.dir, []);
    expect(logLines(fx.dir)).toEqual([]);
    expect(wrongObjects(fx)).toHaveLength(5);
  });
});
