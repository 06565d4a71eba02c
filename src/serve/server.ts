import type { AddressInfo } from "node:net";
import Fastify, { type FastifyReply, type FastifyRequest } from "fastify";
import { InvalidInputsError, tributaryVersion, type FlowRunResult } from "../project/index.js";
import { UserError } from "../engine/user-error.js";
import { BearerAuth } from "./auth.js";
import { InFlight } from "./in-flight.js";
import { loggerOptions, RequestLog, type RequestLogMode } from "./log.js";
import { ServeMetrics } from "./metrics.js";
import { openApiDocument } from "./openapi.js";
import { ServedFlow } from "./served-flow.js";

export interface ServeOptions {
  /** Flow files (absolute), each served as POST /flows/<its name>. */
  flows: string[];
  host: string;
  /** 0: a free port. */
  port: number;
  /** Largest request body, in bytes. */
  bodyLimit: number;
  /** A run taking longer is cancelled and answered 504. */
  timeoutMs: number;
  /** Flow requests served at once; one more is answered 503. */
  maxInFlight: number;
  /** Every route but /healthz and /readyz needs `Authorization: Bearer <token>`. */
  token?: string;
  /** Inputs fixed for every request (`--input k=v`). */
  fixed: Record<string, unknown>;
  cache: boolean;
  /** Slots of one run (`-j`). */
  concurrency?: number;
  /** Reload a flow when its file or a module file it uses changes. */
  watch: boolean;
  /** Which requests get a log line (the server's own lines are always written). */
  requestLog: RequestLogMode;
}

export interface RunningServer {
  url: string;
  /** Stops accepting, lets the requests in flight finish, then closes the flows. Idempotent. */
  drain(): Promise<void>;
}

/** Routes that answer without a token: probes must work without secrets. */
const OPEN_ROUTES = new Set(["/healthz", "/readyz"]);

/** Loads the flows, then listens; the first line logged says where. */
export async function startServer(options: ServeOptions): Promise<RunningServer> {
  const log = new RequestLog(options.requestLog);
  const app = Fastify({ ...loggerOptions(log), bodyLimit: options.bodyLimit });
  const flows = new Map<string, ServedFlow>();
  const metrics = new ServeMetrics();
  const inFlight = new InFlight(options.maxInFlight);
  const auth = options.token === undefined ? undefined : new BearerAuth(options.token);
  let openapi: unknown;
  let draining: Promise<void> | undefined;

  try {
    for (const file of options.flows) {
      const served = await ServedFlow.load(file, {
        load: {
          fixed: options.fixed,
          cache: options.cache ? {} : false,
          concurrency: options.concurrency,
        },
        watch: options.watch,
        log: app.log,
        onReload: () => (openapi = undefined),
      });
      const clash = flows.get(served.name);
      if (clash) {
        await served.close();
        throw new UserError(
          `two flows are named ${served.name} (${clash.file} and ${file}): each is served as /flows/<file name without .flow>, so rename one`,
        );
      }
      flows.set(served.name, served);
    }
  } catch (err) {
    await Promise.all([...flows.values()].map((f) => f.close()));
    throw err;
  }

  app.addHook("onRequest", async (request, reply) => {
    if (auth && !OPEN_ROUTES.has(request.url.split("?")[0]!) && !auth.allows(request.headers.authorization)) {
      return reply
        .code(401)
        .header("www-authenticate", 'Bearer realm="tributary"')
        .send({ error: "unauthorized: send the token of --token-file as Authorization: Bearer <token>" });
    }
  });
  app.addHook("onResponse", async (request, reply) => {
    const { flow } = log.noteOf(request);
    if (flow !== undefined) metrics.request(flow, reply.statusCode, reply.elapsedTime);
  });
  app.setErrorHandler((err: Error & { statusCode?: number; code?: string }, request, reply) => {
    const status = err.statusCode ?? 500;
    if (status >= 500) request.log.error({ err }, "internal error");
    const message = errorMessage(err, status, options);
    log.note(request, { error: message });
    return reply.code(status).send({ error: message, traceId: request.id });
  });

  app.setNotFoundHandler((request, reply) => {
    const names = [...flows.keys()];
    return reply.code(404).send({
      error: request.url.startsWith("/flows/")
        ? `no flow ${decoded(request.url.slice(7).split("?")[0]!)}; the served flows are ${names.join(", ")} (POST /flows/<name>)`
        : `no route ${request.method} ${request.url.split("?")[0]}; see GET /openapi.json`,
      flows: names,
      traceId: request.id,
    });
  });

  app.get("/healthz", async () => ({ status: "ok" }));
  app.get("/readyz", async (_request, reply) =>
    draining ? reply.code(503).send({ status: "draining" }) : { status: "ready" },
  );
  app.get("/metrics", async (_request, reply) => {
    const { contentType, body } = await metrics.text();
    return reply.type(contentType).send(body);
  });
  app.get("/openapi.json", async () => {
    openapi ??= openApiDocument(
      [...flows.values()].map((f) => f.flow),
      { version: tributaryVersion(), auth: auth !== undefined },
    );
    return openapi;
  });
  app.get("/flows", async () => ({
    flows: [...flows.values()].map(({ flow }) => ({
      name: flow.name,
      path: `/flows/${flow.name}`,
      parameters: flow.parameters.map((p) => ({
        name: p.name,
        type: p.typeText,
        required: p.required,
        ...(p.default !== undefined ? { default: p.default } : {}),
      })),
      outputs: flow.outputs.map((o) => o.id),
    })),
  }));

  app.post("/flows/:name", async (request, reply) => {
    const served = flows.get((request.params as { name: string }).name);
    if (!served) return reply.callNotFound();
    log.note(request, { flow: served.name });
    if (!inFlight.tryEnter()) {
      return reply
        .code(503)
        .header("retry-after", "1")
        .send({
          error: `${inFlight.max} requests are in flight (--max-in-flight); retry later`,
          traceId: request.id,
        });
    }
    metrics.inFlight.inc();
    const lease = served.acquire();
    const stop = new AbortController();
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      stop.abort();
    }, options.timeoutMs);
    // The client is gone when the response closes before it was written. (Not request.signal nor
    // onRequestAbort: they follow the request's 'close', which Node also emits once a body was read, so
    // they abort every POST with a body: fastify/fastify#6725.)
    const onClose = () => {
      if (!reply.raw.writableFinished) stop.abort();
    };
    reply.raw.on("close", onClose);
    try {
      let result: FlowRunResult;
      try {
        // No body at all is no inputs; any body is checked (a JSON null is not an object of inputs).
        const inputs = request.body === undefined ? {} : request.body;
        result = await lease.flow.run(inputs as Record<string, unknown>, {
          signal: stop.signal,
        });
      } catch (err) {
        if (!(err instanceof InvalidInputsError)) throw err;
        return reply.code(400).send({ error: "invalid inputs", problems: err.problems, traceId: request.id });
      }
      metrics.run(served.name, result);
      if (timedOut) {
        const error = `the run took longer than ${options.timeoutMs} ms (--timeout) and was cancelled`;
        log.note(request, { error });
        return reply.code(504).send({ error, traceId: request.id });
      }
      if (stop.signal.aborted) {
        // Nobody is there to answer: the line and the metric say 499, as nginx logs it.
        const ms = reply.elapsedTime;
        log.note(request, { error: "the client disconnected: run cancelled" });
        metrics.request(served.name, 499, ms);
        log.clientClosed(request, ms);
        return reply.hijack();
      }
      return respond(request, reply, result, log);
    } finally {
      clearTimeout(timer);
      reply.raw.off("close", onClose);
      lease.release();
      inFlight.leave();
      metrics.inFlight.dec();
    }
  });

  await app.ready();
  await new Promise<void>((resolve, reject) => {
    app.server.once("error", (err: NodeJS.ErrnoException) =>
      reject(
        err.code === "EADDRINUSE"
          ? new UserError(
              `port ${options.port} on ${options.host} is in use: choose another with --port N (0 picks a free one)`,
            )
          : err,
      ),
    );
    app.server.listen({ port: options.port, host: options.host }, resolve);
  }).catch(async (err: unknown) => {
    await Promise.all([...flows.values()].map((f) => f.close()));
    throw err;
  });
  const address = app.server.address() as AddressInfo;
  const host = address.family === "IPv6" ? `[${address.address}]` : address.address;
  const url = `http://${host}:${address.port}`;
  app.log.info({ url, flows: [...flows.keys()].map((n) => `${url}/flows/${n}`) }, "listening");

  return {
    url,
    drain: () =>
      (draining ??= (async () => {
        app.log.info({ inFlight: inFlight.count }, "draining");
        // Fastify stops listening and answers requests arriving on open connections 503.
        const closed = app.close();
        await inFlight.whenIdle();
        app.server.closeIdleConnections();
        await closed;
        await Promise.all([...flows.values()].map((f) => f.close()));
        app.log.info("stopped");
      })()),
  };
}

