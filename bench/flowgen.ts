/**
 * Generates a Tributary flow file from a shared workload, so that `tributary run pipeline.flow -j N` runs
 * the same commands as make and ninja. The engine derives dependencies only from data flow, so each raw
 * command line is rewritten: a path produced by a dep becomes `${<dep>}` (the dep's output file), a
 * source file `${file("…")}` and a declared output `${output("…")}`:
 *
 *     l01_n000 = sh("cksum ${l00_n000} ${l00_n001} > ${output("out/l01_n000.txt")}")
 *
 * Deps and inputs the command line never names (W3's `sleep 0.42 && : > out/n06.done` waits for n03
 * and n05 without reading them) are still referenced, by a leading `: ${n03} ${n05};` (`:` ignores its
 * arguments, so the command means the same). Literal text is escaped for the flow string: `\`, `"` and
 * `$` get a backslash (the shared workloads contain none of them).
 */
import type { Workload, WorkloadNode } from "./workloads.js";

/** Words of the flow language that cannot name a step. */
const RESERVED = new Set([
  "in",
  "out",
  "use",
  "with",
  "sh",
  "exec",
  "file",
  "glob",
  "output",
  "map",
  "true",
  "false",
  "null",
]);

/** Characters that continue a path: a match must not be preceded or followed by one of them. */
const PATH_CHAR = "A-Za-z0-9_./-";

/** Valid, unique identifiers (`[A-Za-z_][A-Za-z0-9_]*`) for workload ids such as `n06`, `s.054`, `3d`. */
export function identifiers(ids: readonly string[]): Map<string, string> {
  const taken = new Set<string>();
  const out = new Map<string, string>();
  for (const id of ids) {
    let base = id.replace(/[^A-Za-z0-9_]/g, "_");
    if (!/^[A-Za-z_]/.test(base)) base = `_${base}`;
    if (RESERVED.has(base)) base = `${base}_`;
    let name = base;
    for (let k = 2; taken.has(name); k++) name = `${base}_${k}`;
    taken.add(name);
    out.set(id, name);
  }
  return out;
}

/** Escapes literal command text for a double-quoted flow string. */
function literal(s: string): string {
  return s.replace(/[\\"$]/g, (c) => `\\${c}`);
}

function regexEscape(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\/-]/g, "\\$&");
}

/** The `sh("…")` argument for one node: its command with paths replaced by references. */
export function rewriteCommand(
  node: WorkloadNode,
  producerOf: ReadonlyMap<string, WorkloadNode>,
  ident: ReadonlyMap<string, string>,
): string {
  const deps = new Set(node.deps);
  const ref = new Map<string, string>();
  for (const p of node.inputs) {
    const producer = producerOf.get(p);
    if (producer && deps.has(producer.id)) {
      if (producer.outputs.length !== 1) {
        throw new Error(
          `${node.id} reads ${p} from ${producer.id}, which has ${producer.outputs.length} outputs; ` +
            `flowgen supports single-output producers only`,
        );
      }
      ref.set(p, `\${${ident.get(producer.id)!}}`);
    } else if (producer) {
      throw new Error(`${node.id} reads ${p}, the output of ${producer.id}, without listing it in deps`);
    } else {
      ref.set(p, `\${file(${JSON.stringify(p)})}`);
    }
  }
  for (const o of node.outputs) ref.set(o, `\${output(${JSON.stringify(o)})}`);

  const used = new Set<string>();
  let text: string;
  if (ref.size === 0) {
    text = literal(node.command);
  } else {
    // One pass over the command, longest paths first, whole words only: out/a.txt never matches inside
    // out/a.txt.bak or xout/a.txt, and nothing is replaced twice.
    const paths = [...ref.keys()].sort((a, b) => b.length - a.length).map(regexEscape);
    const re = new RegExp(`(?<![${PATH_CHAR}])(?:${paths.join("|")})(?![${PATH_CHAR}])`, "g");
    text = "";
    let last = 0;
    for (const m of node.command.matchAll(re)) {
      text += literal(node.command.slice(last, m.index)) + ref.get(m[0])!;
      used.add(m[0]);
      last = m.index + m[0].length;
    }
    text += literal(node.command.slice(last));
  }

  // Whatever the command line does not name must still be referenced, or the engine would not see it.
  const extra: string[] = [];
  for (const [p, r] of ref) if (!used.has(p)) extra.push(r);
  const named = new Set(
    [...used].map((p) => producerOf.get(p)?.id).filter((id): id is string => id !== undefined),
  );
  for (const d of node.deps) if (!named.has(d)) extra.push(`\${${ident.get(d)!}}`);
  const unique = [...new Set(extra)];
  return unique.length > 0 ? `: ${unique.join(" ")}; ${text}` : text;
}

/** The whole flow file: one `<ident> = sh("…")` line per node in topological order, then `out <sinks>`. */
export function generateFlow(w: Workload): string {
  const ident = identifiers(w.nodes.map((n) => n.id));
  const producerOf = new Map<string, WorkloadNode>();
  for (const n of w.nodes) for (const o of n.outputs) producerOf.set(o, n);
  const used = new Set(w.nodes.flatMap((n) => n.deps));
  const lines = [`# generated from workload ${w.id} by bench/flowgen.ts`];
  for (const n of topological(w)) {
    lines.push(`${ident.get(n.id)!} = sh("${rewriteCommand(n, producerOf, ident)}")`);
  }
  const sinks = w.nodes.filter((n) => !used.has(n.id)).map((n) => ident.get(n.id)!);
  lines.push(`out ${sinks.join(", ")}`);
  return lines.join("\n") + "\n";
}

/** Definitions before uses: file order, except that a node is held back until its deps are written. */
function topological(w: Workload): WorkloadNode[] {
  const byId = new Map(w.nodes.map((n) => [n.id, n]));
  const state = new Map<string, "open" | "done">();
  const order: WorkloadNode[] = [];
  for (const root of w.nodes) {
    // Iterative depth-first post-order, so that long chains cannot overflow the stack.
    const stack: { node: WorkloadNode; next: number }[] = [];
    const enter = (n: WorkloadNode): void => {
      if (state.get(n.id) === "done") return;
      if (state.get(n.id) === "open") throw new Error(`${w.id}: the graph has a cycle through ${n.id}`);
      state.set(n.id, "open");
      stack.push({ node: n, next: 0 });
    };
    enter(root);
    while (stack.length > 0) {
      const top = stack[stack.length - 1]!;
      if (top.next < top.node.deps.length) {
        const dep = top.node.deps[top.next++]!;
        const d = byId.get(dep);
        if (!d) throw new Error(`${w.id}: ${top.node.id} depends on unknown node ${dep}`);
        enter(d);
      } else {
        stack.pop();
        state.set(top.node.id, "done");
        order.push(top.node);
      }
    }
  }
  return order;
}
