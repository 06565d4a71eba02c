/**
 * What travels between the orchestrator and its workers through Redis. BullMQ carries the ready steps
 * (job data, as JSON) and their outcomes (the job's return value); two pub/sub channels carry what does
 * not need to be durable: step output as it happens, and cancellation requests.
 */
import { hostname } from "node:os";
import type { ConnectionOptions } from "./bullmq-ioredis.js";
import { whyNotPlainData } from "../../graph/eval.js";
import { Redis, type RedisOptions } from "./bullmq-ioredis.js";
import type { RemoteTask } from "./task.js";
import type { StepError } from "../../engine/result.js";

export const DEFAULT_QUEUE = "tributary";
/** BullMQ's own default key prefix, so BullMQ dashboards find the queue without configuration. */
export const DEFAULT_PREFIX = "bull";
/** Bumped whenever the job data or outcome changes shape; a worker refuses jobs of another version. */
export const PROTOCOL_VERSION = 1;

/** The data of one BullMQ job. */
export interface JobData {
  v: number;
  /** `undefinedArgs`: positions of arguments that were undefined (JSON would turn them into null). */
  task: RemoteTask & { undefinedArgs?: number[] };
  /** The orchestrator that enqueued the job: its heartbeat key tells workers that it still waits. */
  client: string;
  /** Publish the step's output on this channel (only when the orchestrator shows output). */
  out?: string;
}

/** A job's return value: the step's outcome plus where it ran. */
export type WireOutcome = (
  | { ok: true; value?: unknown; worker: string }
  | { ok: false; error: StepError; tail?: string; worker: string }
) & {
  /** Output messages published for the step, so the orchestrator can wait for stragglers. */
  messages?: number;
  /** The worker did not run it: its orchestrator's heartbeat was missing (enqueue it again if alive). */
  dropped?: boolean;
  /** Permission bits (0o777 mask) of the output files, in the order of the value's files. */
  modes?: number[];
};

/** A message on the output channel. */
export interface OutputMessage {
  /** Job id. */
  j: string;
  s: "stdout" | "stderr";
  c: string;
}

/** A message on the cancel channel. */
export interface CancelMessage {
  j: string;
  kind: "cancelled" | "timeout";
}

export type { OutputFile, TransferOutputs } from "./task.js";

export const channels = (prefix: string, queue: string) => ({
  cancel: `${prefix}:${queue}:tributary:cancel`,
  output: (client: string) => `${prefix}:${queue}:tributary:out:${client}`,
  heartbeat: (client: string) => `${prefix}:${queue}:tributary:client:${client}`,
});

/** BullMQ's highest priority is 1 and its lowest 2^21-1; 0 would mean "before every prioritized job". */
const BULL_MIN = 1;
const BULL_MAX = 2 ** 21 - 1;
const BULL_ZERO = 2 ** 20;

/**
 * Maps a Tributary priority (higher runs first, default 0) to BullMQ's (lower runs first), one to one for
 * whole numbers within ±2^20; fractions are rounded, and beyond that range priorities saturate.
 */
export function bullPriority(priority: number): number {
  const p = Number.isFinite(priority) ? Math.round(priority) : priority > 0 ? BULL_MAX : -BULL_MAX;
  return Math.min(BULL_MAX, Math.max(BULL_MIN, BULL_ZERO - p));
}

/** "host:pid", how a worker names itself in errors. */
export function workerIdentity(): string {
  return `${hostname()}:${process.pid}`;
}

/** A Redis URL without its password, for messages and logs. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = "***";
    return u.toString().replace(/\/$/, "");
  } catch {
    return url.replace(/\/\/[^@/]*@/, "//***@");
  }
}

export interface ConnectionSettings {
  url: string;
  /** Passed on to ioredis: `password`, `username`, `tls: { ca, cert, key }`, `db`, timeouts... */
  redisOptions?: RedisOptions;
}

/**
 * Connection options for BullMQ (which builds its own ioredis clients). Reconnection is quick and never
 * gives up: a Redis restart must not end a worker or an orchestrator.
 */
export function bullConnection(c: ConnectionSettings): ConnectionOptions {
  return {
    retryStrategy: (times: number) => Math.min(100 * times, 1000),
    ...c.redisOptions,
    url: c.url,
  } as ConnectionOptions;
}

/** Options for the plain ioredis clients we create ourselves (pub/sub, heartbeat, pings). */
export function plainConnection(c: ConnectionSettings): RedisOptions {
  return {
    retryStrategy: (times: number) => Math.min(100 * times, 1000),
    maxRetriesPerRequest: null,
    ...c.redisOptions,
  };
}

/**
 * A pub/sub client that subscribes again after every reconnection. ioredis' own `autoResubscribe` leaves
 * the promise of that SUBSCRIBE unhandled, so a connection that drops again in the middle of it (a Redis
 * restart, or close()) would crash the process with an unhandled rejection.
 */
export function subscriber(
  c: ConnectionSettings,
  channelNames: string[],
  onMessage: (channel: string, message: string) => void,
): { client: Redis; ready: Promise<void> } {
  const client = new Redis(c.url, { ...plainConnection(c), autoResubscribe: false });
  client.on("error", () => {});
  client.on("message", onMessage);
  let subscribed!: () => void;
  const ready = new Promise<void>((res) => (subscribed = res));
  client.on("ready", () => {
    client.subscribe(...channelNames).then(
      () => subscribed(),
      () => {},
    );
  });
  return { client, ready };
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** `p`, or a rejection with `message` once `ms` have passed. */
export function withDeadline<T>(p: Promise<T>, ms: number, message = "timed out"): Promise<T> {
  return new Promise((res, rej) => {
    const t = setTimeout(() => rej(new Error(message)), ms);
    p.then(
      (v) => {
        clearTimeout(t);
        res(v);
      },
      (e) => {
        clearTimeout(t);
        rej(e);
      },
    );
  });
}

/**
 * Why a value cannot travel as JSON without changing, naming the offending path; undefined when it can.
 * The rules of `whyNotPlainData`, except that a field whose value is `undefined` is allowed: JSON drops it,
 * and `{ a: 1, b: undefined }` reads the same as `{ a: 1 }` on the other side.
 */
export function whyNotWireData(v: unknown, path = "value"): string | undefined {
  return whyNotPlainData(v, path, 0, { undefinedFields: true });
}
