import { spawn, type ChildProcess } from "node:child_process";
import {
  accessSync,
  closeSync,
  constants,
  existsSync,
  fstatSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readFileSync,
  readSync,
  rmSync,
  statSync,
  unlinkSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { isAbsolute, join, resolve as resolvePath } from "node:path";
import { createInterface } from "node:readline";
import type { StepError } from "../engine/result.js";
import type { ProcessOutcome, ProcessSpec } from "./child-process.js";
import { shellQuote } from "../engine/values.js";

/**
 * Starts step processes through small, long-lived shells instead of forking Node itself.
 *
 * Why: fork() copies the parent's page tables, so its cost grows with the parent's memory. Forking a
 * Node process that holds a large graph costs several milliseconds per step (measured: ~6 ms for a
 * 100 MB parent against ~1 ms for a 1 MB one), while a shell of a few hundred kilobytes forks in well
 * under a millisecond. Each job shell runs one job at a time: it reads a line, runs the command (one
 * fork) and reports its exit status on a separate pipe. There are as many
 * shells as jobs have run at once. (One shell for all jobs needed a second fork per job, a subshell to
 * wait in: ~0.2 ms more per job.) Output goes to files that are read once the job is done, so nothing is
 * streamed live: runs that want live output use the direct executor.
 *
 * Linux only (a job's process tree is found through /proc to stop it); elsewhere the direct executor
 * is used.
 */
export class ProcessServer {
  private readonly dir: string;
  private readonly idle: JobShell[] = [];
  private readonly busy = new Set<JobShell>();
  private nextId = 0;
  private closed = false;

  constructor(private readonly env: NodeJS.ProcessEnv) {
    this.dir = mkdtempSync(join(tmpdir(), "tributary-jobs-"));
  }

  /** Whether this spec can go through the server (the protocol is one line per job). */
  static accepts(spec: ProcessSpec): boolean {
    if (spec.onOutput || !AVAILABLE) return false;
    const env = Object.entries(spec.extraEnv ?? {});
    if (env.some(([k]) => !/^[A-Za-z_][A-Za-z0-9_]*$/.test(k))) return false;
    const text = [...spec.argv, ...env.map(([, v]) => v), spec.cwd];
    return !text.some((w) => w.includes("\n") || w.includes("\r"));
  }

  run(spec: ProcessSpec): Promise<ProcessOutcome> {
    return new Promise((resolve) => {
      if (spec.signal?.aborted) {
        resolve(fail({ kind: "cancelled", message: "cancelled before it started" }, ""));
        return;
      }
      let words: string[];
      if (spec.shell) {
        words = ["/bin/sh", "-c", spec.argv[0] ?? ""];
      } else {
        const program = programPath(spec);
        if (program === undefined) {
          resolve(fail({ kind: "spawn", message: `command not found: ${spec.argv[0] ?? ""}` }, ""));
          return;
        }
        words = [program, ...spec.argv.slice(1)];
      }
      const id = String(this.nextId++);
      const job: Job = { id, base: join(this.dir, id), spec, resolve };
      const env = Object.entries(spec.extraEnv ?? {});
      const quoted = words.map(shellQuote).join(" ");
      // The common job is one short line calling the shell's `j` (see JOB_SHELL): the shell reads its
      // input a byte per system call, so a 200-byte line cost ~0.1 ms. Variables for one command need
      // the long form, where they prefix the command. Status 200 marks a missing working directory.
      const line =
        env.length === 0
          ? `j ${id} ${shellQuote(spec.cwd)} ${quoted}\n`
          : `if cd ${shellQuote(spec.cwd)} 2>/dev/null; then ` +
            `${env.map(([k, v]) => `${k}=${shellQuote(v)} `).join("")}${quoted} </dev/null >"$D/${id}.o" 2>"$D/${id}.e" 3>&-; ` +
            `s=$?; else s=200; fi; echo "x ${id} $s" >&3\n`;
      spec.signal?.addEventListener("abort", (job.onAbort = () => this.abort(job)), { once: true });
      const shell = this.idle.pop() ?? this.startShell();
      shell.job = job;
      job.shell = shell;
      this.busy.add(shell);
      shell.proc.stdin!.write(line);
    });
  }

  close(): void {
    this.closed = true;
    for (const shell of [...this.idle, ...this.busy]) {
      shell.proc.stdin!.end();
      if (shell.job) this.abort(shell.job);
    }
    this.idle.length = 0;
    rmSync(this.dir, { recursive: true, force: true });
  }

  private startShell(): JobShell {
    // Its own process group (and session): a terminal's Ctrl-C reaches Node, which stops the jobs itself,
    // and what a job leaves behind after its shell died is still found, by the group.
    const proc = spawn(SHELL, ["-c", `D=${shellQuote(this.dir)}; ${JOB_SHELL}`], {
      env: this.env,
      stdio: ["pipe", "ignore", "ignore", "pipe"],
      detached: true,
    });
    const shell: JobShell = { proc };
    proc.on("error", (err) => this.lost(shell, `cannot start ${SHELL}: ${err.message}`));
    proc.on("exit", (code, sig) => this.lost(shell, `the job shell exited (${sig ?? code})`));
    // A closed stdin while we write means the shell is gone; the exit handler reports it.
    proc.stdin!.on("error", () => {});
    const lines = createInterface({ input: proc.stdio[3] as NodeJS.ReadableStream });
    lines.on("line", (line) => this.onLine(shell, line));
    return shell;
  }

  private onLine(shell: JobShell, line: string): void {
    const [kind, id, value] = line.split(" ");
    const job = shell.job;
    if (!job || job.id !== id || kind !== "x") return;
    shell.job = undefined;
    this.busy.delete(shell);
    if (!this.closed) this.idle.push(shell);
    this.finish(job, Number(value));
  }

  /** A shell died (a job killed it, or it could not start): its job fails; later jobs get a new shell. */
  private lost(shell: JobShell, message: string): void {
    this.busy.delete(shell);
    const i = this.idle.indexOf(shell);
    if (i >= 0) this.idle.splice(i, 1);
    const job = shell.job;
    shell.job = undefined;
    if (!job) return;
    if (job.onAbort) job.spec.signal?.removeEventListener("abort", job.onAbort);
    if (job.killTimer) clearTimeout(job.killTimer);
    if (job.retry) clearInterval(job.retry);
    // Nobody waits for the command any more: stop what is left of it (orphaned now, but still in the
    // shell's process group) rather than leave it running unseen.
    const group = shell.proc.pid;
    if (group !== undefined) {
      trySignal(-group, "SIGTERM");
      setTimeout(() => trySignal(-group, "SIGKILL"), job.spec.killGraceMs ?? 2000).unref();
    }
    job.resolve(fail({ kind: "infra", message: `${message} while ${job.spec.argv[0]} ran` }, ""));
  }

  private abort(job: Job): void {
    if (job.killedFor) return;
    const reason = job.spec.signal?.reason as { kind?: string } | undefined;
    job.killedFor = reason?.kind === "timeout" ? "timeout" : "cancelled";
    this.signalJob(job, "SIGTERM");
    // The shell may not have started the command yet when the signal came, and a process being stopped
    // may start others: look again until the job ends, signalling only processes not signalled yet (one
    // SIGTERM each, so that a graceful shutdown is not interrupted by more).
    job.retry = setInterval(() => this.signalJob(job, "SIGTERM", true), 50);
    job.retry.unref();
    job.killTimer = setTimeout(() => this.signalJob(job, "SIGKILL"), job.spec.killGraceMs ?? 2000);
    job.killTimer.unref();
  }

  /** Signals the job's processes (its shell's descendants), remembering each one signalled (see reap). */
  private signalJob(job: Job, signal: NodeJS.Signals, onlyNew = false): void {
    const shellPid = job.shell?.proc.pid;
    if (shellPid === undefined || job.shell?.job !== job) return;
    const signaled = (job.signaled ??= new Map());
    const except = onlyNew ? new Set(signaled.keys()) : undefined;
    for (const p of killTree(shellPid, signal, { sparingRoot: true, except }))
      if (!signaled.has(p)) signaled.set(p, procStat(p)?.started);
  }

  /**
   * A stopped job is over when its leader exits, but processes it started may still be on their way out
   * (or, orphaned by the leader's death, out of reach of a tree walk). Kills what is left of every process
   * it signalled and waits until they are gone: when a cancelled run returns, none of its processes runs.
   */
  private async reap(job: Job): Promise<void> {
    const procs = [...(job.signaled ?? [])];
    for (let round = 0; round < 200; round++) {
      // Only the very process signalled: a pid reused since by another process is not ours to kill.
      const alive = procs
        .filter(([p, started]) => {
          const now = procStat(p);
          return now !== undefined && now.started === started && now.state !== "Z" && now.state !== "X";
        })
        .map(([p]) => p);
      if (alive.length === 0) return;
      for (const p of alive) trySignal(p, "SIGKILL");
      await new Promise((r) => setTimeout(r, 10));
    }
  }

  private finish(job: Job, status: number): void {
    if (job.onAbort) job.spec.signal?.removeEventListener("abort", job.onAbort);
    if (job.killTimer) clearTimeout(job.killTimer);
    if (job.retry) clearInterval(job.retry);
    if (job.signaled) void this.reap(job).then(() => this.settle(job, status));
    else this.settle(job, status);
  }

  private settle(job: Job, status: number): void {
    const { spec } = job;
    const out = readCapped(`${job.base}.o`, spec.keepStdout);
    const err = readCapped(`${job.base}.e`, 0);
    const tail = (out.tail + err.tail).slice(-TAIL_CHARS);
    const word0 = spec.shell ? "/bin/sh" : (spec.argv[0] ?? "");
    let result: ProcessOutcome;
    if (job.killedFor === "timeout") result = fail({ kind: "timeout", message: "timed out" }, tail);
    else if (job.killedFor === "cancelled") result = fail({ kind: "cancelled", message: "cancelled" }, tail);
    else if (status === 200 && !existsSync(spec.cwd)) {
      result = fail({ kind: "spawn", message: `working directory not found: ${spec.cwd}` }, tail);
    } else if (status === 127 && /not found/.test(err.tail)) {
      result = fail({ kind: "spawn", message: `command not found: ${word0}` }, tail);
    } else if (status === 126 && /Permission denied/i.test(err.tail)) {
      result = fail({ kind: "spawn", message: `permission denied: ${word0} is not executable` }, tail);
    } else if (status > 128 && status < 128 + 65) {
      const sig = SIGNAL_NAMES[status - 128] ?? `signal ${status - 128}`;
      result = { ...fail({ kind: "signal", message: `killed by ${sig}`, signal: sig }, tail), signal: sig };
    } else if (status !== 0) {
      result = {
        ...fail({ kind: "exit", message: `exited with code ${status}`, exitCode: status }, tail),
        exitCode: status,
      };
    } else if (out.overflow) {
      result = fail(
        {
          kind: "value",
          message: `wrote more than ${spec.keepStdout} bytes to stdout, which would be its value; write large data to an output() file instead`,
        },
        tail,
      );
    } else {
      result = { ok: true, exitCode: 0, signal: null, stdout: out.text, tail };
    }
    // Output is not streamed through the server; hand it over in one piece at the end.
    job.resolve(result);
  }
}

interface JobShell {
  proc: ChildProcess;
  /** The job it runs now. */
  job?: Job;
}

interface Job {
  id: string;
  base: string;
  spec: ProcessSpec;
  resolve: (o: ProcessOutcome) => void;
  /** The shell running it. */
  shell?: JobShell;
  killedFor?: "timeout" | "cancelled";
  killTimer?: NodeJS.Timeout;
  /** While it is being stopped: signals it again, in case its command started after the first signal. */
  retry?: NodeJS.Timeout;
  onAbort?: () => void;
  /** Every process of the job signalled to stop it, with its start time (a pid can be reused). */
  signaled?: Map<number, string | undefined>;
}

/**
 * What each job shell runs after setting D, the jobs' directory. `j ID DIR WORD...` runs one job in the
 * foreground: in DIR, with stdin from /dev/null, stdout and stderr to $D/ID.o and $D/ID.e, and fd 3 (the
 * status pipe) closed, so that no command can read the next job or forge a status; then it reports
 * `x ID STATUS` (200: DIR is missing). In the foreground, not as `cmd &`: a non-interactive shell starts
 * background commands with SIGINT and SIGQUIT ignored, which a program would inherit (a Python step would
 * never see KeyboardInterrupt). The job's processes are the shell's descendants. Plain shell variables
 * (D, i, s, line) are not exported: the commands do not see them.
 */
const JOB_SHELL =
  'j() { i=$1; if cd "$2" 2>/dev/null; then shift 2; "$@" </dev/null >"$D/$i.o" 2>"$D/$i.e" 3>&-; s=$?; ' +
  'else s=200; fi; echo "x $i $s" >&3; }; ' +
  'while IFS= read -r line; do eval "$line"; done';

/**
 * argv[0] as a path, looked up on PATH as execvp does (an empty entry is the working directory). The job
 * shell must be given a path: given a bare name it would run its own builtin of that name if it has one
 * (`echo`, `printf`, `test`, `kill`...), which behaves unlike the program a direct spawn runs.
 * Undefined when there is no such program. Found paths are remembered per PATH.
 */
function programPath(spec: ProcessSpec): string | undefined {
  const name = spec.argv[0] ?? "";
  if (name.includes("/")) return name;
  if (name === "") return undefined;
  const path = spec.extraEnv?.PATH ?? spec.env.PATH ?? "/usr/local/bin:/usr/bin:/bin";
  const key = `${path}\0${name}`;
  const known = foundPrograms.get(key);
  if (known !== undefined) return known;
  for (const dir of path.split(":")) {
    const candidate = resolvePath(spec.cwd, dir === "" ? "." : dir, name);
    try {
      accessSync(candidate, constants.X_OK);
      if (!statSync(candidate).isFile()) continue;
    } catch {
      continue;
    }
    // Relative PATH entries depend on the working directory: not remembered.
    if (isAbsolute(dir)) foundPrograms.set(key, candidate);
    return candidate;
  }
  return undefined;
}

const foundPrograms = new Map<string, string>();

const TAIL_CHARS = 16 * 1024;
const SHELL = existsSync("/bin/dash") ? "/bin/dash" : "/bin/sh";
const AVAILABLE =
  process.platform === "linux" && existsSync("/proc/self/task") && process.env.TRIBUTARY_SPAWN !== "direct";

const SIGNAL_NAMES: Record<number, string> = {
  1: "SIGHUP",
  2: "SIGINT",
  3: "SIGQUIT",
  4: "SIGILL",
  6: "SIGABRT",
  8: "SIGFPE",
  9: "SIGKILL",
  11: "SIGSEGV",
  13: "SIGPIPE",
  14: "SIGALRM",
  15: "SIGTERM",
};

function fail(error: StepError, tail: string): ProcessOutcome {
  return { ok: false, exitCode: null, signal: null, stdout: "", tail, error };
}

/**
 * The whole file when it fits in `keep` bytes, else only its tail; `overflow` says which. The file is
 * deleted. Synchronous on purpose: these files are almost always tiny, and a dozen syscalls in a row cost
 * tens of microseconds where the same calls through libuv's thread pool cost milliseconds of hand-offs per
 * step (measured: `/bin/true` through the server 4.0 ms async, see bench `spawn`).
 */
function readCapped(path: string, keep: number): { text: string; tail: string; overflow: boolean } {
  let fd: number;
  try {
    fd = openSync(path, "r");
  } catch {
    return { text: "", tail: "", overflow: false };
  }
  try {
    const { size } = fstatSync(fd);
    if (size === 0) return { text: "", tail: "", overflow: false };
    if (size <= Math.max(keep, TAIL_CHARS)) {
      const buf = Buffer.allocUnsafe(size);
      const n = readSync(fd, buf, 0, size, 0);
      const text = buf.toString("utf8", 0, n);
      return {
        text: size <= keep ? text : "",
        tail: text.slice(-TAIL_CHARS),
        overflow: size > keep && keep > 0,
      };
    }
    const buf = Buffer.allocUnsafe(TAIL_CHARS);
    const n = readSync(fd, buf, 0, TAIL_CHARS, size - TAIL_CHARS);
    return { text: "", tail: buf.toString("utf8", 0, n), overflow: keep > 0 };
  } finally {
    closeSync(fd);
    try {
      unlinkSync(path);
    } catch {
      // Already gone (the directory was removed on close).
    }
  }
}

/** Signals a process and every descendant, found through /proc (children first, so none escapes). */
export function killTree(
  pid: number,
  signal: NodeJS.Signals,
  options: { sparingRoot?: boolean; except?: ReadonlySet<number> } = {},
): Set<number> {
  // Stop the whole tree first, so that none forks a replacement while the others are killed. One walk is
  // not enough: a process stopped in the middle of a fork shows its new child only afterwards. So walk
  // again until every process found is stopped (a stopped process cannot fork) and none is new.
  const stopped = new Set<number>();
  for (let round = 0; round < 100; round++) {
    const fresh = treeOf(pid).filter(
      (p) => !stopped.has(p) && !(options.sparingRoot && p === pid) && !options.except?.has(p),
    );
    for (const p of fresh) {
      trySignal(p, "SIGSTOP");
      stopped.add(p);
    }
    if (fresh.length === 0 && [...stopped].every((p) => isStoppedOrGone(p, true))) break;
  }
  for (const p of stopped) trySignal(p, signal);
  for (const p of stopped) trySignal(p, "SIGCONT");
  return stopped;
}

/** A process and its descendants, found through /proc. */
function treeOf(pid: number): number[] {
  const all: number[] = [];
  const walk = (p: number, depth: number): void => {
    all.push(p);
    if (depth > 64) return;
    let tasks: string[];
    try {
      tasks = readdirSync(`/proc/${p}/task`);
    } catch {
      return;
    }
    for (const t of tasks) {
      let children: string;
      try {
        children = readFileSync(`/proc/${p}/task/${t}/children`, "utf8");
      } catch {
        continue;
      }
      for (const c of children.split(" ")) if (c) walk(Number(c), depth + 1);
    }
  };
  walk(pid, 0);
  return all;
}

/**
 * A process's state letter and start time (fields 3 and 22 of /proc/<pid>/stat; the start time, in clock
 * ticks since boot, tells a process from a later one given the same pid). Undefined once it is gone.
 */
function procStat(pid: number): { state: string; started: string } | undefined {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  } catch {
    return undefined;
  }
  // "pid (comm) S ...": the fields follow the last ")" (comm may hold spaces and parentheses).
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return { state: fields[0]!, started: fields[19]! };
}

/** Whether the process is gone or a zombie (Z), or (with `stoppedCounts`) stopped (T). */
function isStoppedOrGone(pid: number, stoppedCounts: boolean): boolean {
  const state = procStat(pid)?.state;
  if (state === undefined || state === "Z" || state === "X") return true;
  return stoppedCounts && (state === "T" || state === "t");
}

function trySignal(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(pid, signal);
  } catch {
    // Already gone.
  }
}
