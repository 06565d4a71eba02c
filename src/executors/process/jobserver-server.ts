import { closeSync, constants, mkdtempSync, openSync, rmSync, unlinkSync, writeSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { checkPipe, jobserverAuth } from "./jobserver-client.js";
import { childProcess } from "./builtins.js";

/** The fds a step's jobserver is passed on as (make's pipe form names fds, make 4.3 knows no other). */
const READ_FD = 3;
const WRITE_FD = 4;

/** A jobserver of its own for one process: where its tokens are, and the variables that name it. */
export interface StepJobserver {
  /** The child's fds 3 and 4 (spawn's stdio entries): both the pipe, opened for reading and writing. */
  fds: number[];
  env: Record<string, string>;
  /** Closes this process's end once the child has its own. */
  close(): void;
}

/**
 * The jobserver a process step gets, if any: only a step holding more than one CPU slot gets one, so
 * that a recursive make (or cargo, ninja 1.12, any jobserver client) uses exactly the slots it was
 * given. When Tributary itself runs under make, the step gets make's jobserver instead (the whole
 * tree shares it, as recursive make does: the step's slot is its make's implicit one, and further
 * tokens come from the shared pool); a fifo is named by its path and needs nothing, a pipe's fds are
 * passed on (Node starts every child without the fds it inherited). Undefined: spawn as usual.
 */
export async function jobserverFor(cpus: number, env: NodeJS.ProcessEnv): Promise<StepJobserver | undefined> {
  if (cpus <= 1) return undefined;
  const outer = jobserverAuth(env.MAKEFLAGS);
  if (!outer) return stepJobserver(cpus, env);
  if (outer.kind === "fifo" || !isPipe(outer)) return undefined;
  return {
    fds: [outer.read, outer.write],
    env: {
      MAKEFLAGS: env
        .MAKEFLAGS!.split(" ")
        .map((w) => (/^--jobserver-(auth|fds)=/.test(w) ? `--jobserver-auth=${READ_FD},${WRITE_FD}` : w))
        .join(" "),
    },
    close: () => {},
  };
}

function isPipe(auth: { read: number; write: number }): boolean {
  try {
    checkPipe(auth);
    return true;
  } catch {
    // The run warned about it (jobserver-client.ts); the step's make will say so too, and run -j1.
    return false;
  }
}

/**
 * Makes a jobserver of `cpus` slots for one process: a pipe holding cpus - 1 tokens (the process's own
 * slot is the implicit one), passed on as fds 3,4 and named by MAKEFLAGS as make itself names it
 * (` -jN --jobserver-auth=3,4`, which make 4.3 and 4.4 both read). The pipe is a fifo opened for reading
 * and writing and unlinked at once (Node cannot make an anonymous pipe): nothing else can reach it, and
 * tokens a crashed child took die with the step instead of leaking into the next one.
 */
async function stepJobserver(cpus: number, env: NodeJS.ProcessEnv): Promise<StepJobserver> {
  const dir = mkdtempSync(join(tmpdir(), "tributary-jobserver-"));
  const path = join(dir, "fifo");
  let fd: number;
  try {
    await new Promise<void>((resolve, reject) =>
      childProcess().execFile("mkfifo", ["-m", "600", path], (err) => (err ? reject(err) : resolve())),
    );
    // O_RDWR on a fifo never waits for the other end (Linux): this one description is both.
    fd = openSync(path, constants.O_RDWR);
  } finally {
    try {
      unlinkSync(path);
    } catch {
      // mkfifo failed: there is nothing to remove.
    }
    rmSync(dir, { recursive: true, force: true });
  }
  try {
    if (cpus > 1) writeSync(fd, Buffer.alloc(cpus - 1, "+"));
  } catch (err) {
    closeSync(fd);
    throw err;
  }
  const jobs = ` -j${cpus} --jobserver-auth=${READ_FD},${WRITE_FD}`;
  // The step's other make flags (-k, -s ...) stay; a -j of the environment is replaced by ours.
  const rest = (env.MAKEFLAGS ?? "")
    .split(/\s+/)
    .filter((w) => w !== "" && !/^-j\d*$/.test(w) && !w.startsWith("--jobserver-"))
    .join(" ");
  return {
    fds: [fd, fd],
    env: { MAKEFLAGS: rest === "" ? jobs : `${rest}${jobs}` },
    close: () => closeSync(fd),
  };
}
