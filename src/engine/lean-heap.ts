import { setFlagsFromString } from "node:v8";

/**
 * How far V8 lets this process's heap grow: the one heap setting the CLI changes, for a large flow.
 *
 * V8 starts the young generation at 1 MiB a half and doubles it while many objects survive their first
 * collection, up to 16 MiB a half on a 64-bit machine; it never shrinks it while the process is busy.
 * Compiling a large flow keeps its syntax tree alive, so the young generation reaches its maximum in the
 * first half second and stays there, and the larger it is the more short-lived garbage survives into
 * the old generation, which V8 then lets grow to several times what is live before it collects it. An
 * orchestrator's own objects are either long-lived (the graph, the results) or garbage within a step,
 * so neither growth buys it anything. On the 10,000-step W2 build (bench `w2-peers`) the peak RSS was
 * 174–182 MiB with V8's policy, 123–160 MiB with the young generation kept at its initial size, and
 * 113–116 MiB when the old generation is also collected once it has grown by a quarter, with no
 * difference in wall or CPU time beyond this machine's noise.
 *
 * It has two costs, so the CLI keeps the heap lean only for a large flow (`LARGE_FLOW_BYTES`), before
 * compiling it:
 * - Changing a V8 flag after start-up makes Node compile each built-in module it loads afterwards from
 *   source, as its code cache no longer matches the flags: the first step of a one-step run started
 *   30 ms later. A large flow's compilation alone takes longer than that.
 * - Code the user wrote allocates like any Node program: a small young generation made an
 *   allocation-heavy module step 2.3–2.8× slower. So `letHeapGrow` gives V8 its own policy back as soon
 *   as a run has in-process or worker-thread steps, before they (or the threads) start.
 *
 * The settings are V8's `--semi-space-growth-factor` and `--heap-growing-percent`, which V8 reads each
 * time it would grow the heap, so they work when set after start-up (where `--max-semi-space-size` is
 * fixed by then). A V8 that does not know a flag would print an error on stdout, so they are only set on
 * the V8 versions known to have them (those of Node 20 to 24).
 */

/** A flow file this large (about a thousand steps) is compiled and run with a lean heap. */
export const LARGE_FLOW_BYTES = 128 * 1024;

const KNOWN_V8_MAJORS = new Set([11, 12, 13]);
const LEAN = "--semi-space-growth-factor=1 --heap-growing-percent=25";
/** V8's defaults: double the young generation; 0 lets V8 choose the old generation's growth. */
const V8_DEFAULTS = "--semi-space-growth-factor=2 --heap-growing-percent=0";

let lean = false;

/** Keeps the heap lean from now on (the CLI, before compiling a large flow). */
export function keepHeapLean(): void {
  if (lean || !KNOWN_V8_MAJORS.has(Number(process.versions.v8.split(".")[0]))) return;
  setFlagsFromString(LEAN);
  lean = true;
}

/** Gives V8 back its own heap policy, if `keepHeapLean` took it (a library's host keeps its own). */
export function letHeapGrow(): void {
  if (!lean) return;
  setFlagsFromString(V8_DEFAULTS);
  lean = false;
}
