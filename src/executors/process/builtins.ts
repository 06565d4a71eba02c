/**
 * The built-in modules only a process step needs, loaded on first use rather than at start-up:
 * `node:child_process` brings `net`, `dgram` and streams with it (~3 ms of every start here), and a run
 * whose steps are all TS functions, the service fan-out, never spawns a process (nor reads make's
 * jobserver through a socket).
 */
export function childProcess(): typeof import("node:child_process") {
  return process.getBuiltinModule("node:child_process");
}

export function readline(): typeof import("node:readline") {
  return process.getBuiltinModule("node:readline");
}

export function net(): typeof import("node:net") {
  return process.getBuiltinModule("node:net");
}
