import type { ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { availableParallelism, constants, tmpdir } from "node:os";
import { dirname, join } from "node:path";
import type { ProcessEnd } from "../../engine/outcome.js";
import { readCaptured, TAIL_BYTES } from "./capture.js";
import type { SpawnControl } from "./direct.js";
import { GroupStopper, signalGroup } from "./group.js";
import { JOB_SERVER_SCRIPT, SERVER_MARK } from "./job-server-script.js";
import { spawnFailure, type ProcessSpec } from "./spec.js";
import { childProcess, readline } from "./builtins.js";

/** How long a server may take to say it is ready before it is given up on. */
const READY_TIMEOUT_MS = 10_000;

type Spawner = (spec: ProcessSpec, control: SpawnControl) => Promise<ProcessEnd>;

/**
 * Starts step processes through small Python processes instead of forking Node.
 *
 * Why: Node's spawn forks the whole Node process and resets every signal in the child; measured here,
 * 6–8 ms per process, growing with the heap. posix_spawn in a small helper costs a fraction of that
 * (`npm run bench -- --only spawn`). Python, because its posix_spawn reports the raw wait status (a
 * shell's `$?` cannot tell `exit 137` from a SIGKILL) and puts each job in a process group of its own,
 * so that a job is stopped exactly as a directly spawned process is (process/group.ts).
 *
 * One server per job running at once, reused: a step that kills its server loses only itself; only when
 * more jobs start at once than servers are ready do jobs share one for a while (see serverFor). It is an
 * optimisation, not a semantics: the first server must say it is ready (the probe), any failure to
 * start sends the jobs to the direct spawner, and the conformance suite runs every case through both.
 * Output goes through the server to files read when the job ends, so nothing streams: runs that want
 * live output use the direct spawner. The files hold only what is needed of each stream (the value's
 * bytes, the tail), however much a job writes.
 */
export class JobServers {
  private readonly dir: string;
  private readonly all = new Set<JobServer>();
  private nextId = 0;
  private closed = false;
  /** Why the servers cannot be used; undefined while they can. */
  failure: string | undefined;
  /** How many servers may be starting at once before any is ready: one per core. */
  private readonly burstServers = availableParallelism();

  constructor(
    private readonly env: NodeJS.ProcessEnv,
    private readonly killGraceMs: number,
    private readonly fallback: Spawner,
  ) {
    this.dir = mkdtempSync(join(tmpdir(), "tributary-jobs-"));
  }

  async run(spec: ProcessSpec, control: SpawnControl): Promise<ProcessEnd> {
    if (this.failure !== undefined) return this.fallback(spec, control);
    const server = this.serverFor();
    // Counted as its job while it waits for the server: the jobs after it choose knowing that.
    server.waiting++;
    const ready = await server.ready;
    server.waiting--;
    if (!ready) {
      this.all.delete(server);
      // Never ready: python3 is missing or cannot run the server. Only then is the optimisation off.
      if (!server.everReady) {
        this.failure ??= `the job server is unavailable (${server.death}); starting processes from Node instead, which is slower`;
      }
      return this.run(spec, control);
    }
    const id = String(this.nextId++);
    const end = await server.run(id, join(this.dir, id), spec, control);
    if (!server.alive) this.all.delete(server);
    return end;
  }

  /**
   * The server a job goes to: a ready one without a job, when there is one (a job alone on its server is
   * the only one lost if it kills the server). Otherwise a job does not wait for a server to start (tens
   * of milliseconds, more while a run's first steps all start at once): it shares the least busy ready
   * server, while one more server starts for the jobs after it. Before any server is ready, it waits for
   * one starting without a job, or starts one, up to one per core (what prepare starts); past that, it
   * waits for the least busy (more starting at once would only slow those already starting).
   */
  private serverFor(): JobServer {
    let idleReady: JobServer | undefined;
    let readyLeast: JobServer | undefined;
    let least: JobServer | undefined;
    let starting = 0;
    let alive = 0;
    for (const s of this.all) {
      if (!s.alive) continue;
      alive++;
      if (!s.isReady) starting++;
      else if (s.jobs === 0) idleReady ??= s;
      if (s.isReady && (!readyLeast || s.jobs < readyLeast.jobs)) readyLeast = s;
      if (!least || s.jobs < least.jobs) least = s;
    }
    if (idleReady) return idleReady;
    if (readyLeast) {
      if (starting === 0) this.start();
      return readyLeast;
    }
    if (least && (least.jobs === 0 || alive >= this.burstServers)) return least;
    return this.start();
  }

  /**
   * Starts servers up to `count` without a job, without waiting for them: one now, the others once it
   * is ready. Starting a server forks this process, which costs its main thread several milliseconds a
   * server (more as the heap grows), and prepare runs ahead of the run's first step; the first server
   * takes the first jobs, and a job that finds no idle server starts one itself (serverFor).
   */
  prestart(count: number): void {
    if (this.failure !== undefined || this.closed) return;
    const idle = this.count((s) => s.jobs === 0);
    if (idle >= count) return;
    const alive = this.count(() => true);
    const wanted = alive + count - idle;
    const first = this.start();
    // After the jobs waiting for the first server have gone to it: a start forks this process.
    if (alive + 1 < wanted) void first.ready.then((ok) => ok && setImmediate(() => this.startUpTo(wanted)));
  }

  private startUpTo(total: number): void {
    if (this.closed) return;
    for (let alive = this.count(() => true); alive < total; alive++) this.start();
  }

  /** How many live servers pass `test`. */
  private count(test: (s: JobServer) => boolean): number {
    let n = 0;
    for (const s of this.all) if (s.alive && test(s)) n++;
    return n;
  }

  close(): void {
    this.closed = true;
    for (const s of this.all) s.close();
    this.all.clear();
    rmSync(this.dir, { recursive: true, force: true });
  }

  private start(): JobServer {
    const s = new JobServer(this.env, this.killGraceMs);
    this.all.add(s);
    return s;
  }
}

/** One Python process, running the jobs given to it (one at a time, but for a burst: see serverFor). */
class JobServer {
  readonly ready: Promise<boolean>;
  everReady = false;
  isReady = false;
  alive = true;
  /** Why it stopped being usable. */
  death = "";
  private readonly proc: ChildProcess;
  private readonly running = new Map<string, Job>();
  private markReady!: (ok: boolean) => void;

  constructor(env: NodeJS.ProcessEnv, killGraceMs: number) {
    this.ready = new Promise((resolve) => (this.markReady = resolve));
    // Its own process group: a terminal's Ctrl-C reaches Node, which stops the jobs itself.
    this.proc = childProcess().spawn(
      pythonPath(env),
      ["-I", "-S", "-c", JOB_SERVER_SCRIPT, String(killGraceMs / 1000)],
      {
        // Marked as a server (not passed on to its jobs): the servers' sweeps spare each other (see the script).
        env: { ...env, [SERVER_MARK]: "1" },
        stdio: ["pipe", "ignore", "pipe", "pipe"],
        detached: true,
      },
    );
    let stderr = "";
    this.proc.stderr!.on("data", (b: Buffer) => (stderr = (stderr + b.toString()).slice(-2000)));
    this.proc.on("error", (err) => this.died(`cannot start python3: ${err.message}`));
    this.proc.on("exit", (code, sig) =>
      this.died(`the job server exited (${sig ?? code})${stderr ? `: ${stderr.trim()}` : ""}`),
    );
    this.proc.stdin!.on("error", () => {});
    const lines = readline().createInterface({ input: this.proc.stdio[3] as NodeJS.ReadableStream });
    lines.on("line", (line) => this.onMessage(line));
    const timer = setTimeout(
      () => this.kill(`it did not start within ${READY_TIMEOUT_MS / 1000} s`),
      READY_TIMEOUT_MS,
    );
    timer.unref();
    // Busy until ready: a job waits for it.
    void this.ready.then((ok) => {
      clearTimeout(timer);
      this.isReady = ok;
      if (this.running.size === 0) this.setBusy(false);
    });
  }

  /** Jobs given to it that wait for it to be ready. */
  waiting = 0;

  /** Jobs it is running or will run. */
  get jobs(): number {
    return this.running.size + this.waiting;
  }

  run(id: string, base: string, spec: ProcessSpec, control: SpawnControl): Promise<ProcessEnd> {
    return new Promise((resolve) => {
      const job: Job = {
        id,
        spec,
        resolve,
        stopper: new GroupStopper(spec.killGraceMs),
        out: `${base}.o`,
        err: `${base}.e`,
      };
      control.onStop((reason) => job.stopper.stop(reason));
      this.running.set(id, job);
      this.setBusy(true);
      const line = JSON.stringify({
        id,
        file: spec.file,
        argv: spec.argv,
        cwd: spec.cwd,
        env: spec.extraEnv,
        out: job.out,
        err: job.err,
        keep: spec.keepStdout,
      });
      this.proc.stdin!.write(`${line}\n`);
    });
  }

  close(): void {
    this.alive = false;
    this.proc.stdin!.end();
    this.setBusy(false);
  }

  private onMessage(line: string): void {
    let m: Message;
    try {
      m = JSON.parse(line) as Message;
    } catch {
      return this.kill(`it sent a line that is not JSON: ${line.slice(0, 80)}`);
    }
    if ("ready" in m) {
      this.everReady = true;
      return this.markReady(true);
    }
    const job = this.running.get(m.id);
    if (!job) return;
    if ("pid" in m) {
      job.pid = m.pid;
      return job.stopper.started(m.pid);
    }
    this.running.delete(m.id);
    if (this.running.size === 0) this.setBusy(false);
    // A stopped job is over once all of its process group is gone.
    void job.stopper.ended().then(() => job.resolve(endOf(job, m)));
  }

  private kill(why: string): void {
    this.died(why);
    this.proc.kill("SIGKILL");
  }

  /** Gone (or unusable): its jobs are lost; what they started is stopped, not left unseen. */
  private died(why: string): void {
    if (!this.alive && this.death) return;
    this.alive = false;
    this.isReady = false;
    this.death = why;
    this.markReady(false);
    const jobs = [...this.running.values()];
    this.running.clear();
    this.setBusy(false);
    for (const job of jobs) {
      if (job.pid !== undefined) signalGroup(job.pid, "SIGKILL");
      void job.stopper.ended();
      job.resolve({
        exitCode: null,
        signal: null,
        stdout: "",
        stdoutOverflow: false,
        stdoutLimit: job.spec.keepStdout,
        tail: "",
        shell: job.spec.shell,
        lost: `${why} while ${job.spec.argv[0]} ran`,
      });
    }
  }

  /** A job in flight keeps Node alive; an idle server does not. */
  private setBusy(busy: boolean): void {
    const handles = [this.proc, this.proc.stdio[3], this.proc.stderr] as unknown as {
      ref?(): void;
      unref?(): void;
    }[];
    for (const h of handles) (busy ? h?.ref : h?.unref)?.call(h);
  }
}

interface Job {
  id: string;
  spec: ProcessSpec;
  resolve: (end: ProcessEnd) => void;
  stopper: GroupStopper;
  pid?: number;
  out: string;
  err: string;
}

/**
 * `out` and `err`: how many bytes each stream had (what is kept is its head and its tail); `o` and `e`:
 * the kept bytes, one character per byte, when they came in the message rather than in the file.
 */
interface Written {
  out: number;
  err: number;
  o?: string;
  e?: string;
  /** The errno name, when the server could not write a stream's file. */
  spool?: string;
}
type Ended =
  | ({ id: string; exit: number } & Written)
  | ({ id: string; signal: number } & Written)
  | { id: string; error: string; at: "cwd" | "exec" };
type Message = { ready: 1 } | { id: string; pid: number } | Ended;

function endOf(job: Job, m: Ended): ProcessEnd {
  const { spec } = job;
  const written: Written = "error" in m ? { out: 0, err: 0, o: "", e: "" } : m;
  const inline = (text: string | undefined) => (text === undefined ? undefined : Buffer.from(text, "latin1"));
  const out = readCaptured(job.out, spec.keepStdout, written.out, inline(written.o));
  const err = readCaptured(job.err, 0, written.err, inline(written.e));
  const base = {
    exitCode: null,
    signal: null,
    stopped: job.stopper.stoppedFor,
    stdout: out.text,
    stdoutOverflow: out.overflow,
    stdoutLimit: spec.keepStdout,
    tail: (out.tail + err.tail).slice(-TAIL_BYTES),
    shell: spec.shell,
  };
  // Output that was written but cannot be read back: the step's value and tail are not known.
  const lost =
    "error" in m
      ? undefined
      : m.spool !== undefined
        ? `${m.spool} in ${dirname(job.out)}`
        : (out.missing ?? err.missing);
  if (lost !== undefined) return { ...base, lost: `could not keep the output of ${spec.argv[0]}: ${lost}` };
  if ("error" in m) {
    const failure = spawnFailure(m.error, spec.argv[0] ?? spec.file, spec.cwd);
    if (m.at === "cwd") failure.missingCwd = true;
    return { ...base, spawnError: failure };
  }
  if ("signal" in m) return { ...base, signal: SIGNAL_NAMES.get(m.signal) ?? `signal ${m.signal}` };
  return { ...base, exitCode: m.exit };
}

const SIGNAL_NAMES = new Map(Object.entries(constants.signals).map(([name, n]) => [n as number, name]));

/** The system's python3 first: a version manager's shim on PATH costs a shell script per start. */
function pythonPath(env: NodeJS.ProcessEnv): string {
  if (env.TRIBUTARY_PYTHON) return env.TRIBUTARY_PYTHON;
  for (const p of ["/usr/bin/python3", "/usr/local/bin/python3"]) if (existsSync(p)) return p;
  return "python3";
}
