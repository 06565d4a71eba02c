import picomatch from "picomatch";
import { UserError } from "../engine/user-error.js";
import type { Graph, StepId } from "../graph/ir.js";
import { suggest } from "../graph/topology.js";

/**
 * Step names as a user types them (targets, `--force`, `explain`): the one place that says what a name
 * may match and what is said when it matches nothing.
 */

/** The map an item id belongs to: `scores[3]` -> `scores`; undefined for an id that is not an item's. */
export function mapOfItem(id: string): string | undefined {
  const open = id.indexOf("[");
  return open > 0 && id.endsWith("]") ? id.slice(0, open) : undefined;
}

/**
 * The error for a step name the flow does not have, with the nearest step name when one is close. An
 * item of a map (`scores[3]`) is named after its map, which is what can be asked for.
 */
export function unknownStepError(what: string, name: string, graph: Graph, where: string): UserError {
  const ids = graph.steps.map((s) => s.id);
  const map = mapOfItem(name);
  const hint = graph.steps.some((s) => s.id === map && s.action.kind === "map")
    ? `the items of ${map} exist only while it runs; name ${map}`
    : suggest(name, ids);
  return new UserError(`${what} in ${where}${hint ? `; ${hint}` : ""}`);
}

/** Checks that each target is a step of the graph (the error names the nearest one). */
export function checkTargets(graph: Graph, targets: readonly StepId[], where: string): void {
  const ids = new Set(graph.steps.map((s) => s.id));
  for (const t of targets) {
    if (!ids.has(t)) throw unknownStepError(`no step ${t}`, t, graph, where);
  }
}

/**
 * What `--force` patterns select: a glob of step ids (`compile*`, `objs[*]`, `{a,b}`), where `[` and
 * `]` are the brackets of item ids, not character classes, and `*` also crosses a `/` in an item's key.
 * An item is selected with its map (`--force objs` reruns every item of objs). A pattern that selects no
 * step of the graph (nor any item of one of its maps) is an error naming the nearest step.
 */
export function forcedSteps(
  graph: Graph,
  patterns: readonly string[],
  where: string,
): (id: StepId) => boolean {
  const matchers = patterns.map((p) => {
    const m = picomatch(slashless(p), { nobracket: true, noextglob: true, dot: true });
    return (id: string) => m(slashless(id));
  });
  const maps = new Set(graph.steps.filter((s) => s.action.kind === "map").map((s) => s.id));
  patterns.forEach((p, i) => {
    const matches = matchers[i]!;
    // A pattern for items (`objs[*]`, `*[3]`) is checked on its map's part, as items exist only at run time.
    const mapPart = mapOfItem(p);
    const itemMatch =
      mapPart !== undefined &&
      [...maps].some((m) => picomatch(slashless(mapPart), { nobracket: true, dot: true })(slashless(m)));
    if (!itemMatch && !graph.steps.some((s) => matches(s.id))) {
      throw unknownStepError(`--force ${p} matches no step`, p, graph, where);
    }
  });
  const selected = (id: string) => matchers.some((m) => m(id));
  return (id) => {
    if (selected(id)) return true;
    const map = mapOfItem(id);
    return map !== undefined && selected(map);
  };
}

/**
 * Step ids hold no path, but an item's key may (`objs[src/a.c]`): glob's `*` stops at `/`, so `/` is
 * matched as an ordinary character, in the pattern and the id alike.
 */
function slashless(s: string): string {
  return s.replaceAll("/", "\u0000");
}
