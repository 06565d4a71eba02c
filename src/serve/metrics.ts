import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from "prom-client";
import type { FlowRunResult } from "../project/index.js";

const SECONDS = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

/** The Prometheus metrics of one server (its own registry: two servers in a process do not mix). */
export class ServeMetrics {
  readonly registry = new Registry();
  private readonly requests = new Histogram({
    name: "tributary_request_duration_seconds",
    help: "Flow requests: time from the request to the response, by flow and HTTP status",
    labelNames: ["flow", "status"] as const,
    buckets: SECONDS,
    registers: [this.registry],
  });
  private readonly steps = new Histogram({
    name: "tributary_step_duration_seconds",
    help: "Steps that ran (not restored from the cache): their last attempt's duration, by module",
    labelNames: ["module"] as const,
    buckets: SECONDS,
    registers: [this.registry],
  });
  private readonly queued = new Histogram({
    name: "tributary_step_queue_wait_seconds",
    help: "How long a ready step waited for a slot or a module limit (shared by all requests), by module",
    labelNames: ["module"] as const,
    buckets: SECONDS,
    registers: [this.registry],
  });
  private readonly cacheHits = new Counter({
    name: "tributary_cache_hits_total",
    help: "Steps restored from the cache instead of running (with --cache), by module",
    labelNames: ["module"] as const,
    registers: [this.registry],
  });
  private readonly failedRuns = new Counter({
    name: "tributary_runs_failed_total",
    help: "Runs that ended with a failed step, timed out or were cancelled, by flow",
    labelNames: ["flow"] as const,
    registers: [this.registry],
  });
  readonly inFlight = new Gauge({
    name: "tributary_requests_in_flight",
    help: "Flow requests being served now",
    registers: [this.registry],
  });

  constructor() {
    collectDefaultMetrics({ register: this.registry, prefix: "tributary_" });
  }

  request(flow: string, status: number, ms: number): void {
    this.requests.observe({ flow, status: String(status) }, ms / 1000);
  }

  run(flow: string, result: FlowRunResult): void {
    if (!result.ok) this.failedRuns.inc({ flow });
    for (const s of result.steps) {
      if (s.cached) this.cacheHits.inc({ module: s.module });
      else if (s.startMs !== undefined && s.endMs !== undefined) {
        this.steps.observe({ module: s.module }, (s.endMs - s.startMs) / 1000);
      }
      if (s.queuedMs !== undefined) this.queued.observe({ module: s.module }, s.queuedMs / 1000);
    }
  }

  async text(): Promise<{ contentType: string; body: string }> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }
}
