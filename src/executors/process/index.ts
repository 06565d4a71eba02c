import { availableParallelism } from "node:os";
import type { Attempt, Executor, PrepareHint } from "../../engine/executor.js";
import { ownerEnv, startReaper, type Reaper } from "./reaper.js";
import { processOutcome, type Outcome, type ProcessEnd } from "../../engine/outcome.js";
import type { StepAction } from "../../graph/ir.js";
import { spawnDirect, type SpawnControl } from "./direct.js";
import { killAllGroups } from "./group.js";
import { JobServers } from "./job-server.js";
import { jobserverFor, type StepJobserver } from "./jobserver-server.js";
import { collectOutputs, prepareOutputs } from "./outputs.js";
import { commandLine, envOf, processSpec, type ProcessSpec } from "./spec.js";

export interface ProcessExecutorOptions {
  /**
   * "auto" starts processes through the job server where it can (probed once, falling back to direct
   * spawns with one warning); "direct" always spawns from Node. TRIBUTARY_SPAWN=direct forces direct.
   */
  spawn?: "auto" | "direct";
  /**
   * Mark every process with this owner token and start a reaper that kills them all if this process
   * dies (see reaper.ts): no step outlives its orchestrator. Off by default (a library's choice).
   */
  ownerToken?: string;
}

/**
 * Runs process steps (`exec`, `sh`): argv without a shell, or a /bin/sh command line. Which spawner
 * starts a process is an optimisation; both report the same raw facts and the one classifier
 * (engine/outcome.ts) judges them.
 */
export class ProcessExecutor implements Executor {
  readonly name = "process";
  private server: JobServers | undefined;
  private serverEnv: NodeJS.ProcessEnv | undefined;
  private warned = false;
  private warnedJobserver = false;
  private readonly useServer: boolean;
  private ownerEnv: Record<string, string> | undefined;
  private reaper: Reaper | undefined;

  constructor(private readonly options: ProcessExecutorOptions = {}) {
    this.useServer =
      options.spawn !== "direct" && process.env.TRIBUTARY_SPAWN !== "direct" && process.platform !== "win32";
  }

  accepts(action: StepAction): boolean {
    return action.kind === "process";
  }

  commandOf(attempt: Attempt): string[] {
    return commandLine(attempt);
  }

  async run(attempt: Attempt): Promise<Outcome> {
    const prepared = processSpec(attempt);
    if ("end" in prepared) return processOutcome(prepared.end);
    const { spec } = prepared;
    const owner = this.owner();
    if (owner) spec.extraEnv = { ...spec.extraEnv, ...owner };
    const refused = prepareOutputs(attempt.root, attempt.outputs);
    if (refused) return refused;
    // A MAKEFLAGS in the step's own env is an explicit choice, as for the thread counts: it stays.
    const end =
      attempt.cpus > 1 && spec.extraEnv.MAKEFLAGS === undefined
        ? await this.spawnWithJobserver(spec, attempt)
        : await this.spawn(spec, attempt);
    const outcome = processOutcome(end);
    if (!outcome.ok || attempt.outputs.length === 0) return outcome;
    return collectOutputs(attempt, outcome.tail);
  }

  /** The owner variable for every process (see reaper.ts). */
  private owner(): Record<string, string> | undefined {
    const token = this.options.ownerToken;
    if (token === undefined) return undefined;
    this.ownerEnv ??= ownerEnv(token);
    return this.ownerEnv;
  }

  /**
   * Node's own spawn, with the reaper started first: the job servers sweep for the owner's processes
   * themselves when this process goes, but what Node spawns has no server above it.
   */
  private readonly spawnDirect = (spec: ProcessSpec, control: SpawnControl): Promise<ProcessEnd> => {
    const token = this.options.ownerToken;
    if (token !== undefined && !this.reaper) this.reaper = startReaper(token);
    return spawnDirect(spec, control);
  };

  killNow(): void {
    killAllGroups();
  }

  async close(): Promise<void> {
    this.server?.close();
    this.server = undefined;
    this.reaper?.close();
    this.reaper = undefined;
    this.ownerEnv = undefined;
  }

  /**
   * A step holding several CPU slots gets a jobserver (its own of that many slots, or make's: see
   * jobserver-server.ts), through the direct spawner: the job server cannot pass fds on.
   */
  private async spawnWithJobserver(spec: ProcessSpec, attempt: Attempt): Promise<ProcessEnd> {
    let jobserver: StepJobserver | undefined;
    try {
      jobserver = await jobserverFor(attempt.cpus, envOf(spec));
    } catch (err) {
      if (!this.warnedJobserver) {
        this.warnedJobserver = true;
        attempt.warn(
          `cannot make a jobserver for steps with several cpus (${(err as Error).message}); a make they run gets no -j from Tributary`,
        );
      }
      return this.spawn(spec, attempt);
    }
    if (!jobserver) return this.spawn(spec, attempt);
    const ended = this.spawnDirect(
      { ...spec, extraEnv: { ...spec.extraEnv, ...jobserver.env }, fds: jobserver.fds },
      attempt,
    );
    // The child has its own copies by now (spawn forks synchronously).
    jobserver.close();
    return ended;
  }

  /**
   * Starts the job servers a run at -jN will want first (one per core, at most N): a server takes
   * 10-20 ms to start, which would otherwise delay each of the first steps.
   */
  prepare(hint: PrepareHint): void {
    // A live run spawns every process directly: the servers cannot stream output.
    if (!this.useServer || hint.liveOutput || this.server) return;
    const cores = availableParallelism();
    // One server per job that can run at once: no more than the slots, the cores or the steps.
    this.servers(hint.env, hint.killGraceMs).prestart(Math.min(hint.slots ?? cores, cores, hint.steps));
  }

  /** The job servers, started for the first environment asked for (they serve that one only). */
  private servers(env: NodeJS.ProcessEnv, killGraceMs: number): JobServers {
    if (!this.server) {
      this.serverEnv = env;
      // The servers' environment is their jobs' environment: the owner token goes with it.
      this.server = new JobServers({ ...env, ...this.owner() }, killGraceMs, this.spawnDirect);
    }
    return this.server;
  }

  private spawn(spec: ProcessSpec, attempt: Attempt): Promise<ProcessEnd> {
    const control: SpawnControl = attempt;
    // The server cannot stream output, and serves one environment (the one it was started with).
    if (!this.useServer || attempt.onOutput) return this.spawnDirect(spec, control);
    this.servers(attempt.env, attempt.killGraceMs);
    if (this.serverEnv !== attempt.env) return this.spawnDirect(spec, control);
    const server = this.server!;
    return server.run(spec, control).finally(() => {
      if (server.failure !== undefined && !this.warned) {
        this.warned = true;
        attempt.warn(server.failure);
      }
    });
  }
}
