import type { StopReason } from "../../engine/outcome.js";

/**
 * Every step process is the leader of its own process group, whichever spawner started it, so one rule
 * stops a step everywhere: SIGTERM to the whole group, SIGKILL after the grace period, and SIGKILL to
 * what is left of the group as soon as the leader is gone. A grandchild that stays in the group (the
 * usual case: `sh -c "a | b"`, `make`) goes with it.
 */

const DONE = Promise.resolve();
/** How long a stopped step's group may take to be gone after SIGKILL before the step ends anyway. */
const GROUP_WAIT_MS = 2000;

/** Whether any process of the group is still there. */
function groupAlive(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** Process groups of step processes still running, so a second Ctrl-C can kill them all at once. */
const liveGroups = new Set<number>();

/** SIGKILLs every running step's process group now (no more grace). */
export function killAllGroups(): void {
  for (const pgid of liveGroups) signalGroup(pgid, "SIGKILL");
}

export function signalGroup(pgid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pgid, signal);
  } catch {
    // Already gone.
  }
}

/** The life of one step's process group, from its start to the end of its leader. */
export class GroupStopper {
  private pgid: number | undefined;
  private killTimer: NodeJS.Timeout | undefined;
  private over = false;
  /** Why it was stopped, when the stop came before the leader ended. */
  stoppedFor: StopReason | undefined;

  constructor(private readonly killGraceMs: number) {}

  /** The leader started: its pid is the group's id. A stop asked for earlier is carried out now. */
  started(pid: number): void {
    this.pgid = pid;
    liveGroups.add(pid);
    if (this.stoppedFor) this.terminate();
  }

  stop(reason: StopReason): void {
    if (this.stoppedFor || this.over) return;
    this.stoppedFor = reason;
    if (this.pgid !== undefined) this.terminate();
  }

  /**
   * The leader is gone. After a stop, nothing it started may outlive it: what is left of the group is
   * killed, and the promise settles once the group is empty, so that a stopped step is over only when
   * all of it is gone (bounded: a process stuck in the kernel does not hold the run forever).
   */
  ended(): Promise<void> {
    if (this.over) return DONE;
    this.over = true;
    if (this.pgid === undefined) return DONE;
    const pgid = this.pgid;
    liveGroups.delete(pgid);
    if (this.killTimer) clearTimeout(this.killTimer);
    if (!this.stoppedFor) return DONE;
    signalGroup(pgid, "SIGKILL");
    return new Promise((resolve) => {
      let waited = 0;
      const check = (): void => {
        if (!groupAlive(pgid) || waited >= GROUP_WAIT_MS) return resolve();
        waited += 10;
        setTimeout(check, 10);
      };
      check();
    });
  }

  private terminate(): void {
    const pgid = this.pgid!;
    signalGroup(pgid, "SIGTERM");
    this.killTimer = setTimeout(() => signalGroup(pgid, "SIGKILL"), this.killGraceMs);
    this.killTimer.unref();
  }
}
