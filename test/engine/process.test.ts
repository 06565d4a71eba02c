import { mkdirSync, readFileSync } from "node:fs";
import { availableParallelism } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import type { EngineEvent } from "../../src/engine/events.js";
import type { Graph } from "../../src/graph/ir.js";
import { ProcessExecutor } from "../../src/executors/process/index.js";
import { flow, runGraph } from "../../src/index.js";
import { eventually, processesMatching, tempDir, uniqueSleep } from "../helpers/procs.js";

describe.each(["auto", "direct"] as const)("child-process executor (spawn: %s)", (spawn) => {
  it("runs argv without a shell, with env and cwd, and captures stdout as the value", async () => {
    const root = tempDir();
    const g: Graph = {
      steps: [
        {
          id: "words",
          module: "exec",
          action: { kind: "process", env: { GREETING: "hello" }, cwd: "." },
          inputs: [
            { kind: "lit", value: "sh" },
            { kind: "lit", value: "-c" },
            { kind: "lit", value: 'printf "%s|%s|%s\\n" "$GREETING" "$1" "$(pwd)"' },
            { kind: "lit", value: "sh" },
            { kind: "lit", value: "a; echo INJECTED" },
          ],
          options: {},
        },
      ],
    };
    const r = await runGraph(g, { root, spawn });
    expect(r.ok).toBe(true);
    // The argument with shell syntax arrived as one inert word.
    expect(r.outputs.words).toBe(`hello|a; echo INJECTED|${root}`);
  });

  it("runs the program argv names, never a shell builtin of the same name", async () => {
    const t = flow();
    // coreutils echo takes -e as an option; dash's builtin echo would print it.
    t.exec("echo", ["echo", "-e", "x"]);
    const r = await t.run(undefined, { root: tempDir(), spawn });
    expect(r.outputs.echo).toBe("x");
  });

  it("passes a file output on to the next command and streams output as events", async () => {
    const root = tempDir();
    const t = flow();
    const gen = t.sh("gen")`echo built > ${t.output("out/a.txt")}; echo progress >&2`;
    const copy = t.exec("copy", ["cp", gen, t.output("out/b.txt")]);
    const events: EngineEvent[] = [];
    const r = await t.run(copy, { root, spawn, liveOutput: true, onEvent: (e) => events.push(e) });
    expect(r.ok).toBe(true);
    expect(readFileSync(join(root, "out/b.txt"), "utf8")).toBe("built\n");
    expect(r.value).toMatchObject({ $file: "out/b.txt" });
    const chunks = events.filter((e) => e.type === "step-output" && e.id === "gen");
    expect(chunks.map((e) => (e as { chunk: string }).chunk).join("")).toContain("progress");
    const start = events.find((e) => e.type === "step-start" && e.id === "copy") as { command?: string[] };
    expect(start.command).toEqual(["cp", "out/a.txt", "out/b.txt"]);
  });

  it("fails on a non-zero exit with the output tail, and on death by signal", async () => {
    const t = flow();
    t.sh("exits")`echo some context; echo more >&2; exit 3`;
    t.sh("killed")`kill -9 $$`;
    const r = await t.run(undefined, { root: tempDir(), spawn });
    const byId = Object.fromEntries(r.steps.map((s) => [s.id, s]));
    expect(byId.exits!.status).toBe("failed");
    expect(byId.exits!.error).toMatchObject({ kind: "exit", exitCode: 3, message: "exited with code 3" });
    expect(byId.exits!.outputTail).toContain("some context");
    expect(byId.exits!.outputTail).toContain("more");
    expect(byId.exits!.command).toEqual(["sh", "-c", "echo some context; echo more >&2; exit 3"]);
    expect(byId.killed!.error).toMatchObject({ kind: "signal", signal: "SIGKILL" });
  });

  it("a cancelled run returns only once every process of a stopped step is gone, also one ignoring SIGTERM", async () => {
    const marker = uniqueSleep();
    const controller = new AbortController();
    const t = flow();
    // A grandchild that ignores SIGTERM, under a leader that dies of it.
    t.sh("stubborn")`(trap '' TERM; exec sleep ${marker}) & sleep 30; wait`;
    const r = await t.run(undefined, {
      root: tempDir(),
      spawn,
      signal: controller.signal,
      killGraceMs: 300,
      onEvent: (e) => {
        if (e.type === "step-start") setTimeout(() => controller.abort(), 200);
      },
    });
    expect(r.steps[0]!.status).toBe("cancelled");
    expect(processesMatching(marker)).toEqual([]);
  });

  it("a step's process starts with no signal ignored (SIGINT reaches a Python program, timeout -s INT works)", async () => {
    const t = flow();
    t.sh("mask")`grep SigIgn /proc/self/status`;
    const r = await t.run(undefined, { root: tempDir(), spawn });
    // Signals 1-31 (the ones programs and users send). posix_spawn leaves glibc's two internal
    // real-time signals (32, 33) ignored, as in every program Python or Rust start; glibc reinstalls them.
    const mask = BigInt(`0x${String(r.outputs.mask).split("\t")[1]}`);
    expect(mask & 0x7fffffffn).toBe(0n);
  });

  it("runs in a project directory whose name holds a line break", async () => {
    const root = join(tempDir(), "line\nbreak");
    mkdirSync(root);
    const t = flow();
    t.sh("where")`pwd`;
    const r = await t.run(undefined, { root, spawn });
    expect(r.outputs.where).toBe(root);
  });

  it("says 'command not found' instead of a raw ENOENT, and does not retry it", async () => {
    const t = flow();
    t.exec({ id: "cc", retries: 3 }, ["ccx", "-c", "a.c"]);
    const r = await t.run(undefined, { root: tempDir(), spawn });
    expect(r.steps[0]!.error).toEqual({ kind: "spawn", message: "command not found: ccx" });
    expect(r.steps[0]!.attempts).toBe(1);
  });

  it("kills the whole process group on timeout, leaving no orphans", async () => {
    const marker = uniqueSleep();
    const t = flow();
    // The shell backgrounds a grandchild: killing only the direct child would orphan it.
    t.sh({ id: "hangs", timeout: "300ms" })`sleep ${marker} & sleep ${marker}; wait`;
    t.step("independent", () => "fine");
    const r = await t.run(undefined, { root: tempDir(), spawn, killGraceMs: 200 });
    const byId = Object.fromEntries(r.steps.map((s) => [s.id, s]));
    expect(byId.hangs!.error).toMatchObject({ kind: "timeout", message: "timed out after 300ms" });
    expect(byId.independent!.status).toBe("ok");
    expect(await eventually(() => processesMatching(marker).length === 0)).toBe(true);
  });

  it("a step that floods stdout fails with a clear error and memory stays bounded", async () => {
    const t = flow();
    t.sh("flood")`head -c 20000000 /dev/zero | tr '\\0' x`;
    t.sh({ id: "floodToFile" })`head -c 20000000 /dev/zero > ${t.output("big.bin")}; echo done`;
    const before = process.memoryUsage().rss;
    const r = await t.run(undefined, { root: tempDir(), spawn, stdoutLimit: 1_000_000 });
    const byId = Object.fromEntries(r.steps.map((s) => [s.id, s]));
    expect(byId.flood!.status).toBe("failed");
    expect(byId.flood!.error!.message).toMatch(/wrote more than 1000000 bytes to stdout.*output\(\) file/);
    expect(byId.flood!.outputTail!.length).toBeLessThanOrEqual(16 * 1024);
    expect(byId.floodToFile!.status).toBe("ok");
    // 20 MB went through the pipe; far less may stay behind.
    expect(process.memoryUsage().rss - before).toBeLessThan(60_000_000);
  });

  it("rejects an output path outside the project", async () => {
    const t = flow();
    t.exec("escape", ["touch", t.output("../outside.txt")]);
    const r = await t.run(undefined, { root: tempDir(), spawn });
    expect(r.steps[0]!.error!.kind).toBe("input");
    expect(r.steps[0]!.error!.message).toMatch(/outside the project directory/);
  });

  it("fails when a command does not write its declared output", async () => {
    const t = flow();
    t.exec("lazy", ["true", t.output("never.txt")]);
    const r = await t.run(undefined, { root: tempDir(), spawn });
    expect(r.steps[0]!.error!.message).toBe("exited 0 but did not write its declared output never.txt");
  });
});

