import { execFileSync, spawn } from "node:child_process";
import {
  closeSync,
  constants,
  existsSync,
  openSync,
  readFileSync,
  readSync,
  writeFileSync,
  writeSync,
} from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { BIN, cli, type CliResult } from "../helpers/cli.js";
import { tempDir } from "../helpers/procs.js";

/**
 * Each job (a step, or a make target) appends its start and end to `log` and waits, at most 10 s,
 * until `$1` jobs have started. The overlap is computed from the recorded intervals, never from wall
 * time: a jobserver that hands out too many tokens shows as more overlap than allowed, one that hands
 * out too few as less than expected (the wait runs out), and a slow machine as neither.
 */
const PROBE = `#!/bin/sh
echo "+ $(date +%s%N)" >> log
n=0
while [ "$(grep -c '^+' log)" -lt "$1" ] && [ $n -lt 200 ]; do sleep 0.05; n=$((n+1)); done
sleep 0.1
echo "- $(date +%s%N)" >> log
`;

/** A project of `steps` independent steps, each a probe waiting for `barrier` jobs. */
function project(steps: number, barrier: number): string {
  const dir = tempDir();
  writeFileSync(join(dir, "probe.sh"), PROBE);
  const items = Array.from({ length: steps }, (_, k) => k + 1).join(", ");
  writeFileSync(
    join(dir, "pipeline.flow"),
    `in items: List<Int> = [${items}]\nprobes = for i in items: sh("sh probe.sh ${barrier}") with cache: false\nout probes\n`,
  );
  return dir;
}

/** The most jobs the log shows running at once, and how many ran. */
function overlap(dir: string): { max: number; jobs: number } {
  const events = readFileSync(join(dir, "log"), "utf8")
    .trim()
    .split("\n")
    .map((l) => {
      const [sign, ns] = l.split(" ");
      return { start: sign === "+", at: BigInt(ns!) };
    })
    // An end and a start at the same nanosecond: the end first (the token was back before).
    .sort((a, b) => (a.at === b.at ? Number(a.start) - Number(b.start) : a.at < b.at ? -1 : 1));
  let running = 0;
  let max = 0;
  for (const e of events) {
    running += e.start ? 1 : -1;
    max = Math.max(max, running);
  }
  return { max, jobs: events.filter((e) => e.start).length };
}

/**
 * Plays make 4.4's part: a fifo holding `tokens` (distinct bytes, to see that exactly those come back),
 * kept open for reading and writing as make keeps it.
 */
function fifoJobserver(dir: string, tokens: string) {
  const path = join(dir, "jobserver.fifo");
  execFileSync("mkfifo", [path]);
  const fd = openSync(path, constants.O_RDWR | constants.O_NONBLOCK);
  if (tokens) writeSync(fd, tokens);
  return {
    path,
    fd,
    /** The tokens in the fifo now, in sorted order (read, then written back). */
    tokens(): string {
      const buf = Buffer.alloc(64);
      let got = "";
      for (;;) {
        let n: number;
        try {
          n = readSync(fd, buf);
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code === "EAGAIN") break;
          throw err;
        }
        got += buf.toString("latin1", 0, n);
      }
      if (got) writeSync(fd, got);
      return [...got].sort().join("");
    },
    close: () => closeSync(fd),
  };
}

function makeVersion(): number[] {
  const out = execFileSync("make", ["--version"], { encoding: "utf8" });
  const m = /GNU Make (\d+)\.(\d+)/.exec(out);
  if (!m) throw new Error(`make is not GNU make: ${out.split("\n")[0]}`);
  return [Number(m[1]), Number(m[2])];
}

