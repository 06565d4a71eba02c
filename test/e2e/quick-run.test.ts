import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { loadedModules } from "../../bench/startup/loaded.mjs";
import { BIN, cli, copyExample, type CliResult } from "../helpers/cli.js";
import { tempDir } from "../helpers/procs.js";

/**
 * `tributary run [FLOW] [-j N] [--no-cache] [-q]` is parsed without commander (cli/quick-run.ts). The same command line
 * with one more option that changes nothing (`--schedule eager`, the default) goes through commander:
 * both must give the same outputs, messages and exit codes.
 */

/** Durations, run ids and the order of concurrent steps differ from run to run; nothing else may. */
function comparable(r: CliResult): CliResult {
  const strip = (s: string) =>
    s
      .replace(/\d+(\.\d+)?\s?(ms|s)\b/g, "T")
      .replace(/^\[\d+\/\d+\] /gm, "")
      .replace(/ \(\d+ left\)/g, "")
      .replace(/critical path T: .*? {2}· {2}parallelism [\d.]+×/g, "critical path, parallelism")
      .split("\n")
      .sort()
      .join("\n");
  return { code: r.code, stdout: strip(r.stdout), stderr: strip(r.stderr) };
}

/** Runs `args` twice in two copies of `setup`'s project: as given, and through commander. */
async function bothWays(setup: () => string, args: string[], runs = 1): Promise<[CliResult[], CliResult[]]> {
  const quick: CliResult[] = [];
  const full: CliResult[] = [];
  const a = setup();
  const b = setup();
  for (let k = 0; k < runs; k++) {
    quick.push(comparable(await cli(args, { cwd: a })));
    full.push(comparable(await cli([...args, "--schedule", "eager"], { cwd: b })));
  }
  return [quick, full];
}

function project(flow: string): () => string {
  return () => {
    const dir = tempDir();
    writeFileSync(join(dir, "pipeline.flow"), flow);
    return dir;
  };
}

describe("run [FLOW] [-j N] [--no-cache] [-q] without commander", () => {
  it("runs, then answers the unchanged rerun, as the full command line does", async () => {
    for (const args of [
      ["run"],
      ["run", "pipeline.flow", "-j", "2"],
      ["run", "-j2"],
      ["run", "--jobs=3", "pipeline.flow"],
      ["run", "--no-cache", "-j", "2"],
      ["run", "-q", "pipeline.flow"],
      ["run", "--quiet", "-j2"],
    ]) {
      const [quick, full] = await bothWays(() => copyExample("words"), args, 2);
      expect(quick).toEqual(full);
      expect(quick[0]!.code).toBe(0);
      // Without the cache, the rerun runs every step again; quiet, a run that went well says nothing.
      const quiet = args.includes("-q") || args.includes("--quiet");
      if (quiet) expect(quick[1]!.stderr).toBe("");
      else
        expect(quick[1]!.stderr).toMatch(args.includes("--no-cache") ? /4 ok · 0 cached/ : /0 ok · 4 cached/);
    }
  });

  it("a failing step, a bad -j and a missing flow file end the same way", async () => {
    const failing = project('a = sh("echo partial; exit 3")\nb = sh("echo fine")\nout a, b\n');
    const [q1, f1] = await bothWays(failing, ["run", "-j", "2"]);
    expect(q1).toEqual(f1);
    expect(q1[0]!.code).toBe(1);
    const ok = project('a = sh("echo fine")\nout a\n');
    for (const args of [
      ["run", "-j", "0"],
      ["run", "--parallel", "99999999999999999999"],
      ["run", "missing.flow"],
    ]) {
      const [q, f] = await bothWays(ok, args);
      expect(q).toEqual(f);
      expect(q[0]!.code).toBe(2);
    }
  });

  it("loads no commander; any other option, a target or a malformed -j goes to commander", async () => {
    const dir = copyExample("words");
    const commander = (args: string[]) =>
      loadedModules(process.execPath, [BIN, ...args], dir, {
        ...process.env,
        CI: "1",
        NO_COLOR: "1",
      }).urls.some((u) => u.includes("/node_modules/commander/"));
    expect(commander(["run", "pipeline.flow", "-j", "2"])).toBe(false);
    expect(commander(["run", "--no-cache", "pipeline.flow"])).toBe(false);
    expect(commander(["run", "pipeline.flow", "-q"])).toBe(false);
    expect(commander(["run", "pipeline.flow", "--json"])).toBe(true);
    // Commander's own message for a -j without a value.
    const r = await cli(["run", "pipeline.flow", "-j"], { cwd: dir });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/option '-j, --jobs <n>' argument missing/);
  });
});
