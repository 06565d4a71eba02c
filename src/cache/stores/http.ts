/**
 * A remote cache over HTTP, in the Bazel remote-cache protocol: `GET/PUT/HEAD <base>/ac/<key>` and
 * `<base>/cas/<sha256>`. Served by nginx with WebDAV (`dav_methods PUT DELETE`), bazel-remote (started
 * with `--disable_http_ac_validation`: our action-cache entries are JSON manifests, not ActionResult
 * protobufs), or any server that stores PUT bodies and returns them on GET. See docs/caching.md.
 */
import { createHash } from "node:crypto";
import { constants, createReadStream, createWriteStream } from "node:fs";
import { copyFile, mkdtemp, open, readFile, rm, stat, unlink, writeFile } from "node:fs/promises";
import http, { type IncomingMessage } from "node:http";
import https from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pipeline } from "node:stream/promises";
import { DIGEST_ALGORITHM, digestBytes } from "../../graph/digest.js";
import { isHex64 } from "../layout.js";
import type { Namespace, PutOptions } from "../store.js";
import { Circuit, PING_TIMEOUT_MS, REQUEST_TIMEOUT_MS } from "./circuit.js";
import { CacheUnreachableError, short, type RemoteStore, type WarningSink } from "./remote.js";

export interface HttpStoreOptions {
  /**
   * A request whose socket is idle this long (connecting, or waiting for bytes) fails, and is not retried:
   * the circuit opens. Default {@link REQUEST_TIMEOUT_MS} (5 s).
   */
  timeoutMs?: number;
  /** Attempts after the first for 5xx answers and connection errors (default 3), with doubling backoff. */
  retries?: number;
  /** The first backoff (default 50 ms; then 100, 200… plus up to 50% jitter). */
  backoffMs?: number;
  /** Connections kept open to the server (default 16). */
  maxSockets?: number;
  /**
   * Decides when the server is given up on (see circuit.ts). Default: a service's (down for 10 s, then
   * tried again); a run passes `Circuit.forRun()` (down for the rest of the run).
   */
  circuit?: Circuit;
  /** Extra headers on every request (e.g. a bearer token). */
  headers?: Record<string, string>;
  onWarning?: WarningSink;
}

/** Bodies up to this size are read into memory to upload; larger files are streamed. */
const READ_WHOLE_LIMIT = 8 * 1024 * 1024;

const RETRYABLE_CODES = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "ECONNABORTED",
  "EPIPE",
  "ETIMEDOUT",
  "ENOTFOUND",
  "EAI_AGAIN",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "ENETDOWN",
  "EHOSTDOWN",
  "ERR_STREAM_PREMATURE_CLOSE",
  "TRUNCATED",
]);

type Body = { kind: "bytes"; data: Uint8Array } | { kind: "file"; path: string; size: number };

/** An error answer that is worth retrying (5xx, 408, 429). */
class RetryableStatus extends Error {}

export class HttpStore implements RemoteStore {
  readonly description: string;
  readonly location: string;
  private readonly base: URL;
  /** The path prefix, without a trailing slash ("" or "/team/cache"). */
  private readonly prefix: string;
  private readonly agent: http.Agent;
  private readonly request: typeof http.request;
  private readonly headers: Record<string, string>;
  private readonly timeoutMs: number;
  private readonly retries: number;
  private readonly backoffMs: number;
  readonly circuit: Circuit;
  /** Digests whose blob on the server did not match: the next upload replaces it without asking. */
  private readonly damaged = new Set<string>();

