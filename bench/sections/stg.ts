import type { ScheduleMode } from "../../src/engine/scheduler.js";
import { loadStgCases, scoreStg, scoreWide } from "../stg.js";
import { fmt, heading, table } from "../util.js";
import { check } from "./common.js";

const MODES: { mode: ScheduleMode; label: string }[] = [
  { mode: "eager", label: "eager (bottom level)" },
  { mode: "fifo", label: "fifo" },
  { mode: "layers", label: "layers (barriers)" },
];

/** Scheduling quality: the real scheduler on a virtual clock against the STG published optima. */
export function stgSection(): string {
  const cases = loadStgCases();
  const graphs = new Set(cases.map((c) => c.graph.name)).size;
  const slots = [...new Set(cases.map((c) => c.slots))].sort((a, b) => a - b);
  const scores = MODES.map((m) => ({ ...m, score: scoreStg(cases, m.mode) }));
  const rows = scores.map(({ label, score }) => [
    label,
    ...slots.map((s) => {
      const b = score.bySlots.get(s)!;
      return `${fmt.pct(b.meanGap)} (${fmt.pct(b.worstGap)})`;
    }),
    fmt.pct(score.overallMeanGap),
    String(score.belowBound),
  ]);
  const eager = scores[0]!.score;
  const perSlot = slots.every((s) => eager.bySlots.get(s)!.meanGap <= 0.01);
  const overall = eager.overallMeanGap <= 0.005;
  const noneBelow = scores.every((s) => s.score.belowBound === 0);
  return [
    heading(
      "STG: makespan gap to the published optimum",
      `${graphs} STG graphs of 50 tasks × ${slots.length} slot counts = ${cases.length} cases, simulated on a virtual ` +
        `clock with the engine's Scheduler (deterministic: 1 rep). Cell: mean gap (worst gap), gap = ` +
        `(makespan − optimum) / optimum. fifo and layers are the baselines, run in this invocation.`,
    ),
    table(["mode", ...slots.map((s) => `${s} slots`), "overall mean", "cases below lower bound"], rows),
    "",
    `Targets (eager): mean ≤ 1% at every slot count: ${check(perSlot)}; overall mean ≤ 0.5%: ${check(overall)} ` +
      `(${fmt.pct(eager.overallMeanGap)}); no case below the lower bound max(critical path, ⌈work/slots⌉), any mode: ${check(noneBelow)}.`,
    "",
    wideSection(cases),
  ].join("\n");
}

/**
 * The same graphs with wide steps (about one task in five takes 2–4 CPU slots, seeded per graph): strict
 * order (a wide step at the head of the queue leaves slots idle until it fits) against backfilling, with
 * the estimates known and without them (the scheduler then only knows the average of finished steps).
 */
function wideSection(cases: ReturnType<typeof loadStgCases>): string {
  const scores = scoreWide(cases, [4, 8, 16]);
  const rows = scores.map((s) => [
    `${s.slots} slots`,
    s.strict.toFixed(3),
    s.known.toFixed(3),
    s.unknown.toFixed(3),
    `${(((s.strict - s.known) / s.strict) * 100).toFixed(1)}%`,
    `${s.worse} of ${s.n}`,
  ]);
  const better = scores.every((s) => s.known <= s.strict);
  return [
    "STG with wide steps: makespan / lower bound max(critical path, ⌈Σ duration × cpus / slots⌉), mean over the graphs (docs/language.md: wide steps and backfilling).",
    "",
    table(
      [
        "slots",
        "strict order",
        "backfill, estimates",
        "backfill, no estimates",
        "gain",
        "cases backfill was later",
      ],
      rows,
    ),
    "",
    `Backfilling with estimates never worse on average than strict order: ${check(better)}. Without estimates ` +
      `a step is judged by the average of those that finished, a guess that can delay a wide step now and then.`,
  ].join("\n");
}
