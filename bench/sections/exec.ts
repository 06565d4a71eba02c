import { spawnSync } from "node:child_process";
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { BENCH_TMP, fmt, heading, median, mustTime, progress, table } from "../util.js";
import { checkDist, REPO, repsOf, type SectionOptions } from "./common.js";

/** A C file worth compiling: a few hundred small functions. */
function source(): string {
  const fns = Array.from({ length: 300 }, (_, i) => `int f${i}(int x) { return x * ${i} + ${i % 7}; }`);
  return `#include <stdio.h>\n${fns.join("\n")}\n`;
}

function has(program: string): boolean {
  return spawnSync("sh", ["-c", `command -v ${program}`], { stdio: "ignore" }).status === 0;
}

/**
 * `tributary exec` on a cache hit, per call, beside ccache on a hit (when installed) and the plain compile
 * it saves: the cost of asking the cache from make, one process per object file.
 */
export function execSection(o: SectionOptions): string {
  const warning = checkDist();
  const dir = join(BENCH_TMP, "exec");
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(join(dir, "src"), { recursive: true });
  writeFileSync(join(dir, "src/a.c"), source());
  const reps = repsOf(o, 15, 5);
  const bin = `node ${join(REPO, "bin", "tributary.js")}`;
  const ccache = has("ccache");
  const rows: { name: string; cmd: string; env?: string }[] = [
    { name: "plain `cc -c` (what a hit saves)", cmd: "cc -c src/a.c -o build/a.o" },
    {
      name: "**`tributary exec`**, hit",
      cmd: `${bin} exec --in src/a.c --out build/a.o -- cc -c src/a.c -o build/a.o`,
    },
  ];
  if (ccache) {
    rows.push({
      name: "`ccache cc -c`, hit",
      cmd: "cc_dir=$PWD/.ccache CCACHE_DIR=$PWD/.ccache ccache cc -c src/a.c -o build/a.o",
    });
  }
  rows.push({ name: "`node -e 0` (Node start-up, for scale)", cmd: "node -e 0" });
  mkdirSync(join(dir, "build"), { recursive: true });
  // Warm each cache: the first call of each misses and stores.
  for (const r of rows) mustTime(r.cmd, dir, `exec: warm ${r.name}`);
  const ms = new Map<string, number[]>(rows.map((r) => [r.name, []]));
  for (let k = 0; k < reps; k++) {
    progress(`exec: round ${k + 1}/${reps}`);
    for (const r of rows) {
      rmSync(join(dir, "build/a.o"), { force: true });
      ms.get(r.name)!.push(mustTime(r.cmd, dir, `exec: ${r.name}`).ms);
    }
  }
  const med = (name: string) => median(ms.get(name)!);
  const ours = med(rows[1]!.name);
  const out = rows.map((r) => [r.name, fmt.ms(med(r.name)), `${(med(r.name) / ours).toFixed(2)}×`]);
  return (
    heading(
      "`tributary exec`: one command under the cache, per call on a hit",
      `Compiling a 300-function C file with the object deleted before each call, so a hit restores it; ` +
        `median of ${reps} calls each, rows interleaved. Ratios are to \`tributary exec\` (below 1: faster than it).` +
        (ccache ? "" : " ccache is not installed here: it has no row.") +
        (warning ? ` ${warning}` : ""),
    ) + `\n${table(["command", "wall per call", "vs tributary exec"], out)}`
  );
}
