import { mkdirSync, readdirSync, statSync, truncateSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { cli } from "../helpers/cli.js";
import { tempDir } from "../helpers/procs.js";

/** A project directory holding one flow file. */
function project(flow: string): string {
  const dir = tempDir();
  writeFileSync(join(dir, "pipeline.flow"), flow);
  return dir;
}

/** Bytes of disk the files under `dir` take (their blocks, as du counts them). */
function diskUsage(dir: string): number {
  let n = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    try {
      n += e.isDirectory() ? diskUsage(p) : statSync(p).blocks * 512;
    } catch {
      // Removed while we looked.
    }
  }
  return n;
}

/** Sums the "… 12 MB not shown" notices of live output. */
function notShown(text: string): number {
  const unit: Record<string, number> = { B: 1, kB: 1e3, MB: 1e6, GB: 1e9 };
  let n = 0;
  for (const m of text.matchAll(/… ([\d.]+) (B|kB|MB|GB) not shown/g)) n += Number(m[1]) * unit[m[2]!]!;
  return n;
}

describe("output floods", () => {
  it("--verbose keeps up with a step writing 30 MB of short lines: shows a bounded part, counts the rest", async () => {
    // Printing this line by line took two minutes (one write per line); the budget shows 1000 lines a
    // second and counts the rest at the cost of a byte count per chunk.
    const dir = project(`flood = sh("yes | head -c 30000000 >&2; echo done")\nout flood\n`);
    const r = await cli(["run", "--verbose", "--no-cache"], { cwd: dir });
    expect(r.code).toBe(0);
    expect(r.stdout).toBe("done\n");
    const shown = r.stderr.split("\n").filter((l) => l === "flood | y").length;
    expect(shown).toBeGreaterThan(0);
    expect(r.stderr.length).toBeLessThan(1_000_000);
    expect(r.stderr).toContain("(live output shows at most 1000 lines a second per step;");
    // What was shown plus what was said not to be is all of it (notices round to 2-3 digits).
    const total = 2 * shown + notShown(r.stderr);
    expect(total).toBeGreaterThan(29_000_000);
    expect(total).toBeLessThan(31_000_000);
  });

  it("--json prints every byte of a step's output (what the --verbose notice points to)", async () => {
    const dir = project(`flood = sh("yes | head -c 5000000 >&2")\n`);
    const r = await cli(["run", "--json", "--no-cache"], { cwd: dir });
    expect(r.code).toBe(0);
    const chunks = r.stdout
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as { type: string; chunk?: string })
      .filter((e) => e.type === "step-output");
    expect(chunks.map((e) => e.chunk).join("")).toBe("y\n".repeat(2_500_000));
  });

  it("the job server keeps only the head and tail of a 200 MB flood on disk, and the value rules hold", async () => {
    const run = async (flow: string) => {
      const dir = project(flow);
      const tmp = join(dir, "tmp");
      mkdirSync(tmp);
      let peak = 0;
      let seen = 0;
      const sampler = setInterval(() => {
        if (readdirSync(tmp).some((f) => f.startsWith("tributary-jobs-"))) seen++;
        peak = Math.max(peak, diskUsage(tmp));
      }, 10);
      const r = await cli(["run", "--no-cache"], { cwd: dir, env: { TMPDIR: tmp } });
      clearInterval(sampler);
      return { ...r, peak, seen };
    };
    // 100 MB on each stream: stdout over the value limit fails the step, as before, naming it.
    const over = await run(`big = sh("yes out | head -c 100000000; yes err | head -c 100000000 >&2")\n`);
    expect(over.code).toBe(1);
    expect(over.stderr).toContain(
      "✗ big: value error: wrote more than 8388608 bytes to stdout, which would be its value",
    );
    expect(over.stderr).toContain("│ err\n");
    expect(over.seen).toBeGreaterThan(3);
    // The first 8 MiB of stdout (a value needs no more) and 16 KiB tails; the files held 200 MB before.
    expect(over.peak).toBeLessThan(10_000_000);

    // A value after 100 MB of log on stderr: the value is whole, the log took no disk to speak of.
    const log = await run(`v = sh("yes log | head -c 100000000 >&2; echo the value")\nout v\n`);
    expect(log.code).toBe(0);
    expect(log.stdout).toBe("the value\n");
    expect(log.seen).toBeGreaterThan(3);
    expect(log.peak).toBeLessThan(1_000_000);
  });
});

describe("flow files that are not flows", () => {
  it("refuses a flow file over 16 MiB with one line naming the limit, exit 2, without reading it", async () => {
    const dir = tempDir();
    // Sparse: 17 MB that take no disk, and would take GBs to compile.
    writeFileSync(join(dir, "big.flow"), "");
    truncateSync(join(dir, "big.flow"), 17_000_000);
    const r = await cli(["run", "big.flow"], { cwd: dir });
    expect(r.code).toBe(2);
    expect(r.stderr).toBe(
      "big.flow is larger than 16 MiB, the most a flow file may be; build a graph this big with the TypeScript API\n",
    );
    const dev = await cli(["check", "/dev/zero"], { cwd: dir });
    expect(dev.code).toBe(2);
    expect(dev.stderr).toMatch(/^\/dev\/zero is larger than 16 MiB/);
  });

  it("garbage gives its first diagnostics and a count of the rest, in bounded memory", async () => {
    // 400 kB of noise has ~120,000 diagnostics: formatting every one built a string of hundreds of MB
    // (5 MB died at 4.5 GB of heap). With the heap capped at 192 MB that died; now it needs ~135 MB RSS.
    const dir = tempDir();
    const bytes = Buffer.alloc(400_000);
    for (let i = 0; i < bytes.length; i++) bytes[i] = (i * 7919 + (i >> 8) * 104729) & 0xff;
    writeFileSync(join(dir, "garbage.flow"), bytes);
    const r = await cli(["check", "garbage.flow"], {
      cwd: dir,
      env: { NODE_OPTIONS: "--max-old-space-size=192" },
    });
    expect(r.code).toBe(2);
    const total = Number(/^(\d+) errors in garbage\.flow$/m.exec(r.stderr)?.[1]);
    expect(total).toBeGreaterThan(10_000);
    expect(r.stderr).toContain(`\n… and ${total - 100} more not shown\n`);
    expect(r.stderr.match(/^\S*garbage\.flow:\d+:\d+: error: /gm)).toHaveLength(100);
  });
});

describe("a run with many failures", () => {
  it("summarises 20, counts the rest, and --json (where the summary points) has every one", async () => {
    const steps = Array.from({ length: 30 }, (_, i) => `f${i + 1} = sh("echo out${i + 1}; exit 1")`);
    const dir = project(steps.join("\n") + "\n");
    const plain = await cli(["run", "--quiet", "--no-cache"], { cwd: dir });
    expect(plain.code).toBe(1);
    expect(plain.stderr.match(/^✗ f\d+: exit code 1/gm)).toHaveLength(20);
    expect(plain.stderr).toMatch(/^✗ … and 10 more failures: (f\d+, ){9}f\d+$/m);
    expect(plain.stderr).toContain("`tributary run --json` prints every failure");
    const json = await cli(["run", "--json", "--no-cache"], { cwd: dir });
    const failed = json.stdout
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as { type: string; status?: string; id?: string; outputTail?: string })
      .filter((e) => e.type === "step-end" && e.status === "failed");
    expect(failed).toHaveLength(30);
    for (const e of failed) expect(e.outputTail).toBe(`out${e.id!.slice(1)}\n`);
  });
});
