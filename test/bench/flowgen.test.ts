import { describe, expect, it } from "vitest";
import { generateFlow, identifiers } from "../../bench/flowgen.js";
import { loadWorkload, type Workload, type WorkloadNode } from "../../bench/workloads.js";

function workload(nodes: Partial<WorkloadNode>[]): Workload {
  return {
    id: "t",
    title: "t",
    bench: {},
    outputDirs: ["out"],
    files: [],
    nodes: nodes.map((n) => ({ id: "", command: "", deps: [], inputs: [], outputs: [], duration: 0, ...n })),
  };
}

describe("flowgen identifiers", () => {
  it("maps workload ids to valid, unique identifiers", () => {
    const m = identifiers(["n06", "t0001", "s.054", "3d", "out", "a-b", "a.b", "a_b"]);
    expect([...m.values()]).toEqual(["n06", "t0001", "s_054", "_3d", "out_", "a_b", "a_b_2", "a_b_3"]);
    for (const v of m.values()) expect(v).toMatch(/^[A-Za-z_][A-Za-z0-9_]*$/);
  });
});

describe("flowgen rewriting", () => {
  it("replaces whole paths only: a path that prefixes another is not matched inside it", () => {
    const text = generateFlow(
      workload([
        { id: "a", command: "echo a > out/a.txt", outputs: ["out/a.txt"] },
        { id: "a2", command: "echo b > out/a.txt2", outputs: ["out/a.txt2"] },
        {
          id: "b",
          command: "cat out/a.txt2 out/a.txt > out/b.txt",
          deps: ["a", "a2"],
          inputs: ["out/a.txt", "out/a.txt2"],
          outputs: ["out/b.txt"],
        },
      ]),
    );
    expect(text).toContain('b = sh("cat ${a2} ${a} > ${output("out/b.txt")}")');
    expect(text.trimEnd().split("\n").at(-1)).toBe("out b");
  });

  it("references deps and inputs that the command line does not name, and escapes literal text", () => {
    const text = generateFlow(
      workload([
        { id: "x.1", command: 'echo "$HOME" > out/x.txt', outputs: ["out/x.txt"] },
        {
          id: "y",
          command: "make-y",
          deps: ["x.1"],
          inputs: ["src/y.c"],
          outputs: ["out/y.o"],
        },
      ]),
    );
    expect(text).toContain('x_1 = sh("echo \\"\\$HOME\\" > ${output("out/x.txt")}")');
    expect(text).toContain('y = sh(": ${file("src/y.c")} ${output("out/y.o")} ${x_1}; make-y")');
  });

  it("writes definitions before uses even when the workload lists a node before its deps", () => {
    const text = generateFlow(
      workload([
        { id: "b", command: "cp out/a out/b", deps: ["a"], inputs: ["out/a"], outputs: ["out/b"] },
        { id: "a", command: ": > out/a", outputs: ["out/a"] },
      ]),
    );
    expect(text.indexOf("a = sh(")).toBeLessThan(text.indexOf("b = sh("));
  });
});

describe("flowgen on the vendored workloads", () => {
  it("W4: sources become file(), the dep's output a variable, outputs output()", () => {
    expect(generateFlow(loadWorkload("w4"))).toBe(
      [
        "# generated from workload w4 by bench/flowgen.ts",
        'copy = sh("cp ${file("src/input.txt")} ${output("out/copy.txt")} && echo copy >> log/runs.txt")',
        'sum = sh("cksum ${copy} > ${output("out/sum.txt")} && echo sum >> log/runs.txt")',
        "out sum",
        "",
      ].join("\n"),
    );
  });

  it("W1-20: one independent `echo` per task, its output through output(), every task a sink", () => {
    const w = loadWorkload("w1-20");
    expect(w.nodes).toHaveLength(20);
    const ids = w.nodes.map((n) => n.id);
    expect(generateFlow(w)).toBe(
      [
        "# generated from workload w1-20 by bench/flowgen.ts",
        ...ids.map((id) => `${id} = sh("echo ${id} > \${output("out/${id}.txt")}")`),
        `out ${ids.join(", ")}`,
        "",
      ].join("\n"),
    );
  });

  it("W3: every node once, deps referenced through `:`, sinks in `out`", () => {
    const w = loadWorkload("w3");
    const lines = generateFlow(w).trimEnd().split("\n");
    expect(lines[0]).toMatch(/^# generated/);
    const defs = lines.slice(1, -1);
    expect(defs).toHaveLength(w.nodes.length);
    expect(defs).toContain('n02 = sh(": ${n00} ${n01}; sleep 0.08 && : > ${output("out/n02.done")}")');
    expect(defs).toContain('n06 = sh(": ${n03} ${n05}; sleep 0.42 && : > ${output("out/n06.done")}")');
    const defined = new Set<string>();
    for (const line of defs) {
      const m = /^(\w+) = sh\("(.*)"\)$/.exec(line);
      expect(m, line).not.toBeNull();
      const [, name, body] = m!;
      const node = w.nodes.find((n) => n.id === name)!;
      // Each dep is referenced and already defined; no raw output path is left outside output().
      for (const d of node.deps) {
        expect(body).toContain(`\${${d}}`);
        expect(defined.has(d)).toBe(true);
      }
      expect(body!.replace(/\$\{output\("[^"]*"\)\}/g, "")).not.toMatch(/out\//);
      defined.add(name!);
    }
    const used = new Set(w.nodes.flatMap((n) => n.deps));
    const sinks = w.nodes.filter((n) => !used.has(n.id)).map((n) => n.id);
    expect(sinks).toHaveLength(w.bench.sinks as number);
    expect(lines.at(-1)).toBe(`out ${sinks.join(", ")}`);
  });
});