function errorMessage(err: Error & { code?: string }, status: number, options: ServeOptions): string {
  switch (err.code) {
    case "FST_ERR_CTP_INVALID_JSON_BODY":
    case "FST_ERR_CTP_EMPTY_JSON_BODY":
      return `malformed JSON: ${err.message}`;
    case "FST_ERR_CTP_BODY_TOO_LARGE":
      return `the body is larger than ${options.bodyLimit} bytes (--body-limit)`;
    case "FST_ERR_CTP_INVALID_MEDIA_TYPE":
      return "send the inputs as a JSON object with Content-Type: application/json";
  }
  if (err instanceof SyntaxError) return `malformed JSON: ${err.message}`;
  return status >= 500 ? "internal error" : err.message;
}

function respond(
  request: FastifyRequest,
  reply: FastifyReply,
  result: FlowRunResult,
  log: RequestLog,
): FastifyReply {
  const traceId = request.id;
  if (result.ok) {
    const wanted =
      (request.query as { timings?: string } | undefined)?.timings === "1" ||
      request.headers["x-tributary-timings"] === "1";
    return reply.send({
      outputs: result.outputs,
      traceId,
      ...(wanted
        ? {
            timings: result.steps.map((s) => ({
              id: s.id,
              module: s.module,
              status: s.status,
              cached: s.cached === true,
              ...(s.startMs !== undefined ? { startMs: ms(s.startMs), endMs: ms(s.endMs!) } : {}),
              ...(s.queuedMs !== undefined ? { queuedMs: ms(s.queuedMs) } : {}),
            })),
          }
        : {}),
    });
  }
  const failed = result.steps
    .filter((s) => s.status === "failed")
    .map((s) => ({ id: s.id, kind: s.error?.kind ?? "threw", message: s.error?.message ?? "failed" }));
  const error = `run failed: ${failed.length} step${failed.length === 1 ? "" : "s"} failed`;
  log.note(request, { error, failed: failed.map((f) => `${f.id}: ${f.message}`).join("; ") });
  return reply.code(500).send({ error, failed, traceId });
}

/** Milliseconds to the microsecond: what a clock on a loaded machine can tell. */
function ms(x: number): number {
  return Math.round(x * 1000) / 1000;
}

function decoded(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}