  constructor(
    url: string,
    private readonly options: HttpStoreOptions = {},
  ) {
    let u: URL;
    try {
      u = new URL(url);
    } catch {
      throw new Error(`not a URL: ${JSON.stringify(url)}`);
    }
    if (u.protocol !== "http:" && u.protocol !== "https:") {
      throw new Error(`an HTTP cache needs an http:// or https:// URL, got ${JSON.stringify(url)}`);
    }
    this.headers = { ...options.headers };
    if (u.username || u.password) {
      const user = decodeURIComponent(u.username);
      const pass = decodeURIComponent(u.password);
      this.headers.authorization = `Basic ${Buffer.from(`${user}:${pass}`).toString("base64")}`;
    }
    if (u.search || u.hash) throw new Error(`a cache URL takes no query or fragment: ${redact(u)}`);
    u.username = "";
    u.password = "";
    this.base = u;
    this.prefix = u.pathname.replace(/\/+$/, "");
    this.location = `the cache at ${redact(new URL(url))}`;
    this.description = `HTTP cache ${redact(new URL(url))}`;
    const secure = u.protocol === "https:";
    const agentOptions = { keepAlive: true, keepAliveMsecs: 1000, maxSockets: options.maxSockets ?? 16 };
    this.agent = secure ? new https.Agent(agentOptions) : new http.Agent(agentOptions);
    this.request = (secure ? https.request : http.request) as typeof http.request;
    this.timeoutMs = options.timeoutMs ?? REQUEST_TIMEOUT_MS;
    this.retries = options.retries ?? 3;
    this.backoffMs = options.backoffMs ?? 50;
    this.circuit = options.circuit ?? Circuit.forService();
  }

  private path(ns: Namespace, key: string): string {
    if (!isHex64(key)) throw new Error(`not a cache key: ${JSON.stringify(key)}`);
    return `${this.prefix}/${ns}/${key}`;
  }

  async get(ns: Namespace, key: string): Promise<Buffer | undefined> {
    const data = await this.send("GET", this.path(ns, key), undefined, async (res) => {
      if (res.statusCode === 404) return drain(res, undefined);
      const chunks: Buffer[] = [];
      for await (const c of res) chunks.push(c as Buffer);
      const buf = Buffer.concat(chunks);
      checkLength(res, buf.length);
      return buf;
    });
    if (data === undefined || ns === "ac") return data;
    const actual = digestBytes(data);
    if (actual !== key) {
      this.mismatch(key, actual);
      return undefined;
    }
    return data;
  }

  async has(ns: Namespace, key: string): Promise<boolean> {
    return this.send("HEAD", this.path(ns, key), undefined, (res) => drain(res, res.statusCode !== 404));
  }

  async put(ns: Namespace, key: string, data: Uint8Array, options: PutOptions = {}): Promise<void> {
    if (ns === "cas" && digestBytes(data) !== key) {
      throw new Error(`refusing to upload blob ${short(key)}: its content has another digest`);
    }
    if ((options.mode ?? "create") === "create" && !this.damaged.has(key) && (await this.has(ns, key)))
      return;
    await this.send("PUT", this.path(ns, key), { kind: "bytes", data }, (res) => drain(res, undefined));
    this.damaged.delete(key);
  }

