import { readdirSync, readFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const src = resolve(fileURLToPath(new URL("../../src", import.meta.url)));

/** Every .ts file under `dir` with the files it imports (relative imports resolved, others as written). */
function importsUnder(dir: string): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const entry of readdirSync(join(src, dir), { recursive: true, encoding: "utf8" })) {
    if (!entry.endsWith(".ts")) continue;
    const file = join(dir, entry);
    const text = readFileSync(join(src, file), "utf8");
    const specs = [...text.matchAll(/^(?:import|export)\b[^;]*?\bfrom\s+"([^"]+)"/gms)].map((m) => m[1]!);
    out.set(
      file,
      specs.map((s) =>
        s.startsWith(".") ? relative(src, resolve(src, dirname(file), s)).replace(/\.js$/, ".ts") : s,
      ),
    );
  }
  return out;
}

/** A cycle among the files, as a path, or undefined. */
function findCycle(graph: Map<string, string[]>): string[] | undefined {
  const state = new Map<string, 1 | 2>();
  const path: string[] = [];
  const visit = (f: string): string[] | undefined => {
    if (state.get(f) === 2) return undefined;
    if (state.get(f) === 1) return [...path.slice(path.indexOf(f)), f];
    state.set(f, 1);
    path.push(f);
    for (const d of graph.get(f) ?? []) {
      const c = graph.has(d) ? visit(d) : undefined;
      if (c) return c;
    }
    path.pop();
    state.set(f, 2);
    return undefined;
  };
  for (const f of graph.keys()) {
    const c = visit(f);
    if (c) return c;
  }
  return undefined;
}

describe("module boundaries", () => {
  it("the language imports only the graph (and packages), and its imports point one way", () => {
    const language = importsUnder("language");
    expect(language.size).toBeGreaterThan(10);
    const outside = [...language].flatMap(([f, ds]) =>
      ds
        .filter(
          (d) =>
            d.includes("/") && !d.startsWith("language/") && !d.startsWith("graph/") && !/^(@|node:)/.test(d),
        )
        .map((d) => `${f} -> ${d}`),
    );
    expect(outside).toEqual([]);
    expect(findCycle(language)).toBeUndefined();
  });

  it("the graph imports nothing else of src", () => {
    const graph = importsUnder("graph");
    const outside = [...graph].flatMap(([f, ds]) =>
      ds.filter((d) => !d.startsWith("graph/") && !d.startsWith("node:")).map((d) => `${f} -> ${d}`),
    );
    expect(outside).toEqual([]);
    expect(findCycle(graph)).toBeUndefined();
  });
});