describe("the job shells (spawn: auto)", () => {
  it("a step that kills its job shell fails alone, its command is stopped, and later steps run", async () => {
    const t = flow();
    const nap = uniqueSleep();
    // $PPID of this sh is the job shell; the sleep would outlive it if nobody stopped it.
    const killer = t.sh("killer")`sleep ${nap} & sleep 0.2; kill -9 $PPID; wait`;
    t.sh("after")`echo fine ${killer}`;
    t.sh("independent")`sleep 0.4; echo ok`;
    const r = await t.run(undefined, { root: tempDir(), concurrency: 2, killGraceMs: 200 });
    const byId = Object.fromEntries(r.steps.map((s) => [s.id, s]));
    expect(byId.killer!.status).toBe("failed");
    expect(byId.killer!.error).toMatchObject({
      kind: "infra",
      message: expect.stringMatching(/job server exited/),
    });
    expect(byId.after!.status).toBe("blocked");
    expect(byId.independent!.status).toBe("ok");
    expect(r.outputs.independent).toBe("ok");
    expect(await eventually(() => processesMatching(nap).length === 0)).toBe(true);
  });

  it("ends a job with its leader, and drains what a grandchild writes later instead of killing it", async () => {
    const root = tempDir();
    const t = flow();
    // The grandchild waits until the leader is gone (reaped), then writes 1 MB to the step's stdout, a
    // pipe whose job is over: dropped, not a SIGPIPE (head's status is 141 when it dies of one).
    t.sh(
      "leader",
    )`(while kill -0 $$ 2>/dev/null; do sleep 0.05; done; head -c 1000000 /dev/zero; echo $? > status) & echo early`;
    t.sh("waiter")`while [ ! -s status ]; do sleep 0.05; done; cat status`;
    const r = await t.run(undefined, { root, concurrency: 2 });
    expect(r.ok).toBe(true);
    expect(r.outputs.leader).toBe("early");
    expect(r.outputs.waiter).toBe("0");
  });

  it("a step whose output cannot be kept (its spool directory went) fails saying so, never with a wrong value", async () => {
    const tmp = tempDir();
    const saved = process.env.TMPDIR;
    process.env.TMPDIR = tmp;
    try {
      // The files of the next jobs cannot be created: a small value does not need one, a big one does.
      const t = flow();
      const cleaned = t.sh("cleaner")`rm -rf ${tmp}/tributary-jobs-*; touch ${t.output("cleaned.txt")}`;
      t.sh("small")`cat ${cleaned}; echo small`;
      // More than the server keeps in memory (INLINE_BYTES, 64 KiB): this value needs its file.
      t.sh("after")`cat ${cleaned}; head -c 100000 /dev/zero | tr '\\0' a`;
      const r = await t.run(undefined, { root: tempDir(), concurrency: 1 });
      const byId = Object.fromEntries(r.steps.map((s) => [s.id, s]));
      expect(byId.cleaner!.status).toBe("ok");
      expect(r.outputs.small).toBe("small");
      expect(byId.after!.error).toMatchObject({
        kind: "infra",
        message: expect.stringMatching(
          /^could not keep the output of \/bin\/sh: ENOENT in \S+tributary-jobs-\w+$/,
        ),
      });
      // A job's own file goes with the directory: what it wrote is lost, not taken for "". Whether the
      // server had made the file before the directory went (it is made once 64 KiB have come) or not
      // is a race; either way the step fails saying so.
      const u = flow();
      u.sh("self")`head -c 100000 /dev/zero | tr '\\0' a; rm -rf ${tmp}/tributary-jobs-*`;
      const s = await u.run(undefined, { root: tempDir() });
      expect(s.steps[0]!.error).toMatchObject({
        kind: "infra",
        message: expect.stringMatching(
          /^could not keep the output of \/bin\/sh: (\S+tributary-jobs-\w+\/\d+\.o is gone|ENOENT in \S+tributary-jobs-\w+)$/,
        ),
      });
    } finally {
      if (saved === undefined) delete process.env.TMPDIR;
      else process.env.TMPDIR = saved;
    }
  });

  it("runs as many jobs at once as asked, each in its own shell", async () => {
    const t = flow();
    for (let i = 0; i < 4; i++) t.sh(`s${i}`)`sleep 0.3; echo ${String(i)}`;
    const r = await t.run(undefined, { root: tempDir(), concurrency: 4 });
    expect(r.ok).toBe(true);
    // All four were running at the same moment: each started before any ended.
    const lastStart = Math.max(...r.steps.map((s) => s.startMs!));
    const firstEnd = Math.min(...r.steps.map((s) => s.endMs!));
    expect(lastStart).toBeLessThan(firstEnd);
  });

  it("more jobs at once than servers can start share them, each with its own output, exit and files", async () => {
    const root = tempDir();
    const t = flow();
    // 12 at once: more than one server per core starts before the first is ready, so servers run several.
    for (let i = 0; i < 12; i++) {
      t.sh(
        `s${i}`,
      )`sleep 0.${String(i % 3)}; echo out${String(i)}; echo err${String(i)} >&2; exit ${String(i % 4 === 3 ? 7 : 0)}`;
    }
    const r = await t.run(undefined, { root, concurrency: 12 });
    for (let i = 0; i < 12; i++) {
      const s = r.steps.find((x) => x.id === `s${i}`)!;
      if (i % 4 === 3) {
        expect(s.status).toBe("failed");
        expect(s.error).toMatchObject({ kind: "exit", message: expect.stringMatching(/7/) });
        expect(s.outputTail).toMatch(new RegExp(`err${i}`));
      } else {
        expect(s.status).toBe("ok");
        expect(r.outputs[`s${i}`] ?? s.value).toBe(`out${i}`);
      }
    }
  });

  it("prepare starts as many servers as a run can use (slots, cores, its steps) and no more, and none once closed", async () => {
    // The servers' environment carries a mark of this test's own: /proc/PID/environ finds exactly them.
    const mark = `PREPARE_MARK=${process.pid}-${Date.now()}`;
    const ours = (): number[] =>
      processesMatching("TRIBUTARY_JOB_SERVER").filter((pid) => {
        try {
          return readFileSync(`/proc/${pid}/environ`, "utf8").split("\0").includes(mark);
        } catch {
          return false;
        }
      });
    const hint = (env: NodeJS.ProcessEnv, steps = Infinity) => ({
      env,
      killGraceMs: 2000,
      slots: 3,
      liveOutput: false,
      steps,
    });
    const [key, value] = mark.split("=") as [string, string];
    const started = new ProcessExecutor();
    started.prepare(hint({ ...process.env, [key]: value }));
    // -j3 on this machine's cores: as many servers as both allow, and no more.
    const cores = Math.min(3, availableParallelism());
    expect(await eventually(() => ours().length === cores)).toBe(true);
    await new Promise((r) => setTimeout(r, 300));
    expect(ours()).toHaveLength(cores);
    await started.close();
    expect(await eventually(() => ours().length === 0)).toBe(true);
    // A run with one process step: one server, whatever -j and the cores allow.
    const single = new ProcessExecutor();
    single.prepare(hint({ ...process.env, [key]: value }, 1));
    expect(await eventually(() => ours().length === 1)).toBe(true);
    await new Promise((r) => setTimeout(r, 300));
    expect(ours()).toHaveLength(1);
    await single.close();
    expect(await eventually(() => ours().length === 0)).toBe(true);
    // Closed before its first server said it was ready: the servers it meant to start next never start.
    const closed = new ProcessExecutor();
    closed.prepare(hint({ ...process.env, [key]: value }));
    await closed.close();
    await new Promise((r) => setTimeout(r, 500));
    expect(ours()).toHaveLength(0);
  });
});
