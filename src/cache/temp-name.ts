import { hostname } from "node:os";

/**
 * Names of temp files in the cache and beside atomically written files. Apart from layout.ts, and free of
 * node:crypto: a null run writes its record through here and must not pay for loading crypto.
 */

const HOST = hostname()
  .replace(/[^A-Za-z0-9.-]/g, "_")
  .slice(0, 40);
let counter = 0;

/**
 * A temp file name unique across processes and hosts: `<host>~<pid>~<random>~<n>.tmp`, so a sweep can
 * tell a dead process's leftovers (same host, pid gone) from a live writer's.
 */
export function tempName(): string {
  return `${HOST}~${process.pid}~${randomHex()}~${++counter}.tmp`;
}

/** True when a temp file may be deleted: its writer is gone (same host) or it is older than maxAgeMs. */
export function isStaleTemp(name: string, mtimeMs: number, now: number, maxAgeMs: number): boolean {
  if (now - mtimeMs > maxAgeMs) return true;
  const parts = name.split("~");
  if (parts.length < 4 || parts[0] !== HOST) return false;
  const pid = Number(parts[1]);
  if (!Number.isInteger(pid) || pid <= 0 || pid === process.pid) return false;
  try {
    process.kill(pid, 0);
    return false;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "ESRCH";
  }
}

/** 12 hex digits that tell apart two writers with the same pid (on two hosts sharing a cache). */
function randomHex(): string {
  return Math.floor(Math.random() * 2 ** 48)
    .toString(16)
    .padStart(12, "0");
}
