import type { ScheduleMode } from "../../src/engine/scheduler.js";
import { loadStgCases, scoreStg } from "../stg.js";
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
  ].join("\n");
}
