import { describe, expect, it } from "vitest";
import { WITH_OPTIONS, type StepKind, type WithOption } from "../../src/graph/options.js";
import { Checker } from "../../src/language/checker/index.js";
import {
  DiagnosticSink,
  LineMap,
  formatDiagnostics,
  sortDiagnostics,
} from "../../src/language/diagnostics.js";
import type { FlowModule } from "../../src/language/modules.js";
import { parseWith } from "../../src/language/parser.js";
import { T } from "../../src/language/types.js";

/** A module as a `use` file would give it: a plain function, or a `module({ cpu: true })`. */
function flowModule(name: string, thread: boolean): FlowModule {
  const ref = { file: "/project/modules.ts", exportName: name };
  return {
    name,
    file: ref.file,
    exportName: name,
    minArgs: 0,
    result: T.Any,
    action: thread ? { kind: "function", thread: true, ref } : { kind: "function", fn: () => 1, ref },
    use: { start: 0, end: 0 },
  };
}

/** Checks a flow against a table in which `option` takes only `kinds`. */
function checkNarrowed(source: string, option: string, kinds: StepKind[]) {
  const withOptions: WithOption[] = WITH_OPTIONS.map((o) =>
    o.name === option ? { ...o, accepts: kinds } : o,
  );
  const sink = new DiagnosticSink("main.flow", new LineMap(source));
  const ast = parseWith(source, "main.flow", sink);
  const modules = new Map([
    ["Fetch", flowModule("Fetch", false)],
    ["Crunch", flowModule("Crunch", true)],
  ]);
  const checker = new Checker(sink, source, {
    statements: ast.statements,
    modules,
    modulesFailed: false,
    inputs: {},
    file: "main.flow",
    withOptions,
  });
  const { graph } = checker.run();
  return { graph, text: formatDiagnostics(sortDiagnostics(sink.list), source) };
}

describe("with options by kind of step", () => {
  it("an option given to a kind of step the table does not list is an error naming the kinds that take it", () => {
    const source = [
      'a = sh("make") with cpus: 2',
      'b = exec("make") with cpus: 2',
      "c = Fetch(1) with cpus: 2",
      "d = Crunch(1) with cpus: 2",
      "e = map([1, 2], Crunch) with cpus: 2",
    ].join("\n");
    const { graph, text } = checkNarrowed(source, "cpus", ["thread", "exec"]);
    expect(text).toMatchInlineSnapshot(`
      "main.flow:1:21: error: cpus does not apply to sh(); it applies to thread modules (cpu: true) and exec()
      a = sh("make") with cpus: 2
                          ^~~~~~~
      hint: remove cpus from this step
      main.flow:3:19: error: cpus does not apply to module functions; it applies to thread modules (cpu: true) and exec()
      c = Fetch(1) with cpus: 2
                        ^~~~~~~
      hint: remove cpus from this step
      main.flow:5:30: error: cpus does not apply to map(); it applies to thread modules (cpu: true) and exec()
      e = map([1, 2], Crunch) with cpus: 2
                                   ^~~~~~~
      hint: remove cpus from this step"
    `);
    // The kinds that take it still get it.
    const cpus = Object.fromEntries(graph.steps.map((s) => [s.id, s.options.cpus]));
    expect(cpus).toEqual({ a: undefined, b: 2, c: undefined, d: 2, e: undefined });
  });

  it("a refused option is not checked further (no backoff-without-retry after a refused backoff)", () => {
    const { text } = checkNarrowed('a = sh("make") with backoff: 1s', "backoff", ["exec"]);
    expect(text).toContain("backoff does not apply to sh(); it applies to exec()");
    expect(text).not.toContain("backoff has no effect without retry");
  });

  it("a call of an unknown module refuses no option for its kind", () => {
    const { text } = checkNarrowed("a = Nope(1) with cpus: 2", "cpus", ["exec"]);
    expect(text).toContain("unknown module Nope");
    expect(text).not.toContain("does not apply");
  });
});
