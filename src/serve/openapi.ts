import type { FlowParameter, RunnableFlow } from "../project/index.js";
import { FILE_VALUE_SCHEMA, typeSchema, type JsonSchema } from "./json-schema.js";

const ref = (name: string): JsonSchema => ({ $ref: `#/components/schemas/${name}` });
const json = (schema: JsonSchema, description: string) => ({
  description,
  content: { "application/json": { schema } },
});

/** The request body a flow takes: its per-run inputs, nothing else. */
export function inputsSchema(parameters: readonly FlowParameter[]): JsonSchema {
  const properties: Record<string, JsonSchema> = {};
  for (const p of parameters) {
    const s = typeSchema(p.type, "input");
    const what = `${p.name}: ${p.typeText}${p.default !== undefined ? ` = ${p.default}` : ""}`;
    properties[p.name] = { ...s, description: s.description ? `${what} (${String(s.description)})` : what };
  }
  const required = parameters.filter((p) => p.required).map((p) => p.name);
  return {
    type: "object",
    properties,
    ...(required.length ? { required } : {}),
    additionalProperties: false,
  };
}

/** The `outputs` of a flow's successful response. */
export function outputsSchema(flow: RunnableFlow): JsonSchema {
  const properties: Record<string, JsonSchema> = {};
  for (const o of flow.outputs) properties[o.id] = o.type ? typeSchema(o.type, "output") : {};
  return { type: "object", properties };
}

/**
 * The OpenAPI 3.1 description of a server: one operation per served flow, its request and response
 * schemas made from the flow's types, and the fixed routes.
 */
export function openApiDocument(
  flows: readonly RunnableFlow[],
  options: { version: string; auth: boolean },
): JsonSchema {
  const errors = {
    "400": json(ref("InvalidInputs"), "the body is not JSON, or the inputs do not fit the flow"),
    ...(options.auth ? { "401": json(ref("Error"), "no or wrong bearer token") } : {}),
    "413": json(ref("Error"), "the body is larger than --body-limit"),
    "500": json(ref("RunFailed"), "a step failed: each failed step, its kind of error and message"),
    "503": json(ref("Error"), "--max-in-flight requests are running (see Retry-After), or draining"),
    "504": json(ref("Error"), "the run took longer than --timeout and was cancelled"),
  };
  const paths: Record<string, unknown> = {};
  for (const f of flows) {
    paths[`/flows/${f.name}`] = {
      post: {
        operationId: `run_${f.name.replace(/[^A-Za-z0-9_]/g, "_")}`,
        summary: `Run ${f.name}`,
        parameters: [
          {
            name: "timings",
            in: "query",
            required: false,
            description: "1: add each step's timings to the response (or header x-tributary-timings: 1)",
            schema: { type: "string", enum: ["0", "1"] },
          },
        ],
        requestBody: {
          required: f.parameters.some((p) => p.required),
          content: { "application/json": { schema: inputsSchema(f.parameters) } },
        },
        responses: {
          "200": json(
            {
              type: "object",
              properties: {
                outputs: outputsSchema(f),
                traceId: { type: "string" },
                timings: { type: "array", items: ref("Timing") },
              },
              required: ["outputs", "traceId"],
            },
            "the run succeeded: the values of the flow's outputs",
          ),
          ...errors,
        },
      },
    };
  }
  const text = (description: string) => ({
    description,
    content: { "text/plain": { schema: { type: "string" } } },
  });
  paths["/flows"] = {
    get: {
      operationId: "listFlows",
      summary: "The served flows and their inputs",
      responses: { "200": json(ref("FlowList"), "the served flows") },
    },
  };
  paths["/healthz"] = {
    get: {
      operationId: "healthz",
      summary: "Live",
      security: [],
      responses: { "200": json(ref("Status"), "live") },
    },
  };
  paths["/readyz"] = {
    get: {
      operationId: "readyz",
      summary: "Ready: the flows are loaded and the server is not draining",
      security: [],
      responses: { "200": json(ref("Status"), "ready"), "503": json(ref("Status"), "draining") },
    },
  };
  paths["/metrics"] = {
    get: {
      operationId: "metrics",
      summary: "Prometheus metrics",
      responses: { "200": text("exposition format") },
    },
  };
  paths["/openapi.json"] = {
    get: {
      operationId: "openapi",
      summary: "This document",
      responses: { "200": json({ type: "object" }, "OpenAPI 3.1") },
    },
  };
  return {
    openapi: "3.1.0",
    info: {
      title: "tributary serve",
      version: options.version,
      description: "Flows served over HTTP: POST a flow's inputs as JSON, get its outputs.",
    },
    ...(options.auth ? { security: [{ bearer: [] }] } : {}),
    paths,
    components: {
      ...(options.auth ? { securitySchemes: { bearer: { type: "http", scheme: "bearer" } } } : {}),
      schemas: {
        FileValue: FILE_VALUE_SCHEMA,
        Error: {
          type: "object",
          properties: { error: { type: "string" }, traceId: { type: "string" } },
          required: ["error"],
        },
        InvalidInputs: {
          type: "object",
          properties: {
            error: { type: "string" },
            problems: {
              type: "array",
              items: {
                type: "object",
                properties: { input: { type: "string" }, message: { type: "string" } },
                required: ["input", "message"],
              },
            },
            traceId: { type: "string" },
          },
          required: ["error"],
        },
        RunFailed: {
          type: "object",
          properties: {
            error: { type: "string" },
            failed: {
              type: "array",
              items: {
                type: "object",
                properties: { id: { type: "string" }, kind: { type: "string" }, message: { type: "string" } },
                required: ["id", "kind", "message"],
              },
            },
            traceId: { type: "string" },
          },
          required: ["error", "failed"],
        },
        Timing: {
          type: "object",
          properties: {
            id: { type: "string" },
            module: { type: "string" },
            status: { type: "string", enum: ["ok", "failed", "blocked", "cancelled"] },
            cached: { type: "boolean" },
            startMs: { type: "number" },
            endMs: { type: "number" },
            queuedMs: { type: "number" },
          },
          required: ["id", "module", "status", "cached"],
        },
        FlowList: {
          type: "object",
          properties: {
            flows: {
              type: "array",
              items: {
                type: "object",
                properties: {
                  name: { type: "string" },
                  path: { type: "string" },
                  parameters: { type: "array", items: { type: "object" } },
                  outputs: { type: "array", items: { type: "string" } },
                },
              },
            },
          },
        },
        Status: { type: "object", properties: { status: { type: "string" } } },
      },
    },
  };
}
