import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { cli } from "../helpers/cli.js";
import { tempDir } from "../helpers/procs.js";

/** Each step prints what a runtime inside it would see; `nproc` (coreutils) itself obeys OMP_NUM_THREADS. */
const FLOW = `
one   = sh("echo $(nproc) omp=$OMP_NUM_THREADS blas=$OPENBLAS_NUM_THREADS go=$GOMAXPROCS rayon=$RAYON_NUM_THREADS")
four  = sh("echo $(nproc) omp=$OMP_NUM_THREADS go=$GOMAXPROCS") with cpus: 4
none  = sh("echo omp=$OMP_NUM_THREADS") with cpus: 0
out one, four, none
`;

async function values(env: NodeJS.ProcessEnv = {}) {
  const dir = tempDir();
  writeFileSync(join(dir, "pipeline.flow"), FLOW);
  const r = await cli(["run", "--no-cache", "-j", "3"], { cwd: dir, env });
  expect(r.code, r.stderr).toBe(0);
  return Object.fromEntries(
    r.stdout
      .trim()
      .split("\n")
      .map((l) => l.split(": ") as [string, string]),
  );
}

describe("thread hygiene: a process step uses as many threads as the slots it holds", () => {
  it("sets the thread-count variables to the step's cpus, at most -j and at least 1", async () => {
    const env = {
      OMP_NUM_THREADS: undefined,
      OPENBLAS_NUM_THREADS: undefined,
      GOMAXPROCS: undefined,
      RAYON_NUM_THREADS: undefined,
    };
    const v = await values(env);
    expect(v.one).toBe("1 omp=1 blas=1 go=1 rayon=1");
    // cpus: 4 under -j 3 holds 3 slots: it is told 3, and nproc (an OpenMP-aware tool) answers 3.
    expect(v.four).toBe("3 omp=3 go=3");
    expect(v.none).toBe("omp=1");
  });

  it("leaves alone a variable the environment already sets: an explicit choice wins", async () => {
    const v = await values({ OMP_NUM_THREADS: "7", GOMAXPROCS: undefined, OPENBLAS_NUM_THREADS: undefined });
    expect(v.one).toMatch(/^7 omp=7 blas=1 go=1 /);
    expect(v.four).toBe("7 omp=7 go=3");
  });
});
