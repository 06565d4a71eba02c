import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import type { StepError } from "../engine/result.js";

export interface ProcessSpec {
  /** argv[0] is looked up on PATH; no shell unless `shell` is set. */
  argv: string[];
  /** Run `argv[0]` as a /bin/sh command line instead. */
  shell?: boolean;
  cwd: string;
  env: NodeJS.ProcessEnv;
  /** Variables set for this process on top of `env`. */
  extraEnv?: Record<string, string>;
  /** Aborting it terminates the whole process group: SIGTERM, then SIGKILL after the grace period. */
  signal?: AbortSignal;
  killGraceMs?: number;
  /** Keep stdout as the step's value, up to this many bytes (0: do not keep it). */
  keepStdout: number;
  onOutput?: (stream: "stdout" | "stderr", chunk: string) => void;
}

export interface ProcessOutcome {
  ok: boolean;
  exitCode: number | null;
  signal: string | null;
  stdout: string;
  /** Last bytes of stdout and stderr, interleaved, for failure reports. */
  tail: string;
  error?: StepError;
}

const TAIL_BYTES = 16 * 1024;

/** Process groups of every step process still running, so a second Ctrl-C can kill them at once. */
const liveGroups = new Set<number>();

/** SIGKILLs every running step process group now (the second Ctrl-C: no more grace). */
export function killAllProcessGroups(): void {
  for (const pid of liveGroups) {
    try {
      process.kill(-pid, "SIGKILL");
    } catch {
      // Already gone.
    }
  }
}

/**
 * Runs one command in its own process group, so that a timeout or Ctrl-C can take down everything it
 * started, and captures its output without ever holding more than a bounded amount in memory.
 */
export function runProcess(spec: ProcessSpec): Promise<ProcessOutcome> {
  return new Promise((resolvePromise) => {
    const [file, ...args] = spec.shell ? ["/bin/sh", "-c", spec.argv.join(" ")] : spec.argv;
    if (!file) {
      resolvePromise(failure({ kind: "spawn", message: "empty command" }, ""));
      return;
    }
    if (spec.signal?.aborted) {
      resolvePromise(failure({ kind: "cancelled", message: "cancelled before it started" }, ""));
      return;
    }
    const child = spawn(file, args, {
      cwd: spec.cwd,
      env: spec.extraEnv ? { ...spec.env, ...spec.extraEnv } : spec.env,
      detached: true,
      stdio: ["ignore", "pipe", "pipe"],
    });
    const pid = child.pid;
    if (pid !== undefined) liveGroups.add(pid);
    const tail = new Tail(TAIL_BYTES);
    const stdoutChunks: Buffer[] = [];
    let stdoutBytes = 0;
    let stdoutOverflow = false;
    let spawnError: StepError | undefined;
    let exit: { code: number | null; signal: string | null } | undefined;
    let killedFor: "timeout" | "cancelled" | undefined;
    let killTimer: NodeJS.Timeout | undefined;
    let settled = false;

    child.stdout!.on("data", (b: Buffer) => {
      tail.push(b);
      if (spec.keepStdout > 0 && !stdoutOverflow) {
        stdoutBytes += b.length;
        if (stdoutBytes > spec.keepStdout) {
          stdoutOverflow = true;
          stdoutChunks.length = 0;
        } else stdoutChunks.push(b);
      }
      spec.onOutput?.("stdout", b.toString());
    });
    child.stderr!.on("data", (b: Buffer) => {
      tail.push(b);
      spec.onOutput?.("stderr", b.toString());
    });

    const killGroup = (sig: NodeJS.Signals): void => {
      if (child.pid === undefined) return;
      try {
        process.kill(-child.pid, sig);
      } catch {
        // Already gone.
      }
    };
    const onAbort = (): void => {
      const reason = spec.signal?.reason as { kind?: string } | undefined;
      killedFor = reason?.kind === "timeout" ? "timeout" : "cancelled";
      killGroup("SIGTERM");
      killTimer = setTimeout(() => killGroup("SIGKILL"), spec.killGraceMs ?? 2000);
      killTimer.unref();
    };
    spec.signal?.addEventListener("abort", onAbort, { once: true });

    const finish = (): void => {
      if (settled) return;
      settled = true;
      if (pid !== undefined) liveGroups.delete(pid);
      spec.signal?.removeEventListener("abort", onAbort);
      if (killTimer && exit) {
        // The leader is gone; make sure nothing it started outlives it.
        killGroup("SIGKILL");
        clearTimeout(killTimer);
      }
      const t = tail.text();
      if (spawnError) return resolvePromise(failure(spawnError, t));
      const code = exit?.code ?? null;
      const sig = exit?.signal ?? null;
      if (killedFor === "timeout") {
        return resolvePromise(
          failure({ kind: "timeout", message: "timed out", signal: sig ?? undefined }, t),
        );
      }
      if (killedFor === "cancelled") {
        return resolvePromise(
          failure({ kind: "cancelled", message: "cancelled", signal: sig ?? undefined }, t),
        );
      }
      if (sig) {
        return resolvePromise(
          failure({ kind: "signal", message: `killed by ${sig}`, signal: sig }, t, code, sig),
        );
      }
      if (code !== 0) {
        return resolvePromise(
          failure(
            { kind: "exit", message: `exited with code ${code}`, exitCode: code ?? undefined },
            t,
            code,
          ),
        );
      }
      if (stdoutOverflow) {
        return resolvePromise(
          failure(
            {
              kind: "value",
              message: `wrote more than ${spec.keepStdout} bytes to stdout, which would be its value; write large data to an output() file instead`,
            },
            t,
            code,
          ),
        );
      }
      resolvePromise({
        ok: true,
        exitCode: code,
        signal: null,
        stdout: Buffer.concat(stdoutChunks).toString(),
        tail: t,
      });
    };

    child.on("error", (err: NodeJS.ErrnoException) => {
      spawnError = spawnFailure(err, file, spec.cwd);
      finish();
    });
    child.on("exit", (code, sig) => {
      exit = { code, signal: sig };
      // Output may still be in the pipes; 'close' follows. A grandchild that keeps the pipes open
      // must not hold the step forever, though.
      setTimeout(() => {
        child.stdout?.destroy();
        child.stderr?.destroy();
        finish();
      }, 2000).unref();
    });
    child.on("close", () => {
      if (!exit && !spawnError) return;
      finish();
    });
  });
}

function failure(error: StepError, tail: string, exitCode: number | null = null, sig: string | null = null) {
  return { ok: false, exitCode, signal: sig, stdout: "", tail, error };
}

function spawnFailure(err: NodeJS.ErrnoException, file: string, cwd: string): StepError {
  if (err.code === "ENOENT") {
    if (!existsSync(cwd)) return { kind: "spawn", message: `working directory not found: ${cwd}` };
    return { kind: "spawn", message: `command not found: ${file}` };
  }
  if (err.code === "EACCES")
    return { kind: "spawn", message: `permission denied: ${file} is not executable` };
  return { kind: "spawn", message: `cannot start ${file}: ${err.message}` };
}

/** The last `limit` bytes written, decoded at the end (so a multi-byte character split is rare). */
class Tail {
  private chunks: Buffer[] = [];
  private bytes = 0;

  constructor(private readonly limit: number) {}

  push(b: Buffer): void {
    this.chunks.push(b);
    this.bytes += b.length;
    while (this.bytes - this.chunks[0]!.length >= this.limit) {
      this.bytes -= this.chunks.shift()!.length;
    }
  }

  text(): string {
    const all = Buffer.concat(this.chunks);
    return all.subarray(Math.max(0, all.length - this.limit)).toString();
  }
}