/** Runs real GNU make in `dir` (its own MAKEFLAGS only: the test's environment must not leak in). */
function runMake(dir: string, args: string[]): Promise<CliResult> {
  return new Promise((resolve) => {
    const child = spawn("make", args, {
      cwd: dir,
      env: { ...process.env, MAKEFLAGS: "", MFLAGS: "", MAKELEVEL: "", CI: "1", NO_COLOR: "1" },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (b: Buffer) => (stdout += b));
    child.stderr.on("data", (b: Buffer) => (stderr += b));
    child.on("close", (code) => resolve({ code, stdout, stderr }));
  });
}

const TRIBUTARY = `${JSON.stringify(process.execPath)} ${JSON.stringify(BIN)}`;

describe("jobserver client: under make -jN the whole tree never runs more than N jobs", () => {
  it("make 4.3+ (pipe form): a +recipe running `tributary run -j 8` of 10 steps runs at most 3 at once under make -j3", async () => {
    const [major, minor] = makeVersion();
    expect(major! * 100 + minor!, "GNU make 4.3 or later").toBeGreaterThanOrEqual(403);
    const dir = project(10, 3);
    writeFileSync(join(dir, "Makefile"), `all:\n\t+${TRIBUTARY} run -j 8 --quiet\n`);
    const r = await runMake(dir, ["-j3"]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).not.toMatch(/jobserver/);
    // Three at once (the barrier waits for them), never four.
    expect(overlap(dir)).toEqual({ max: 3, jobs: 10 });
  });

  it("make 4.4's fifo form (make played by the test): at most 4 at once under -j4, and exactly the tokens read go back", async () => {
    const dir = project(10, 4);
    const js = fifoJobserver(dir, "abc");
    try {
      const r = await cli(["run", "-j", "8", "--quiet"], {
        cwd: dir,
        env: { MAKEFLAGS: ` -j4 --jobserver-auth=fifo:${js.path}` },
      });
      expect(r.code, r.stderr).toBe(0);
      expect(r.stderr).toBe("");
      expect(overlap(dir)).toEqual({ max: 4, jobs: 10 });
      expect(js.tokens()).toBe("abc");
    } finally {
      js.close();
    }
  });

  it("the pipe form with fds 3,4 (make played by the test): the same, and the same bytes back", async () => {
    const dir = project(10, 3);
    const js = fifoJobserver(dir, "xy");
    try {
      const r = await cli(["run", "-j", "8", "--quiet"], {
        cwd: dir,
        env: { MAKEFLAGS: " -j3 --jobserver-auth=3,4" },
        fds: [js.fd, js.fd],
      });
      expect(r.code, r.stderr).toBe(0);
      expect(overlap(dir)).toEqual({ max: 3, jobs: 10 });
      expect(js.tokens()).toBe("xy");
    } finally {
      js.close();
    }
  });

  it("steps with cpus: 0 need no token: they run beside the one the implicit slot allows", async () => {
    const dir = tempDir();
    writeFileSync(join(dir, "probe.sh"), PROBE);
    writeFileSync(
      join(dir, "pipeline.flow"),
      `in items: List<Int> = [1, 2, 3]\nprobes = for i in items: sh("sh probe.sh 3") with cache: false, cpus: 0\nout probes\n`,
    );
    // An empty jobserver: only the implicit slot, which cpus: 0 steps do not even use.
    const js = fifoJobserver(dir, "");
    try {
      const r = await cli(["run", "-j", "2", "--quiet"], {
        cwd: dir,
        env: { MAKEFLAGS: ` -j1 --jobserver-auth=fifo:${js.path}` },
      });
      expect(r.code, r.stderr).toBe(0);
      expect(overlap(dir)).toEqual({ max: 3, jobs: 3 });
    } finally {
      js.close();
    }
  });

  it("Ctrl-C mid-run gives back every token it took, and only those", async () => {
    const dir = tempDir();
    writeFileSync(
      join(dir, "pipeline.flow"),
      `in items: List<Int> = [1, 2, 3, 4, 5, 6]\nlong = for i in items: sh("echo + >> log; sleep 30") with cache: false\nout long\n`,
    );
    const js = fifoJobserver(dir, "abc");
    try {
      let pid = 0;
      const run = cli(["run", "-j", "8", "--quiet"], {
        cwd: dir,
        env: { MAKEFLAGS: ` -j4 --jobserver-auth=fifo:${js.path}` },
        onSpawn: (p) => (pid = p),
      });
      const log = join(dir, "log");
      // Four steps hold the implicit slot and all three tokens.
      while (!existsSync(log) || readFileSync(log, "utf8").split("\n").length < 5)
        await new Promise((r) => setTimeout(r, 50));
      expect(js.tokens()).toBe("");
      process.kill(pid, "SIGINT");
      const r = await run;
      expect(r.code).not.toBe(0);
      expect(js.tokens()).toBe("abc");
    } finally {
      js.close();
    }
  });
});

describe("jobserver client: tokens come back whatever ends the run", () => {
  it("an uncaught exception mid-run: every token lent to a running step goes back on exit", async () => {
    const dir = tempDir();
    writeFileSync(
      join(dir, "mods.mjs"),
      [
        'import { existsSync, readFileSync } from "node:fs";',
        "export async function Crash() {",
        "  // Once four sleepers hold the implicit slot and all three tokens, the process dies.",
        '  while (!existsSync("log") || readFileSync("log", "utf8").split("\\n").length < 5)',
        "    await new Promise((r) => setTimeout(r, 20));",
        '  setTimeout(() => { throw new Error("boom"); }, 0);',
        "  return new Promise(() => {});",
        "}",
        "",
      ].join("\n"),
    );
    writeFileSync(
      join(dir, "pipeline.flow"),
      [
        'use "./mods.mjs"',
        "in items: List<Int> = [1, 2, 3, 4, 5, 6]",
        'sleepers = for i in items: sh("echo + >> log; sleep 5") with cache: false',
        "crash = Crash() with cpus: 0, cache: false",
        "out sleepers, crash",
        "",
      ].join("\n"),
    );
    const js = fifoJobserver(dir, "abc");
    try {
      const r = await cli(["run", "-j", "8", "--quiet"], {
        cwd: dir,
        env: { MAKEFLAGS: ` -j4 --jobserver-auth=fifo:${js.path}` },
      });
      expect(r.stderr).toMatch(/boom/);
      expect(r.code).not.toBe(0);
      expect(js.tokens()).toBe("abc");
    } finally {
      js.close();
    }
  });

  it("--fail-fast cancels the steps waiting for a token; a retried step waits for one again", async () => {
    const dir = tempDir();
    writeFileSync(
      join(dir, "pipeline.flow"),
      [
        'fails = sh("exit 3") with priority: high, cache: false',
        'w1 = sh("sleep 0.1") with cache: false',
        'w2 = sh("sleep 0.1") with cache: false',
        'w3 = sh("sleep 0.1") with cache: false',
        "out fails, w1, w2, w3",
        "",
      ].join("\n"),
    );
    // No token at all: one step at a time, the failing one first; the rest wait for a slot.
    const js = fifoJobserver(dir, "");
    try {
      const r = await cli(["run", "-j", "4", "--fail-fast"], {
        cwd: dir,
        env: { MAKEFLAGS: ` -j1 --jobserver-auth=fifo:${js.path}` },
      });
      expect(r.code).toBe(1);
      expect(r.stdout + r.stderr).toMatch(/3 cancelled/);
    } finally {
      js.close();
    }
    const retry = tempDir();
    writeFileSync(
      join(retry, "pipeline.flow"),
      'in items: List<Int> = [1, 2, 3]\nflaky = for i in items: sh("test -e m${i} || { touch m${i}; exit 1; }") with retry: 1, cache: false\nout flaky\n',
    );
    const js2 = fifoJobserver(retry, "t");
    try {
      const r = await cli(["run", "-j", "4", "--quiet"], {
        cwd: retry,
        env: { MAKEFLAGS: ` -j2 --jobserver-auth=fifo:${js2.path}` },
      });
      expect(r.code, r.stderr).toBe(0);
      expect(js2.tokens()).toBe("t");
    } finally {
      js2.close();
    }
  });
});

describe("jobserver client, bad input: a warning and the local -j, never a hang, never a token too many", () => {
  async function fallsBack(env: NodeJS.ProcessEnv, fds: number[] | undefined, warning: RegExp) {
    const dir = project(4, 2);
    const r = await cli(["run", "-j", "2", "--quiet"], { cwd: dir, env, fds });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(warning);
    expect(r.stderr).toMatch(/running with the local -j instead/);
    // The local -j 2: the barrier of 2 is met, so two ran at once.
    expect(overlap(dir)).toEqual({ max: 2, jobs: 4 });
  }

  it("MAKEFLAGS names fds that are closed (a make recipe without +)", async () => {
    const dir = project(4, 2);
    // No `+` and no $(MAKE): make names its jobserver in MAKEFLAGS but does not pass the fds on.
    writeFileSync(join(dir, "Makefile"), `all:\n\t${TRIBUTARY} run -j 2 --quiet\n`);
    const r = await runMake(dir, ["-j3"]);
    expect(r.code, r.stderr).toBe(0);
    // Node takes the closed fd 3 for itself at startup: it is there, but it is not make's pipe.
    expect(r.stderr).toMatch(
      /make's jobserver \(fds 3,4\): fd 3, the read end, is not a pipe \(make passes its jobserver only to a recipe line that runs \$\(MAKE\) or starts with \+; without it the fd is closed or reused\); running with the local -j instead/,
    );
    expect(overlap(dir)).toEqual({ max: 2, jobs: 4 });
  });

  it("fds that are not a pipe", async () => {
    const file = join(tempDir(), "plain");
    writeFileSync(file, "++++");
    const fd = openSync(file, "r+");
    try {
      await fallsBack(
        { MAKEFLAGS: " -j4 --jobserver-auth=3,4" },
        [fd, fd],
        /fd 3, the read end, is not a pipe/,
      );
    } finally {
      closeSync(fd);
    }
  });

  it("a token pipe that is not ours: fds 3 and 4 are two different pipes", async () => {
    const dir = tempDir();
    const a = fifoJobserver(dir, "aaa");
    const b = fifoJobserver(tempDir(), "bbb");
    try {
      await fallsBack(
        { MAKEFLAGS: " -j4 --jobserver-auth=3,4" },
        [a.fd, b.fd],
        /are not the two ends of one pipe/,
      );
      // Nothing taken from either, nothing written to either.
      expect(a.tokens()).toBe("aaa");
      expect(b.tokens()).toBe("bbb");
    } finally {
      a.close();
      b.close();
    }
  });

  it("a fifo that disappeared, and a path that is not a fifo", async () => {
    await fallsBack(
      { MAKEFLAGS: ` -j4 --jobserver-auth=fifo:${join(tempDir(), "gone.fifo")}` },
      undefined,
      /fifo .*gone\.fifo\): cannot find the fifo \(ENOENT\)/,
    );
    const file = join(tempDir(), "plain");
    writeFileSync(file, "");
    await fallsBack({ MAKEFLAGS: ` -j4 --jobserver-auth=fifo:${file}` }, undefined, /is not a fifo/);
  });

  it("a jobserver that never hands out a token: one step at a time on the implicit slot, no hang", async () => {
    const dir = project(4, 1);
    const js = fifoJobserver(dir, "");
    try {
      const r = await cli(["run", "-j", "4", "--quiet"], {
        cwd: dir,
        env: { MAKEFLAGS: ` -j4 --jobserver-auth=fifo:${js.path}` },
      });
      expect(r.code, r.stderr).toBe(0);
      expect(overlap(dir)).toEqual({ max: 1, jobs: 4 });
      expect(js.tokens()).toBe("");
    } finally {
      js.close();
    }
  });
});

