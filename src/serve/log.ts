import { randomUUID } from "node:crypto";
import type { IncomingMessage } from "node:http";
import { LogController, type FastifyReply, type FastifyRequest, type FastifyServerOptions } from "fastify";

/** What a request's log line says beyond method, URL, status and time. */
export interface RequestNote {
  /** The served flow the request ran (only names that are served: a metric label too). */
  flow?: string;
  error?: string;
  failed?: string;
}

/**
 * Fastify's request logging, as the server wants it: one line per request when it ends (instead of
 * Fastify's two), with the flow, status, milliseconds and what went wrong; `traceId` on every line of a
 * request.
 */
export class RequestLog extends LogController {
  private readonly notes = new WeakMap<FastifyRequest, RequestNote>();

  constructor(private readonly mode: RequestLogMode = "all") {
    super({ requestIdLogLabel: "traceId" });
  }

  note(request: FastifyRequest, fields: RequestNote): void {
    this.notes.set(request, { ...this.notes.get(request), ...fields });
  }

  noteOf(request: FastifyRequest): RequestNote {
    return this.notes.get(request) ?? {};
  }

  override incomingRequest(): void {}

  override requestCompleted(_err: unknown, request: FastifyRequest, reply: FastifyReply): void {
    this.line(request, reply.statusCode, reply.elapsedTime);
  }

  /** The client went away before its answer: 499, as nginx logs it. */
  clientClosed(request: FastifyRequest, ms: number): void {
    this.line(request, 499, ms);
  }

  // The error handler logs what is the server's fault; the request line says the rest.
  override defaultErrorLog(): void {}

  private line(request: FastifyRequest, status: number, ms: number): void {
    if (this.mode === "none" || (this.mode === "errors" && status < 500)) return;
    const note = this.noteOf(request);
    // A failed run is an error; a timeout or a full server (504, 503) is load to watch.
    request.log[status === 500 ? "error" : status > 500 ? "warn" : "info"](
      { method: request.method, url: request.url, ...note, status, ms: Math.round(ms * 10) / 10 },
      "request",
    );
  }
}

/** Which requests get a log line: every one, those answered 5xx, or none. */
export type RequestLogMode = "all" | "errors" | "none";

/**
 * Fastify's logger (pino) as the server logs: one JSON object a line on stdout,
 * `{"level":"info","time":"<ISO 8601>",...,"msg":...}`.
 */
export function loggerOptions(
  log: RequestLog,
): Pick<FastifyServerOptions, "logger" | "genReqId" | "logController"> {
  return {
    logger: {
      level: "info",
      base: null,
      timestamp: () => `,"time":"${new Date().toISOString()}"`,
      formatters: { level: (label: string) => ({ level: label }) },
      // Written at once, in order (stdout is synchronous for files and, on Linux, pipes), and flushed
      // before the process exits: pino's own destination writes asynchronously and flushes at exit
      // out of order.
      stream: process.stdout,
    },
    genReqId: traceIdOf,
    logController: log,
  };
}

/**
 * The trace id of a request: the W3C `traceparent`'s trace id, else a sane `x-request-id`, else a new
 * random one (the form of a W3C trace id), so a caller's id follows the request into the logs.
 */
export function traceIdOf(req: IncomingMessage): string {
  const parent = header(req, "traceparent");
  const m = parent && /^[0-9a-f]{2}-([0-9a-f]{32})-[0-9a-f]{16}-[0-9a-f]{2}$/i.exec(parent.trim());
  if (m && !/^0+$/.test(m[1]!)) return m[1]!.toLowerCase();
  const given = header(req, "x-request-id");
  if (given && /^[\w.:@/+=-]{1,128}$/.test(given)) return given;
  // A v4 UUID's 32 hex digits: random, from Node's cached entropy (cheaper than randomBytes per request).
  return randomUUID().replace(/-/g, "");
}

function header(req: IncomingMessage, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v[0] : v;
}
