import type { Type } from "../language/index.js";

/** A JSON Schema (2020-12, the dialect of OpenAPI 3.1) as plain data. */
export type JsonSchema = { [key: string]: unknown };

/**
 * The JSON Schema of a flow type. A File is a path (a string inside the project) when a request gives
 * it, and the `{ $file, digest }` record a step produced when a response carries it. Schemas describe
 * the canonical JSON form: inputs also accept strings converted as `--input k=v` values are.
 */
export function typeSchema(t: Type, direction: "input" | "output", depth = 0): JsonSchema {
  if (depth > 20) return {};
  switch (t.kind) {
    case "String":
      return { type: "string" };
    case "Int":
      return { type: "integer" };
    case "Float":
      return { type: "number" };
    case "Bool":
      return { type: "boolean" };
    case "File":
      return direction === "input"
        ? { type: "string", description: "a path inside the project" }
        : { $ref: "#/components/schemas/FileValue" };
    case "Any":
      return {};
    case "List":
      return { type: "array", items: typeSchema(t.item, direction, depth + 1) };
    case "Optional":
      return { anyOf: [typeSchema(t.inner, direction, depth + 1), { type: "null" }] };
    case "Record": {
      const properties: Record<string, JsonSchema> = {};
      const required: string[] = [];
      for (const [k, ft] of Object.entries(t.fields)) {
        properties[k] = typeSchema(ft, direction, depth + 1);
        if (ft.kind !== "Optional" && ft.kind !== "Any") required.push(k);
      }
      // Extra fields are not refused by the checker (a record type names what is needed, not all there is).
      return { type: "object", properties, ...(required.length ? { required } : {}) };
    }
  }
}

/** A produced file, as a response carries it. */
export const FILE_VALUE_SCHEMA: JsonSchema = {
  type: "object",
  description: "a file a step produced: its path relative to the project and its content digest",
  properties: { $file: { type: "string" }, digest: { type: "string" } },
  required: ["$file", "digest"],
};
