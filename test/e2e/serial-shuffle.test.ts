import { rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { cli, jsonEvents } from "../helpers/cli.js";
import { tempDir } from "../helpers/procs.js";

/** report reads what write makes, but the flow does not say so: a missing dependency. */
const RACE = `
write  = sh("mkdir -p build && echo 42 > build/data.txt") with cache: false
report = sh("cat build/data.txt") with cache: false
`;

/** Eight independent steps, none of them holding a CPU slot, each leaving its start and end time. */
const WIDE = Array.from(
  { length: 8 },
  (_, i) => `s${(i * 5) % 8} = sh("echo start ${i}; sleep 0.05; echo end ${i}") with cpus: 0`,
).join("\n");

function project(flow: string): string {
  const dir = tempDir();
  writeFileSync(join(dir, "pipeline.flow"), flow);
  return dir;
}

/** The order steps started in, from the --json events. */
async function startOrder(dir: string, args: string[]) {
  const r = await cli(["run", "--json", "--no-cache", ...args], { cwd: dir });
  const starts = jsonEvents(r.stdout)
    .filter((e) => e.type === "step-start")
    .map((e) => e.id as string);
  return { ...r, starts };
}

describe("--shuffle: a seeded random order that exposes missing dependencies", () => {
  it("some seeds run report before write (it fails), and a seed repeats its order", async () => {
    const dir = project(RACE);
    const outcomes = new Map<number, string>();
    for (let seed = 1; seed <= 8; seed++) {
      rmSync(join(dir, "build"), { recursive: true, force: true });
      const r = await startOrder(dir, [`--shuffle=${seed}`, "-j", "1", "--keep-going"]);
      expect(r.stderr).toContain(`shuffle: seed ${seed} (repeat this order with --shuffle=${seed} -j 1)`);
      outcomes.set(seed, r.starts.join(","));
      // The race shows: report before write fails.
      if (r.starts[0] === "report") expect(r.code).toBe(1);
      else expect(r.code).toBe(0);
      rmSync(join(dir, "build"), { recursive: true, force: true });
      const again = await startOrder(dir, [`--shuffle=${seed}`, "-j", "1", "--keep-going"]);
      expect(again.starts).toEqual(r.starts);
    }
    // Both orders occur among the seeds (the declared order alone would never show the bug).
    expect(new Set(outcomes.values())).toEqual(new Set(["write,report", "report,write"]));
  });

  it("without a seed draws one and prints it; a bad seed is a usage error", async () => {
    const dir = project(WIDE);
    const r = await startOrder(dir, ["--shuffle", "-j", "1"]);
    expect(r.code, r.stderr).toBe(0);
    const seed = /shuffle: seed (\d+) /.exec(r.stderr)?.[1];
    expect(seed).toBeDefined();
    expect((await startOrder(dir, [`--shuffle=${seed}`, "-j", "1"])).starts).toEqual(r.starts);

    const bad = await cli(["run", "--shuffle=-3"], { cwd: dir });
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('--shuffle takes a seed, a whole number below 4294967296, got "-3"');
  });
});

describe("--serial: one step at a time, in declaration order, output in blocks", () => {
  it("runs even cpus: 0 steps one at a time, in the order the flow declares them", async () => {
    const dir = project(WIDE);
    const r = await cli(["run", "--json", "--serial", "--no-cache"], { cwd: dir });
    expect(r.code, r.stderr).toBe(0);
    const events = jsonEvents(r.stdout);
    const starts = events.filter((e) => e.type === "step-start").map((e) => e.id as string);
    expect(starts).toEqual(["s0", "s5", "s2", "s7", "s4", "s1", "s6", "s3"]);
    // Never two at once: every step ends before the next one starts.
    let running = 0;
    for (const e of events) {
      if (e.type === "step-start") expect(++running).toBe(1);
      if (e.type === "step-end") running--;
    }
  });

  it("prints each step's output as one block, without being asked for --verbose", async () => {
    const dir = project(WIDE);
    const r = await cli(["run", "--serial", "--no-cache"], { cwd: dir });
    expect(r.code, r.stderr).toBe(0);
    const lines = r.stderr.split("\n").filter((l) => /^s\d \| /.test(l));
    expect(lines).toHaveLength(16);
    for (let i = 0; i < 16; i += 2) {
      expect(lines[i]).toMatch(/^s\d \| start \d$/);
      expect(lines[i + 1]).toBe(lines[i]!.replace("start", "end"));
    }
  });

  it("refuses -j and --shuffle beside it", async () => {
    const dir = project(WIDE);
    const r = await cli(["run", "--serial", "-j", "4"], { cwd: dir });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("cannot be used with");
  });
});
