import type { Graph, Step, ValueExpr } from "./ir.js";
import { buildTopology } from "./topology.js";

export type GraphFormat = "dot" | "mermaid" | "json";

/** The graph as Graphviz dot, Mermaid, or JSON (ids, modules, dependencies, options). */
export function renderGraph(graph: Graph, format: GraphFormat): string {
  const { topology } = buildTopology(graph);
  const edges: [string, string][] = [];
  for (let i = 0; i < topology.ids.length; i++) {
    for (let k = topology.depStart[i]!; k < topology.depStart[i + 1]!; k++) {
      edges.push([topology.ids[topology.depList[k]!]!, topology.ids[i]!]);
    }
  }
  switch (format) {
    case "dot": {
      const lines = ["digraph flow {", "  rankdir=LR;", "  node [shape=box, fontname=monospace];"];
      for (const s of graph.steps) lines.push(`  ${dotId(s.id)} [label=${dotId(`${s.id}\n${label(s)}`)}];`);
      for (const [a, b] of edges) lines.push(`  ${dotId(a)} -> ${dotId(b)};`);
      lines.push("}");
      return lines.join("\n") + "\n";
    }
    case "mermaid": {
      const ids = new Map(graph.steps.map((s, i) => [s.id, `s${i}`]));
      const lines = ["flowchart LR"];
      for (const s of graph.steps) lines.push(`  ${ids.get(s.id)}["${mermaidText(`${s.id}: ${label(s)}`)}"]`);
      for (const [a, b] of edges) lines.push(`  ${ids.get(a)} --> ${ids.get(b)}`);
      return lines.join("\n") + "\n";
    }
    case "json":
      return (
        JSON.stringify(
          {
            steps: graph.steps.map((s) => ({
              id: s.id,
              module: s.module,
              kind: s.action.kind,
              deps: edges.filter(([, b]) => b === s.id).map(([a]) => a),
              options: s.options,
              source: s.source,
            })),
            outputs: graph.outputs ?? [],
            pools: graph.pools ?? {},
            limits: graph.limits ?? {},
          },
          null,
          2,
        ) + "\n"
      );
  }
}

/** A short description: the module, or the command for process steps. */
export function label(s: Step): string {
  if (s.action.kind !== "process") return s.module;
  const words = s.inputs.map(exprText).join(" ");
  return words.length > 60 ? `${words.slice(0, 57)}...` : words;
}

function exprText(e: ValueExpr): string {
  switch (e.kind) {
    case "lit":
      return typeof e.value === "string" ? e.value : JSON.stringify(e.value);
    case "ref":
      return `\${${[e.step, ...(e.path ?? [])].join(".")}}`;
    case "concat":
      return e.parts.map(exprText).join("");
    case "file":
      return exprText(e.path);
    case "output":
      return e.path;
    case "glob":
      return e.pattern;
    case "list":
      return e.items.map(exprText).join(" ");
    case "record":
      return "{…}";
    case "pathPart":
      return `${exprText(e.of)}.${e.part}`;
    case "lines":
      return `${e.json ? "jsonl" : "lines"}(${exprText(e.of)})`;
    case "item":
      return `\${${["item", ...(e.path ?? [])].join(".")}}`;
    case "itemOutput":
      return exprText(e.path);
    case "input":
      return `\${${e.name}}`;
  }
}

function dotId(s: string): string {
  return `"${s.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n")}"`;
}

function mermaidText(s: string): string {
  return s.replace(/"/g, "#quot;").replace(/[<>]/g, (c) => (c === "<" ? "#lt;" : "#gt;"));
}