  async putFile(path: string): Promise<{ digest: string; size: number }> {
    const size = (await stat(path)).size;
    if (size <= READ_WHOLE_LIMIT) {
      // One read: what is hashed is what is sent, even if the file changes meanwhile.
      const data = await readFile(path);
      const digest = digestBytes(data);
      await this.put("cas", digest, data);
      return { digest, size: data.length };
    }
    // Large: a private copy (a reflink where possible), so the bytes sent are the bytes hashed.
    const dir = await mkdtemp(join(tmpdir(), "tributary-upload-"));
    try {
      const copy = join(dir, "blob");
      await copyFile(path, copy, constants.COPYFILE_FICLONE);
      const { digest, size: n } = await hashFile(copy);
      await this.uploadFile(copy, digest, n);
      return { digest, size: n };
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }

  async uploadFile(path: string, digest: string, size: number): Promise<void> {
    if (!this.damaged.has(digest) && (await this.has("cas", digest))) return;
    const body: Body =
      size <= READ_WHOLE_LIMIT ? { kind: "bytes", data: await readFile(path) } : { kind: "file", path, size };
    if (body.kind === "bytes" && body.data.length !== size) {
      throw new Error(`blob ${short(digest)} changed size while it was uploaded`);
    }
    await this.send("PUT", this.path("cas", digest), body, (res) => drain(res, undefined));
    this.damaged.delete(digest);
  }

  async getFile(digest: string, dest: string): Promise<boolean> {
    const got = await this.send("GET", this.path("cas", digest), undefined, async (res) => {
      if (res.statusCode === 404) return drain(res, undefined);
      const declared = Number(res.headers["content-length"] ?? NaN);
      if (declared <= READ_WHOLE_LIMIT) {
        // Small (most outputs): read it, hash it, one write.
        const chunks: Buffer[] = [];
        for await (const c of res) chunks.push(c as Buffer);
        const data = Buffer.concat(chunks);
        checkLength(res, data.length);
        await writeFile(dest, data, { mode: 0o644 });
        return digestBytes(data);
      }
      const hash = createHash(DIGEST_ALGORITHM);
      let n = 0;
      res.on("data", (c: Buffer) => {
        hash.update(c);
        n += c.length;
      });
      // "w": a retry rewrites the file from the start.
      await pipeline(res, createWriteStream(dest, { flags: "w", mode: 0o644 }));
      checkLength(res, n);
      return hash.digest("hex");
    });
    if (got === undefined) return false;
    if (got !== digest) {
      await unlink(dest).catch(() => {});
      this.mismatch(digest, got);
      return false;
    }
    return true;
  }

  async delete(ns: Namespace, key: string): Promise<void> {
    await this.send("DELETE", this.path(ns, key), undefined, (res) => drain(res, undefined));
  }

  /** The server keeps its own recency (bazel-remote: on access; nginx: none, see docs). Nothing to do. */
  async touch(): Promise<void> {}

  async ping(): Promise<void> {
    // Any answer but a refusal of our credentials means the server is there. Quick: it is asked at
    // start-up, where a hanging server must not hold everything up.
    await this.send("HEAD", this.path("ac", "0".repeat(64)), undefined, (res) => drain(res, undefined), {
      retries: Math.min(this.retries, 1),
      timeoutMs: Math.min(this.timeoutMs, PING_TIMEOUT_MS),
    });
  }

  async close(): Promise<void> {
    this.agent.destroy();
  }

  private mismatch(digest: string, actual: string): void {
    this.damaged.add(digest);
    this.options.onWarning?.(
      `blob ${short(digest)} from ${this.location} does not match its digest (its content hashes to ${short(actual)}): not used`,
    );
  }

  /**
   * One request with retries. `onResponse` sees every answer that is neither an error to retry nor one to
   * give up on: 2xx, and 404 for GET/HEAD/DELETE. A timed-out request is not retried (a server that hangs
   * would otherwise cost every step several timeouts); the circuit then opens (see circuit.ts).
   */
  private async send<T>(
    method: "GET" | "HEAD" | "PUT" | "DELETE",
    path: string,
    body: Body | undefined,
    onResponse: (res: IncomingMessage) => Promise<T>,
    override: { retries?: number; timeoutMs?: number } = {},
  ): Promise<T> {
    this.circuit.check();
    const retries = override.retries ?? this.retries;
    const timeoutMs = override.timeoutMs ?? this.timeoutMs;
    for (let attempt = 0; ; attempt++) {
      try {
        const r = await this.once(method, path, body, onResponse, timeoutMs);
        this.circuit.succeeded();
        return r;
      } catch (err) {
        const timedOut = (err as NodeJS.ErrnoException).code === "ETIMEDOUT";
        const retryable = err instanceof RetryableStatus || isConnectionError(err);
        if (!retryable || timedOut || attempt >= retries) {
          if (isConnectionError(err)) {
            const code = (err as NodeJS.ErrnoException).code;
            const e = new CacheUnreachableError(
              `cannot reach ${this.location}: ${describeNetError(err, timeoutMs)}`,
              code,
            );
            this.circuit.failed(e);
            throw e;
          }
          throw err;
        }
        const delay = this.backoffMs * 2 ** attempt;
        await new Promise((r) => setTimeout(r, delay + Math.random() * delay * 0.5));
        // Another request found the server gone meanwhile: no more tries.
        this.circuit.check();
      }
    }
  }

  private once<T>(
    method: string,
    path: string,
    body: Body | undefined,
    onResponse: (res: IncomingMessage) => Promise<T>,
    timeoutMs: number,
  ): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const headers: Record<string, string | number> = { ...this.headers };
      if (body) {
        headers["content-type"] = "application/octet-stream";
        headers["content-length"] = body.kind === "bytes" ? body.data.length : body.size;
      }
      const req = this.request(
        {
          protocol: this.base.protocol,
          hostname: this.base.hostname.replace(/^\[|\]$/g, ""),
          port: this.base.port || undefined,
          method,
          path,
          agent: this.agent,
          headers,
        },
        (res) => {
          const status = res.statusCode ?? 0;
          if ((status >= 200 && status < 300) || (status === 404 && method !== "PUT")) {
            onResponse(res).then(resolve, reject);
            return;
          }
          res.resume();
          const what = `${status} ${res.statusMessage ?? ""}`.trim();
          const message = `${this.location} answered ${what} to ${method} ${path.slice(this.prefix.length)}`;
          if (status >= 500 || status === 408 || status === 429) reject(new RetryableStatus(message));
          else if (status === 401 || status === 403)
            reject(new Error(`${message}: check the user and password in the cache URL`));
          else reject(new Error(message));
        },
      );
      req.setTimeout(timeoutMs, () => {
        const e = new Error(`timed out after ${seconds(timeoutMs)}`) as NodeJS.ErrnoException;
        e.code = "ETIMEDOUT";
        req.destroy(e);
      });
      req.on("error", reject);
      if (!body) req.end();
      else if (body.kind === "bytes") req.end(body.data);
      else pipeline(createReadStream(body.path), req).catch(reject);
    });
  }
}

