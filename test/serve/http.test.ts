/**
 * `tributary serve` over real HTTP: the real CLI in a child process, the fixtures' flows and modules,
 * fetch. Requests and their answers, validation, errors, the API description, metrics and auth.
 */
import { Validator } from "@seriousme/openapi-schema-validator";
import { writeFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { cli } from "../helpers/cli.js";
import {
  eventually,
  fixtureProject,
  join,
  json,
  killServers,
  logLine,
  serve,
  type Served,
} from "./helpers.js";
import { parsePrometheus } from "./prometheus.js";

afterAll(killServers);

describe("tributary serve: requests", () => {
  let dir: string;
  let s: Served;
  beforeAll(async () => {
    dir = fixtureProject();
    s = await serve(["greet.flow", "boom.flow", "types.flow", "--body-limit", "200"], dir);
  });
  afterAll(() => s?.proc.kill("SIGKILL"));

  it("says where it listens on its first line, on 127.0.0.1 by default", () => {
    expect(s.logs()[0]).toMatchObject({ level: "info", msg: "listening" });
    expect(s.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(s.logs()[0]!.flows).toEqual(["greet", "boom", "types"].map((f) => `${s.url}/flows/${f}`));
  });

  it("answers a good request with the flow's outputs and a trace id, logged on one line", async () => {
    const r = await s.post("greet", { name: "ada", times: 2 });
    expect(r.status).toBe(200);
    const body = await json(r);
    expect(body.outputs).toEqual({ greeting: "hello hello ada" });
    expect(body.traceId).toMatch(/^[0-9a-f]{32}$/);
    expect(body.timings).toBeUndefined();
    const line = await logLine(s, body.traceId);
    expect(line).toMatchObject({ level: "info", msg: "request", flow: "greet", status: 200, method: "POST" });
    expect(typeof line!.ms).toBe("number");
    expect(typeof line!.time).toBe("string");
  });

  it("takes the trace id from traceparent or x-request-id, and adds timings when asked", async () => {
    const traced = await s.post(
      "greet",
      { name: "bo" },
      { headers: { traceparent: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01" } },
    );
    expect((await json(traced)).traceId).toBe("4bf92f3577b34da6a3ce929d0e0e4736");
    const byId = await s.post("greet", { name: "bo" }, { headers: { "x-request-id": "req-42" } });
    expect((await json(byId)).traceId).toBe("req-42");
    for (const r of [
      await fetch(`${s.url}/flows/greet?timings=1`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: '{"name":"cy"}',
      }),
      await s.post("greet", { name: "cy" }, { headers: { "x-tributary-timings": "1" } }),
    ]) {
      const body = await json(r);
      expect(body.timings).toHaveLength(1);
      expect(body.timings[0]).toMatchObject({ id: "greeting", module: "Greet", status: "ok", cached: false });
      expect(typeof body.timings[0].queuedMs).toBe("number");
      expect(body.timings[0].endMs).toBeGreaterThanOrEqual(body.timings[0].startMs);
    }
  });

  it("refuses inputs that do not fit the flow's `in` types, naming each (400)", async () => {
    const r = await s.post("greet", { times: 1.5, nmae: "x" });
    expect(r.status).toBe(400);
    const body = await json(r);
    expect(body.error).toBe("invalid inputs");
    expect(body.problems).toEqual([
      { input: "nmae", message: "unknown input; the inputs are name, times" },
      { input: "name", message: "required (String)" },
      { input: "times", message: "expected a whole number, got 1.5 (times is Int)" },
    ]);
    // A request names values, never files outside the project.
    const outside = await s.post("types", { s: "a", data: "/etc/passwd" });
    expect(outside.status).toBe(400);
    expect((await json(outside)).problems).toEqual([
      { input: "data", message: '"/etc/passwd" is not a path inside the project' },
    ]);
    const notObject = await s.post("greet", "[1]");
    expect(notObject.status).toBe(400);
    expect((await json(notObject)).problems[0].message).toMatch(/inputs must be an object/);
  });

  it("answers malformed JSON 400, an unknown flow 404 with the served ones, a large body 413", async () => {
    const bad = await s.post("greet", '{"name":');
    expect(bad.status).toBe(400);
    expect((await json(bad)).error).toMatch(/^malformed JSON/);
    const unknown = await s.post("gret", { name: "x" });
    expect(unknown.status).toBe(404);
    const body = await json(unknown);
    expect(body.flows).toEqual(["greet", "boom", "types"]);
    expect(body.error).toBe("no flow gret; the served flows are greet, boom, types (POST /flows/<name>)");
    const big = await s.post("greet", { name: "x".repeat(300) });
    expect(big.status).toBe(413);
    expect((await json(big)).error).toBe("the body is larger than 200 bytes (--body-limit)");
    const form = await fetch(`${s.url}/flows/greet`, {
      method: "POST",
      body: new URLSearchParams({ a: "b" }),
    });
    expect(form.status).toBe(415);
    expect((await json(form)).error).toMatch(/Content-Type: application\/json/);
  });

  it("answers a failed step 500 with the step, the kind of error and its message", async () => {
    const r = await s.post("boom", { why: "disk on fire" });
    expect(r.status).toBe(500);
    const body = await json(r);
    expect(body).toMatchObject({
      error: "run failed: 1 step failed",
      failed: [{ id: "b", kind: "threw", message: "boom: disk on fire" }],
    });
    const line = await logLine(s, body.traceId);
    expect(line).toMatchObject({ level: "error", status: 500, failed: "b: boom: disk on fire" });
  });

  it("lists the flows and describes them in a valid OpenAPI 3.1 document made from their types", async () => {
    const list = await json(await fetch(`${s.url}/flows`));
    expect(list.flows[0]).toEqual({
      name: "greet",
      path: "/flows/greet",
      parameters: [
        { name: "name", type: "String", required: true },
        { name: "times", type: "Int", required: false, default: "1" },
      ],
      outputs: ["greeting"],
    });
    const doc = await json(await fetch(`${s.url}/openapi.json`));
    const validator = new Validator();
    const result = await validator.validate(doc);
    expect(result.errors).toBeUndefined();
    expect(result.valid).toBe(true);
    expect(validator.version).toBe("3.1");
    const schema = doc.paths["/flows/types"].post.requestBody.content["application/json"].schema;
    expect(schema.required).toEqual(["s"]);
    expect(schema.additionalProperties).toBe(false);
    const types = Object.fromEntries(
      Object.entries(schema.properties as Record<string, Record<string, unknown>>).map(([k, v]) => [
        k,
        { ...v, description: undefined },
      ]),
    );
    expect(types).toEqual({
      s: { type: "string" },
      n: { type: "integer" },
      f: { type: "number" },
      b: { anyOf: [{ type: "boolean" }, { type: "null" }] },
      tags: { type: "array", items: { type: "string" } },
      opts: {
        type: "object",
        properties: { mode: { type: "string" }, level: { anyOf: [{ type: "integer" }, { type: "null" }] } },
        required: ["mode"],
      },
      data: { type: "string" },
    });
    expect(Object.keys(doc.paths["/flows/greet"].post.responses)).toEqual(
      expect.arrayContaining(["200", "400", "413", "500", "503", "504"]),
    );
  });
});

describe("tributary serve: metrics", () => {
  it("exposes request, step, queue, cache and failure metrics in the Prometheus text format", async () => {
    const dir = fixtureProject();
    const s = await serve(["greet.flow", "boom.flow", "--cache", "--request-log", "errors"], dir);
    try {
      for (let i = 0; i < 2; i++) expect((await s.post("greet", { name: "ada" })).status).toBe(200);
      expect((await s.post("boom", {})).status).toBe(500);
      expect((await s.post("greet", {})).status).toBe(400);
      const r = await fetch(`${s.url}/metrics`);
      expect(r.headers.get("content-type")).toMatch(/^text\/plain; version=0\.0\.4/);
      const families = parsePrometheus(await r.text());
      const family = (name: string) => {
        const f = families.get(name);
        if (!f) throw new Error(`no metric ${name} in ${[...families.keys()].join(", ")}`);
        return f;
      };
      const value = (name: string, labels: Record<string, string>) =>
        family(name.replace(/_(count|sum|bucket)$/, "")).samples.find(
          (x) => x.name === name && JSON.stringify(x.labels) === JSON.stringify(labels),
        )?.value;
      expect(family("tributary_request_duration_seconds").type).toBe("histogram");
      const count = "tributary_request_duration_seconds_count";
      expect(value(count, { flow: "greet", status: "200" })).toBe(2);
      expect(value(count, { flow: "greet", status: "400" })).toBe(1);
      expect(value(count, { flow: "boom", status: "500" })).toBe(1);
      // The second identical request was answered from the cache.
      expect(family("tributary_cache_hits_total").samples).toEqual([
        { name: "tributary_cache_hits_total", labels: { module: "Greet" }, value: 1 },
      ]);
      expect(family("tributary_runs_failed_total").samples).toEqual([
        { name: "tributary_runs_failed_total", labels: { flow: "boom" }, value: 1 },
      ]);
      expect(family("tributary_step_duration_seconds").type).toBe("histogram");
      expect(value("tributary_step_duration_seconds_count", { module: "Greet" })).toBe(1);
      expect(value("tributary_step_duration_seconds_count", { module: "Boom" })).toBe(1);
      expect(family("tributary_step_queue_wait_seconds").type).toBe("histogram");
      expect(value("tributary_step_queue_wait_seconds_count", { module: "Greet" })).toBe(1);
      // --request-log errors: a line for the failed run only.
      expect(await eventually(() => s.logs().some((l) => l.status === 500))).toBe(true);
      expect(
        s
          .logs()
          .filter((l) => l.msg === "request")
          .map((l) => [l.flow, l.status]),
      ).toEqual([["boom", 500]]);
      expect(family("tributary_requests_in_flight")).toMatchObject({
        type: "gauge",
        samples: [{ labels: {}, value: 0 }],
      });
    } finally {
      s.proc.kill("SIGKILL");
    }
  });
});

describe("tributary serve: options", () => {
  it("with --token-file, needs the bearer token on every route but the health checks (401)", async () => {
    const dir = fixtureProject();
    writeFileSync(join(dir, "token"), "s3cret-token\n");
    const s = await serve(["greet.flow", "--token-file", "token", "--input", "times=3"], dir);
    try {
      const auth = { authorization: "Bearer s3cret-token" };
      expect((await s.post("greet", { name: "x" })).status).toBe(401);
      const wrong = await s.post(
        "greet",
        { name: "x" },
        { headers: { authorization: "Bearer s3cret-tokem" } },
      );
      expect(wrong.status).toBe(401);
      expect(wrong.headers.get("www-authenticate")).toMatch(/^Bearer/);
      expect((await s.post("greet", { name: "x" }, { headers: { authorization: "Bearer s3" } })).status).toBe(
        401,
      );
      for (const path of ["/flows", "/openapi.json", "/metrics", "/nope"]) {
        expect((await fetch(`${s.url}${path}`)).status).toBe(401);
        expect((await fetch(`${s.url}${path}`, { headers: auth })).status).not.toBe(401);
      }
      for (const path of ["/healthz", "/readyz"]) expect((await fetch(`${s.url}${path}`)).status).toBe(200);
      // --input fixes an input for every request: requests cannot give it.
      const ok = await s.post("greet", { name: "x" }, { headers: auth });
      expect(await json(ok)).toMatchObject({ outputs: { greeting: "hello hello hello x" } });
      const fixed = await s.post("greet", { name: "x", times: 1 }, { headers: auth });
      expect(fixed.status).toBe(400);
      expect((await json(fixed)).problems).toEqual([
        { input: "times", message: "times was fixed when the flow was loaded; a run cannot change it" },
      ]);
      const doc = await json(await fetch(`${s.url}/openapi.json`, { headers: auth }));
      expect(doc.components.securitySchemes).toEqual({ bearer: { type: "http", scheme: "bearer" } });
    } finally {
      s.proc.kill("SIGKILL");
    }
  });

  it("refuses to start on a flow with errors, two flows of one name, or a bad option (exit 2)", async () => {
    const dir = fixtureProject();
    writeFileSync(join(dir, "bad.flow"), 'use "./modules.mjs"\nx = Nope(1)\nout x\n');
    const bad = await cli(["serve", "bad.flow", "--port", "0"], { cwd: dir });
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/bad\.flow:2:5/);
    expect(bad.stderr).toContain("1 error in bad.flow");
    const twice = await cli(["serve", "greet.flow", "sub/greet.flow", "--port", "0"], { cwd: dir });
    expect(twice.code).toBe(2);
    expect(twice.stderr).toMatch(/two flows are named greet .* so rename one/);
    const timeout = await cli(["serve", "greet.flow", "--timeout", "soon"], { cwd: dir });
    expect(timeout.code).toBe(2);
    expect(timeout.stderr).toContain('--timeout needs a duration such as 30s or 500ms, got "soon"');
  });
});
