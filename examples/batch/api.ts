/**
 * Batch I/O through the TS API: 60 subprocess calls, at most 6 at a time, a few of which fail.
 * The failures are isolated; everything else finishes and the summary says what failed and why.
 * Run: node_modules/.bin/tsx examples/batch/api.ts
 */
import { flow } from "../../src/index.js";

const t = flow();
for (let i = 1; i <= 60; i++) {
  // Every 13th call fails, as a flaky API would; the others take 20-110 ms.
  const ms = 20 + ((i * 37) % 90);
  t.sh({ id: `call${String(i).padStart(2, "0")}`, module: "judge" })`sleep ${ms / 1000}; ${
    i % 13 === 0 ? "echo 'upstream said 503' >&2; exit 1" : `echo score=${i % 7}`
  }`;
}
t.limit("judge", { concurrency: 6 });

const result = await t.run(undefined, { concurrency: 8 });
const s = result.summary;
for (const step of result.steps.filter((x) => x.status === "failed")) {
  console.log(`${step.id} failed: ${step.error?.message}: ${step.outputTail?.trim()}`);
}
console.log(
  `${s.ok} ok, ${s.failed} failed in ${(s.wallMs / 1000).toFixed(2)} s ` +
    `(${(s.workMs / 1000).toFixed(2)} s of work, parallelism ${(s.workMs / s.wallMs).toFixed(1)}x)`,
);
