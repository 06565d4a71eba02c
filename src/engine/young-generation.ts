import { setFlagsFromString } from "node:v8";

/**
 * How far V8 lets this process's young generation grow: the one heap setting the CLI changes.
 *
 * V8 starts the young generation at 1 MiB a half and doubles it while many objects survive their first
 * collection, up to 16 MiB a half on a 64-bit machine; it never shrinks it while the process is busy.
 * Compiling a large flow keeps its syntax tree alive, so the young generation reaches its maximum in the
 * first half second and stays there, and the larger it is the more short-lived garbage survives into
 * the old generation. An orchestrator's own objects are either long-lived (the graph, the results) or
 * garbage within a step, so the growth buys it nothing: on the 10,000-step W2 build the run's peak RSS
 * was 180 MiB with the growth and 119 MiB without it, in the same wall time (bench `w2-peers`).
 *
 * Code the user wrote is another matter: an in-process step allocates like any Node program, and a
 * small young generation made an allocation-heavy module step 2.3–2.8× slower. So the CLI keeps the
 * young generation small from its start, and `letYoungGenerationGrow` gives V8 its own policy back as
 * soon as a run has in-process or worker-thread steps, before they (or the threads) start.
 *
 * The setting is V8's `--semi-space-growth-factor`, which V8 reads each time it would grow the young
 * generation, so it works when set after start-up (where `--max-semi-space-size` is fixed by then). A V8
 * that does not know the flag would print an error on stdout, so it is only set on the V8 versions that
 * are known to have it (those of Node 20 to 24).
 */

const KNOWN_V8_MAJORS = new Set([11, 12, 13]);
const V8_DEFAULT_GROWTH = 2;

let keptSmall = false;

function setGrowthFactor(factor: number): void {
  setFlagsFromString(`--semi-space-growth-factor=${factor}`);
}

/** Keeps the young generation at its initial size from now on (the CLI calls this first thing). */
export function keepYoungGenerationSmall(): void {
  if (keptSmall || !KNOWN_V8_MAJORS.has(Number(process.versions.v8.split(".")[0]))) return;
  setGrowthFactor(1);
  keptSmall = true;
}

/** Gives V8 back its own growth policy, if `keepYoungGenerationSmall` took it (a library's host keeps its own). */
export function letYoungGenerationGrow(): void {
  if (!keptSmall) return;
  setGrowthFactor(V8_DEFAULT_GROWTH);
  keptSmall = false;
}
