import type { Plan } from "../engine/plan.js";
import { formatDuration } from "../graph/units.js";

/** A plan as a table: when each step starts, whether it runs or is cached, its estimate, and why. */
export function formatPlan(plan: Plan): string {
  const idWidth = Math.min(40, Math.max(4, ...plan.steps.map((s) => s.id.length)));
  const lines = [`${"start".padStart(8)}  ${"step".padEnd(idWidth)}  ${"status".padEnd(6)}  est      why`];
  for (const s of plan.steps) {
    const est = s.estimateMs === undefined ? "?" : formatDuration(s.estimateMs);
    const start = s.status === "cached" ? "-" : formatDuration(s.startMs);
    lines.push(
      `${start.padStart(8)}  ${s.id.padEnd(idWidth)}  ${s.status.padEnd(6)}  ${est.padEnd(7)}  ${s.reason}`,
    );
  }
  const runs = plan.steps.filter((s) => s.status === "run").length;
  const cached = plan.steps.length - runs;
  const wall =
    plan.wallMs === undefined
      ? `wall time unknown (${plan.unknownEstimates} step${plan.unknownEstimates === 1 ? "" : "s"} never timed: run once, or declare \`with estimate:\`)`
      : `estimated wall ${formatDuration(plan.wallMs)}`;
  lines.push(
    `${plan.steps.length} steps: ${runs} to run, ${cached} cached; ${plan.concurrency} slots, ${plan.mode} order; ${wall}`,
  );
  return `${lines.join("\n")}\n`;
}
