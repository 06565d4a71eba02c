/**
 * Thread hygiene: a process step is told to use as many threads as the CPU slots it holds, so that a
 * numpy, OpenMP, Rust or Go program does not start one thread per core of the machine on top of the
 * other steps the scheduler runs beside it (the orchestrator that knows the graph sizes the parallelism;
 * inner layers must not fight it).
 */

/** The variables that size the thread pools of common runtimes and libraries. Documented in docs/resources.md. */
export const THREAD_COUNT_VARIABLES = [
  // OpenMP (gcc, clang, most scientific C/C++/Fortran) and the BLAS/LAPACK builds numpy and scipy use.
  "OMP_NUM_THREADS",
  "OPENBLAS_NUM_THREADS",
  "MKL_NUM_THREADS",
  "BLIS_NUM_THREADS",
  "VECLIB_MAXIMUM_THREADS",
  // numexpr (pandas), numba, polars, PyTorch's and TensorFlow's intra-op pools.
  "NUMEXPR_NUM_THREADS",
  "NUMEXPR_MAX_THREADS",
  "NUMBA_NUM_THREADS",
  "POLARS_MAX_THREADS",
  "TF_NUM_INTRAOP_THREADS",
  // Rust's rayon, Go's scheduler, Julia, and libuv's pool (Node's fs, dns, crypto).
  "RAYON_NUM_THREADS",
  "GOMAXPROCS",
  "JULIA_NUM_THREADS",
  "UV_THREADPOOL_SIZE",
] as const;

/**
 * The variables to add to a step's environment: every thread-count variable set to `cpus` (at least
 * 1: a step that holds no slot still runs on one thread), except those the step's own `env:` or the
 * environment Tributary was started with already sets — an explicit choice wins over the default.
 */
export function threadEnv(
  cpus: number,
  runEnv: NodeJS.ProcessEnv,
  stepEnv: Record<string, string> | undefined,
): Record<string, string> {
  const n = String(Math.max(1, Math.floor(cpus)));
  const out: Record<string, string> = {};
  for (const name of THREAD_COUNT_VARIABLES) {
    if (runEnv[name] === undefined && stepEnv?.[name] === undefined) out[name] = n;
  }
  return out;
}
