/**
 * Modules for batch.flow: parse a JSON-lines file, judge every run (a simulated model call that
 * sometimes fails), and summarise, keeping the failures visible instead of losing the batch.
 */
import { z } from "zod";
import { module } from "tributary-flow/module";

const Run = z.object({ id: z.string(), answer: z.string() });
const Score = z.object({ id: z.string(), score: z.number().min(0).max(1) });

/** The text of a JSON-lines file (as printed by `cat`) -> one record per line. */
export const ParseRuns = module({
  input: [z.string()],
  output: z.array(Run),
  run: (text) =>
    text
      .split("\n")
      .filter((line) => line.trim() !== "")
      .map((line) => Run.parse(JSON.parse(line))),
});

/** Scores one answer. "UPSTREAM-503" answers fail every time, as a broken upstream would. */
export const Judge = module({
  input: [Run, z.string()],
  output: Score,
  async run(run, expected) {
    await new Promise((resolve) => setTimeout(resolve, 30 + ((run.id.length * 17) % 60)));
    if (run.answer.includes("UPSTREAM-503")) throw new Error(`judge upstream said 503 for ${run.id}`);
    const hit = run.answer.toLowerCase().includes(expected.toLowerCase());
    return { id: run.id, score: hit ? (run.answer.length < 40 ? 1 : 0.8) : 0 };
  },
});

/** What a `partial` consumer gets for a failed item (see docs/language.md). */
const Failure = z.object({
  key: z.string(),
  index: z.number(),
  item: z.unknown(),
  status: z.string(),
  error: z.unknown(),
});

/** With `partial: true` the flow hands over the successes and a record of each failure. */
export const Summarize = module({
  input: [z.object({ ok: z.array(Score), failed: z.array(Failure) }), z.string()],
  output: z.object({
    judged: z.number(),
    failed: z.array(z.string()),
    mean: z.number(),
    best: z.array(z.string()),
    lines: z.number(),
  }),
  run: (scores, lines) => {
    const mean = scores.ok.reduce((s, x) => s + x.score, 0) / Math.max(1, scores.ok.length);
    return {
      judged: scores.ok.length,
      failed: scores.failed.map((f) => `${f.key}: ${f.status}`),
      mean: Math.round(mean * 100) / 100,
      best: scores.ok.filter((s) => s.score === 1).map((s) => s.id),
      lines: Number(lines),
    };
  },
});
