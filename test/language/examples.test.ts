import { cpSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import { runGraph } from "../../src/project/run-graph.js";
import { loadModuleFile as loadModule } from "../../src/executors/load-module.js";
import { compileFlow, formatDiagnostics } from "../../src/language/index.js";
import { cleanup, project } from "./helpers.js";

const examples = resolve(fileURLToPath(new URL("../../examples", import.meta.url)));
afterAll(cleanup);

/** Compiles an example in place, but runs it in a copy of its directory so the repo stays clean. */
async function compileExample(rel: string, inputs: Record<string, string> = {}) {
  const file = join(examples, rel);
  const source = readFileSync(file, "utf8");
  const root = project();
  cpSync(join(file, ".."), root, { recursive: true });
  const r = await compileFlow(source, file, { inputs, root, loadModule });
  expect(formatDiagnostics(r.diagnostics, source)).toBe("");
  return { ...r, root };
}

describe("examples", () => {
  it("profile.flow: three lookups in parallel, then the profile", async () => {
    const { graph, info, root } = await compileExample("profile/profile.flow", { userId: "7" });
    expect(info.inputs).toEqual([
      expect.objectContaining({ name: "userId", type: "String", default: '"42"', required: false }),
    ]);
    expect(info.outputs).toEqual(["profile"]);
    expect(info.modules).toEqual([join(examples, "profile/modules.ts")]);
    expect(Object.keys(info.steps)).toEqual(["user", "orders", "preferences", "profile"]);
    expect(info.steps.orders).toMatchObject({ line: 10, col: 1 });
    expect(graph!.limits).toEqual({ GetPreferences: { rate: { tokens: 20, perMs: 1000 } } });
    const r = await runGraph(graph!, { root });
    expect(r.ok).toBe(true);
    expect(r.outputs.profile).toEqual({
      name: "User 7",
      email: "user7@example.com",
      orders: 2,
      spent: 42.5,
      theme: "dark",
    });
  });

  it("batch.flow: a map with a failing item still produces the report", async () => {
    const { graph, root } = await compileExample("batch/batch.flow");
    const r = await runGraph(graph!, { root, random: () => 0 });
    expect(r.outputs.report).toEqual({
      judged: 7,
      failed: ["run-06: failed"],
      mean: 0.51,
      best: ["run-01", "run-05"],
      lines: 8,
    });
    const failed = r.steps.find((s) => s.id === "scores[run-06]")!;
    expect(failed).toMatchObject({ status: "failed", attempts: 2 });
    expect(JSON.parse(readFileSync(join(root, "out/report.json"), "utf8"))).toEqual(r.outputs.report);
  });

  it("words/pipeline.flow (the README's first command): splits both texts in parallel, counts, keeps the top", async () => {
    const { graph, root } = await compileExample("words/pipeline.flow");
    expect(graph!.steps.map((s) => s.id)).toEqual(["source_words", "delta_words", "counts", "top"]);
    const r = await runGraph(graph!, { root, concurrency: 2 });
    expect(r.ok).toBe(true);
    expect(r.outputs.top).toMatchObject({ $file: "build/top.txt" });
    expect(readFileSync(join(root, "build/source.words"), "utf8").split("\n").slice(0, 4)).toEqual([
      "a",
      "river",
      "starts",
      "as",
    ]);
    expect(readFileSync(join(root, "build/top.txt"), "utf8")).toBe(
      ["     16 the", "      5 and", "      4 a", "      4 river", "      4 water", ""].join("\n"),
    );
    // The two splits do not depend on each other: each started before the other ended.
    const step = (id: string) => r.steps.find((s) => s.id === id)!;
    expect(step("source_words").startMs!).toBeLessThan(step("delta_words").endMs!);
    expect(step("delta_words").startMs!).toBeLessThan(step("source_words").endMs!);
  });

  it("make/pipeline.flow: compiles, links, runs and aggregates", async () => {
    const { graph, root } = await compileExample("make/pipeline.flow");
    expect(graph!.steps.map((s) => s.id)).toEqual(["hello_o", "world_o", "app", "greeting", "summary"]);
    const r = await runGraph(graph!, { root });
    expect(r.ok).toBe(true);
    expect(readFileSync(join(root, "build/summary.txt"), "utf8")).toBe(
      "objects: build/hello.o build/world.o\noutput:\nhello, world\n",
    );
  });
});
