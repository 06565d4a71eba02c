import type { Attempt } from "../../engine/executor.js";
import type { ProcessEnd } from "../../engine/outcome.js";
import { KeptStdout, Tail } from "./capture.js";
import { GroupStopper } from "./group.js";
import { envOf, spawnFailure, type ProcessSpec } from "./spec.js";
import { childProcess } from "./builtins.js";

/** What a spawner needs of the attempt: to learn when it is stopped, and where live output goes. */
export type SpawnControl = Pick<Attempt, "onStop" | "onOutput">;

/** How long output may keep arriving after the leader exited (a grandchild holding the pipes open). */
const PIPE_GRACE_MS = 2000;

/**
 * Starts the process from Node itself (libuv's spawn), in its own process group, with its output on
 * pipes: the spawner that can stream output live, and the one every platform has.
 */
export function spawnDirect(spec: ProcessSpec, control: SpawnControl): Promise<ProcessEnd> {
  return new Promise((resolvePromise) => {
    const stopper = new GroupStopper(spec.killGraceMs);
    const tail = new Tail();
    const stdout = new KeptStdout(spec.keepStdout);
    const onOutput = control.onOutput;
    let spawnError: ProcessEnd["spawnError"];
    let exit: { code: number | null; signal: string | null } | undefined;
    let settled = false;
    let gone: Promise<void> | undefined;

    const child = childProcess().spawn(spec.file, spec.argv.slice(1), {
      argv0: spec.argv[0],
      cwd: spec.cwd,
      env: envOf(spec),
      detached: true,
      stdio: spec.fds ? ["ignore", "pipe", "pipe", ...spec.fds] : ["ignore", "pipe", "pipe"],
    });
    if (child.pid !== undefined) stopper.started(child.pid);
    control.onStop((reason) => stopper.stop(reason));

    child.stdout!.on("data", (b: Buffer) => {
      tail.push(b);
      stdout.push(b);
      onOutput?.("stdout", b.toString());
    });
    child.stderr!.on("data", (b: Buffer) => {
      tail.push(b);
      onOutput?.("stderr", b.toString());
    });

    const finish = (): void => {
      if (settled) return;
      settled = true;
      const end: ProcessEnd = {
        spawnError,
        exitCode: exit?.code ?? null,
        signal: exit?.signal ?? null,
        stopped: stopper.stoppedFor,
        stdout: stdout.text(),
        stdoutOverflow: stdout.overflow,
        stdoutLimit: spec.keepStdout,
        tail: tail.text(),
        shell: spec.shell,
      };
      void (gone ?? stopper.ended()).then(() => resolvePromise(end));
    };
    child.on("error", (err: NodeJS.ErrnoException) => {
      spawnError = spawnFailure(err.code ?? "EIO", spec.argv[0] ?? spec.file, spec.cwd);
      finish();
    });
    child.on("exit", (code, signal) => {
      exit = { code, signal };
      gone = stopper.ended();
      setTimeout(() => {
        child.stdout?.destroy();
        child.stderr?.destroy();
        finish();
      }, PIPE_GRACE_MS).unref();
    });
    child.on("close", () => {
      if (exit || spawnError) finish();
    });
  });
}
