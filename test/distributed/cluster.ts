/**
 * A real little cluster for the distributed tests: one redis-server, worker processes started with the real
 * `tributary worker` command, and a scratch copy of the test project. Everything is stopped by PID.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { cpSync, rmSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import type { Step, ValueExpr } from "../../src/graph/ir.js";
import { tempDir } from "../helpers/procs.js";
import { liveServers, startRedis, type RedisServer, type RedisServerOptions } from "../helpers/servers.js";

const here = dirname(fileURLToPath(import.meta.url));
const WORKER_CLI = join(here, "fixtures", "worker-cli.ts");
const REPO = resolve(here, "..", "..");

export interface WorkerProcess {
  pid: number;
  child: ChildProcess;
  /** Everything it logged so far. */
  log(): string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  kill(signal?: NodeJS.Signals): void;
}

export class Cluster {
  readonly workers: WorkerProcess[] = [];
  private readonly dirs: string[] = [];

  private constructor(
    readonly redis: RedisServer,
    /** The orchestrator's project root (workers default to the same directory: a shared checkout). */
    readonly root: string,
  ) {}

  static async start(redis: RedisServerOptions = {}): Promise<Cluster> {
    const server = await startRedis(redis);
    const c = new Cluster(server, "");
    (c as { root: string }).root = c.copyProject();
    return c;
  }

  get url(): string {
    return this.redis.url;
  }

  /** A fresh copy of the test project (another machine's checkout). */
  copyProject(): string {
    const dir = tempDir("tributary-dist-");
    this.dirs.push(dir);
    cpSync(join(here, "fixtures", "project"), dir, { recursive: true });
    return dir;
  }

  /** Starts a worker process and resolves once it is taking steps. */
  async worker(args: string[] = [], root = this.root): Promise<WorkerProcess> {
    const argv = [
      "--import",
      "tsx",
      WORKER_CLI,
      "worker",
      "--redis",
      this.url,
      "--root",
      root,
      "--lock-duration",
      "1500",
      "--stalled-interval",
      "500",
      "--grace",
      "5",
      ...args,
    ];
    const child = spawn(process.execPath, argv, { cwd: REPO, stdio: ["ignore", "ignore", "pipe"] });
    // Killed with the test process if it ends before afterAll (a timeout): see liveServers.
    liveServers.add(child);
    child.once("exit", () => liveServers.delete(child));
    let text = "";
    child.stderr!.on("data", (b: Buffer) => {
      text += b.toString();
      if (process.env.TRIBUTARY_TEST_DEBUG) process.stderr.write(`[worker ${child.pid}] ${b.toString()}`);
    });
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((res) =>
      child.once("exit", (code, signal) => res({ code, signal })),
    );
    const w: WorkerProcess = {
      pid: child.pid!,
      child,
      log: () => text,
      exited,
      kill: (signal = "SIGTERM") => {
        if (child.exitCode === null && child.signalCode === null) process.kill(child.pid!, signal);
      },
    };
    this.workers.push(w);
    const end = Date.now() + 20_000;
    while (!/ ready: /.test(text)) {
      if (child.exitCode !== null || Date.now() > end) {
        throw new Error(`worker did not start (exit ${child.exitCode}):\n${text}`);
      }
      await new Promise((r) => setTimeout(r, 20));
    }
    return w;
  }

  /** Stops every worker (SIGTERM, SIGKILL after 5 s). */
  async stopWorkers(): Promise<void> {
    await Promise.all(
      this.workers.map(async (w) => {
        w.kill("SIGTERM");
        const t = setTimeout(() => w.kill("SIGKILL"), 5000);
        const t0 = Date.now();
        const how = await w.exited;
        if (process.env.TRIBUTARY_TEST_DEBUG) console.log("worker exit", how, Date.now() - t0);
        clearTimeout(t);
      }),
    );
    this.workers.length = 0;
  }

  /** Stops every worker, the server, and removes the scratch directories. */
  async stop(): Promise<void> {
    await this.stopWorkers();
    await this.redis.stop();
    for (const d of this.dirs) rmSync(d, { recursive: true, force: true });
  }
}

/**
 * A function step calling an export of the test project's modules.ts. Its in-process `fn` throws: these
 * steps must run on a worker (the flow loader sets both `fn` and `ref`, like this).
 */
export function fnStep(
  root: string,
  id: string,
  exportName: string,
  inputs: ValueExpr[] = [],
  options: Step["options"] = {},
  module = exportName,
): Step {
  return {
    id,
    module,
    action: {
      kind: "function",
      fn: () => {
        throw new Error(`${id} ran in the orchestrator instead of on a worker`);
      },
      ref: { file: join(root, "modules.ts"), exportName },
    },
    inputs,
    options,
  };
}

/** A process step running argv (no shell). */
export function procStep(
  id: string,
  argv: ValueExpr[],
  options: Step["options"] = {},
  module = "exec",
): Step {
  return { id, module, action: { kind: "process" }, inputs: argv, options };
}

export const lit = (value: unknown): ValueExpr => ({ kind: "lit", value });
export const ref = (step: string, path?: (string | number)[]): ValueExpr => ({ kind: "ref", step, path });