function drain<T>(res: IncomingMessage, value: T): Promise<T> {
  res.resume();
  return new Promise((resolve, reject) => {
    if (res.complete || res.readableEnded) return resolve(value);
    res.once("end", () => resolve(value));
    res.once("error", reject);
    res.once("close", () => resolve(value));
  });
}

function checkLength(res: IncomingMessage, n: number): void {
  const declared = res.headers["content-length"];
  if (declared !== undefined && Number(declared) !== n) {
    const e = new Error(`the answer was cut short (${n} of ${declared} bytes)`) as NodeJS.ErrnoException;
    e.code = "TRUNCATED";
    throw e;
  }
  if (!res.complete) {
    const e = new Error("the answer was cut short") as NodeJS.ErrnoException;
    e.code = "TRUNCATED";
    throw e;
  }
}

function isConnectionError(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException)?.code;
  if (code && RETRYABLE_CODES.has(code)) return true;
  return /socket hang up|aborted/i.test((err as Error)?.message ?? "");
}

function describeNetError(err: unknown, timeoutMs: number): string {
  const e = err as NodeJS.ErrnoException;
  if (e.code === "ETIMEDOUT") return `no answer within ${seconds(timeoutMs)}`;
  if (e.code === "TRUNCATED") return e.message;
  return e.code ?? e.message;
}

function seconds(ms: number): string {
  return ms < 1000 ? `${ms}ms` : `${Math.round(ms / 100) / 10}s`;
}

/** A URL for messages: no password. */
export function redact(u: URL): string {
  const c = new URL(u.toString());
  if (c.password) c.password = "***";
  return c.toString().replace(/\/$/, "");
}

async function hashFile(path: string): Promise<{ digest: string; size: number }> {
  const hash = createHash(DIGEST_ALGORITHM);
  let size = 0;
  const fh = await open(path, "r");
  try {
    for await (const c of fh.createReadStream({ highWaterMark: 1 << 20, autoClose: false })) {
      hash.update(c as Buffer);
      size += (c as Buffer).length;
    }
  } finally {
    await fh.close();
  }
  return { digest: hash.digest("hex"), size };
}