describe("jobserver server: a step's make gets a jobserver sized to the step's cpus", () => {
  /** Eight independent targets, each a probe waiting for `barrier` jobs. */
  function targets(dir: string, barrier: number): void {
    writeFileSync(join(dir, "probe.sh"), PROBE);
    const names = "t1 t2 t3 t4 t5 t6 t7 t8";
    writeFileSync(join(dir, "targets.mk"), `all: ${names}\n${names}:\n\t@sh probe.sh ${barrier}\n`);
  }

  it("`make` in a step with cpus: 3 runs 3 targets at once, never more; without cpus, one", async () => {
    const dir = tempDir();
    targets(dir, 3);
    writeFileSync(
      join(dir, "pipeline.flow"),
      `build = sh("make -f targets.mk") with cpus: 3, cache: false\nout build\n`,
    );
    const r = await cli(["run", "-j", "4", "--quiet"], { cwd: dir, env: { MAKEFLAGS: undefined } });
    expect(r.code, r.stderr).toBe(0);
    expect(overlap(dir)).toEqual({ max: 3, jobs: 8 });

    const serial = tempDir();
    targets(serial, 1);
    writeFileSync(
      join(serial, "pipeline.flow"),
      `build = sh("make -f targets.mk") with cache: false\nout build\n`,
    );
    const s = await cli(["run", "-j", "4", "--quiet"], { cwd: serial, env: { MAKEFLAGS: undefined } });
    expect(s.code, s.stderr).toBe(0);
    expect(overlap(serial)).toEqual({ max: 1, jobs: 8 });
  });

  it("under make -j3, a step's make shares make's jobserver: the tree of three makes runs at most 3 jobs", async () => {
    const dir = tempDir();
    targets(dir, 3);
    writeFileSync(
      join(dir, "pipeline.flow"),
      `build = sh("make -f targets.mk") with cpus: 2, cache: false\nout build\n`,
    );
    writeFileSync(join(dir, "Makefile"), `all:\n\t+${TRIBUTARY} run -j 4 --quiet\n`);
    const r = await runMake(dir, ["-j3"]);
    expect(r.code, r.stderr).toBe(0);
    // The step holds Tributary's implicit slot; its make takes make's two tokens for two more targets.
    expect(overlap(dir)).toEqual({ max: 3, jobs: 8 });
  });
});
