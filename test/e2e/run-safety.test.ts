/**
 * A killed run never poisons the cache, and one checkout runs one run at a time: through the real CLI,
 * with real processes and kill -9.
 */
import { spawn, spawnSync } from "node:child_process";
import { readFileSync, writeFileSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { BIN, cli } from "../helpers/cli.js";
import { eventually, processesMatching, tempDir, uniqueSleep } from "../helpers/procs.js";

/**
 * Steps that write their output in two phases, waiting between them until the file `gate` exists (in
 * short sleeps of `nap`, by which the test finds them), so that a kill lands in the middle.
 */
function twoPhaseFlow(n: number, nap: string): string {
  const steps = Array.from(
    { length: n },
    (_, i) =>
      `s${i} = sh("echo first-${i} > \${output("out/f${i}.txt")}; until [ -e gate ]; do sleep ${nap}; done; echo second-${i} >> \${output("out/f${i}.txt")}")`,
  );
  const all = `all = sh("cat ${Array.from({ length: n }, (_, i) => `\${s${i}}`).join(" ")} > \${output("out/all.txt")}")`;
  return [...steps, all, "out all", ""].join("\n");
}

function start(args: string[], cwd: string, env: NodeJS.ProcessEnv = {}) {
  return spawn(process.execPath, [BIN, ...args], {
    cwd,
    env: { ...process.env, CI: "1", NO_COLOR: "1", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
}

describe.each(["auto", "direct"])("a run killed with kill -9 (spawn: %s)", (spawnMode) => {
  it("leaves no step running, and the rerun right after writes and caches only correct files", async () => {
    const dir = tempDir();
    const nap = uniqueSleep().replace(/^\d+/, "0");
    writeFileSync(join(dir, "pipeline.flow"), twoPhaseFlow(4, nap));
    const run = start(["run", "-j", "4"], dir, { TRIBUTARY_SPAWN: spawnMode });
    // Kill the orchestrator while every step sits between its two writes.
    expect(await eventually(() => processesMatching(`sleep ${nap}`).length >= 4)).toBe(true);
    run.kill("SIGKILL");
    // Its steps die with it (the job server, the reaper): without the gate they would wait forever.
    expect(await eventually(() => processesMatching(`sleep ${nap}`).length === 0)).toBe(true);
    writeFileSync(join(dir, "gate"), "");

    const again = await cli(["run", "-j", "4"], { cwd: dir });
    expect(again.code).toBe(0);
    for (let i = 0; i < 4; i++) {
      expect(readFileSync(join(dir, `out/f${i}.txt`), "utf8")).toBe(`first-${i}\nsecond-${i}\n`);
    }
    // What the cache holds is right too: a clean checkout restores the same files.
    const clean = tempDir();
    writeFileSync(join(clean, "pipeline.flow"), twoPhaseFlow(4, nap));
    writeFileSync(join(clean, "gate"), "");
    const restored = await cli(["run", "--cache-dir", join(dir, ".tributary/cache")], { cwd: clean });
    expect(restored.code).toBe(0);
    expect(restored.stderr).toMatch(/5 cached/);
    for (let i = 0; i < 4; i++) {
      expect(readFileSync(join(clean, `out/f${i}.txt`), "utf8")).toBe(`first-${i}\nsecond-${i}\n`);
    }
  });
});

describe.each(["auto", "direct"])("a process that left its step's process group (spawn: %s)", (spawnMode) => {
  // setsid: a new session, so stopping the step's group does not reach it; only its owner mark does.
  const escaping = (nap: string, wait: string) =>
    `s = sh("setsid sleep ${nap} > /dev/null 2>&1 < /dev/null & ${wait} echo started")\nout s\n`;

  it("dies when the run ends", async () => {
    const dir = tempDir();
    const nap = uniqueSleep();
    writeFileSync(join(dir, "pipeline.flow"), escaping(nap, ""));
    const r = await cli(["run"], { cwd: dir, env: { TRIBUTARY_SPAWN: spawnMode } });
    expect(r.code, r.stderr).toBe(0);
    expect(await eventually(() => processesMatching(`sleep ${nap}`).length === 0)).toBe(true);
  });

  it("dies when the run is killed with kill -9", async () => {
    const dir = tempDir();
    const nap = uniqueSleep();
    const hold = uniqueSleep();
    writeFileSync(join(dir, "pipeline.flow"), escaping(nap, `sleep ${hold};`));
    const run = start(["run"], dir, { TRIBUTARY_SPAWN: spawnMode });
    // The escaped sleep, and the step's shell whose command line names it too.
    expect(await eventually(() => processesMatching(`sleep ${hold}`).length >= 1)).toBe(true);
    expect(processesMatching(`sleep ${nap}`).length).toBeGreaterThanOrEqual(2);
    run.kill("SIGKILL");
    expect(await eventually(() => processesMatching(`sleep ${nap}`).length === 0)).toBe(true);
    expect(await eventually(() => processesMatching(`sleep ${hold}`).length === 0)).toBe(true);
  });
});

describe("one run per checkout", () => {
  it("a second run refuses at once, naming the running one; the first finishes correctly", async () => {
    const dir = tempDir();
    // The first run's step waits for a file the test writes once the second run has been refused.
    const marker = uniqueSleep().replace(/^\d+/, "0");
    writeFileSync(
      join(dir, "pipeline.flow"),
      `a = sh("until [ -e go ]; do sleep ${marker}; done; echo done > \${output("out/a.txt")}")\nout a\n`,
    );
    const first = start(["run"], dir);
    const done = new Promise<number | null>((r) => first.on("close", r));
    expect(await eventually(() => processesMatching(`sleep ${marker}`).length > 0)).toBe(true);
    const second = await cli(["run"], { cwd: dir });
    expect(second.code).toBe(1);
    expect(second.stderr).toMatch(new RegExp(`another run is using this project: pid ${first.pid} \\(`));
    writeFileSync(join(dir, "go"), "");
    expect(await done).toBe(0);
    expect(readFileSync(join(dir, "out/a.txt"), "utf8")).toBe("done\n");
  });

  it("takes over the lock of a run that died, stopping what it left running", async () => {
    const dir = tempDir();
    writeFileSync(join(dir, "pipeline.flow"), 'a = sh("echo ok")\nout a\n');
    // A dead run: its pid is gone, and one of its processes (carrying its token) still runs.
    const dead = spawnSync(process.execPath, ["-e", "console.log(process.pid)"], { encoding: "utf8" });
    const token = "deadbeefdeadbeefdeadbeef";
    const marker = uniqueSleep().replace(/^\d+/, "300");
    const leftover = spawn("sleep", [marker], {
      env: { ...process.env, TRIBUTARY_STEP_OWNER: token },
      detached: true,
      stdio: "ignore",
    });
    leftover.unref();
    mkdirSync(join(dir, ".tributary"), { recursive: true });
    const holder = {
      pid: Number(dead.stdout.trim()),
      host: (await import("node:os")).hostname(),
      token,
      command: "tributary run",
      at: "earlier",
    };
    writeFileSync(join(dir, ".tributary/run.lock"), JSON.stringify(holder));
    expect(processesMatching(`sleep ${marker}`)).toEqual([leftover.pid]);

    const r = await cli(["run"], { cwd: dir });
    expect(r.code).toBe(0);
    expect(r.stdout.trim()).toBe("ok");
    expect(await eventually(() => processesMatching(`sleep ${marker}`).length === 0, 3000)).toBe(true);
  });
});
