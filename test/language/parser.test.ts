import { describe, expect, it } from "vitest";
import { formatDiagnostics, parseFlow } from "../../src/language/index.js";

function errors(source: string): string {
  return formatDiagnostics(parseFlow(source, "p.flow").diagnostics, source);
}

describe("parser", () => {
  it("parses every kind of statement", () => {
    const src = [
      'use "./modules.ts"',
      'in userId: String = "42"',
      "in tags: List<Optional<{ name: String, n: Int }>>",
      "pool gpu = 2",
      "user = GetUser(userId) with retry: 3, timeout: 2s",
      "out user, tags",
    ].join("\n");
    const { ast, diagnostics } = parseFlow(src, "p.flow");
    expect(diagnostics).toEqual([]);
    expect(ast.statements.map((s) => s.kind)).toEqual(["use", "input", "input", "pool", "assign", "out"]);
    expect(ast.statements[0]).toMatchObject({ kind: "use", path: "./modules.ts" });
    expect(ast.statements[1]).toMatchObject({
      kind: "input",
      name: "userId",
      type: { kind: "named", name: "String", args: [] },
      default: { kind: "string", parts: ["42"] },
    });
    expect(ast.statements[2]).toMatchObject({
      type: {
        name: "List",
        args: [{ name: "Optional", args: [{ kind: "record", fields: [{ name: "name" }, { name: "n" }] }] }],
      },
    });
    expect(ast.statements[3]).toMatchObject({ kind: "pool", name: "gpu", size: { kind: "int", value: 2 } });
    expect(ast.statements[4]).toMatchObject({
      kind: "assign",
      name: "user",
      value: { kind: "call", callee: "GetUser", args: [{ kind: "ident", name: "userId" }] },
      options: [
        { name: "retry", value: { kind: "int", value: 3 } },
        { name: "timeout", value: { kind: "duration", ms: 2000 } },
      ],
    });
    expect(ast.statements[5]).toMatchObject({ kind: "out", names: [{ name: "user" }, { name: "tags" }] });
  });

  it("parses expressions: literals, lists, records, fields, indexes, nested calls, interpolation", () => {
    const src = 'x = F(a.b[0]["k"], [1, 2.5, true], { a: 1, "b-c": "s${G(y).z}" }, 150ms, xs.0)';
    const { ast, diagnostics } = parseFlow(src, "p.flow");
    expect(diagnostics).toEqual([]);
    const call = (ast.statements[0] as { value: unknown }).value;
    expect(call).toMatchObject({
      kind: "call",
      callee: "F",
      args: [
        {
          kind: "index",
          index: { kind: "string", parts: ["k"] },
          target: { kind: "index", index: { value: 0 }, target: { kind: "field", name: "b" } },
        },
        {
          kind: "list",
          items: [{ kind: "int" }, { kind: "float", value: 2.5 }, { kind: "bool", value: true }],
        },
        {
          kind: "record",
          fields: [
            { name: "a" },
            {
              name: "b-c",
              value: {
                kind: "string",
                parts: ["s", { kind: "field", name: "z", target: { kind: "call", callee: "G" } }],
              },
            },
          ],
        },
        { kind: "duration", ms: 150 },
        { kind: "index", index: { value: 0 } },
      ],
    });
  });

  it("lets arguments, lists and records span lines, with trailing commas, and with start the next line", () => {
    const src = [
      "x = F(",
      "  a,",
      "  [1,",
      "   2,],",
      "  { k: 1,",
      "    j: 2, },",
      ")",
      "  with retry: 2,",
      "       timeout: 1s",
      "y = G(x)",
    ].join("\n");
    const { ast, diagnostics } = parseFlow(src, "p.flow");
    expect(diagnostics).toEqual([]);
    expect(ast.statements).toHaveLength(2);
    expect(ast.statements[0]).toMatchObject({ options: [{ name: "retry" }, { name: "timeout" }] });
  });

  it("reports every broken statement of a file at once and keeps the good ones", () => {
    const src = ["a = F(1 2)", "b = G(a)", "c = ", "d = H(b))", "e = I(d)"].join("\n");
    const { ast, diagnostics } = parseFlow(src, "p.flow");
    expect(diagnostics.map((d) => d.line)).toEqual([1, 3, 4]);
    // Broken assignments are kept (with an error value) so that later uses of them are not "unknown".
    expect(ast.statements.map((s) => (s as { name?: string }).name)).toEqual(["a", "b", "c", "d", "e"]);
    expect(errors(src)).toMatchInlineSnapshot(`
      "p.flow:1:9: error: expected "," or ")", found the number 2
      a = F(1 2)
              ^
      hint: separate items with commas
      p.flow:3:5: error: expected a value after =, found the end of the line
      c = 
          ^
      p.flow:4:9: error: expected the end of the line, found ")"
      d = H(b))
              ^"
    `);
  });

  it("reports an unclosed bracket at the bracket, then parses the next statement", () => {
    const src = ["x = F(a,", "  b", "y = G(x)", "z = [1, 2"].join("\n");
    const { ast } = parseFlow(src, "p.flow");
    expect(ast.statements.map((s) => (s as { name?: string }).name)).toEqual(["x", "y", "z"]);
    expect(errors(src)).toMatchInlineSnapshot(`
      "p.flow:1:6: error: "(" is never closed
      x = F(a,
           ^
      hint: add ")"
      p.flow:4:5: error: "[" is never closed
      z = [1, 2
          ^
      hint: add "]""
    `);
  });

  it("explains common mistakes", () => {
    const src = [
      "GetUser(id)",
      "x GetUser(id)",
      "y = F(id) retry: 3",
      "z = F(name: id)",
      'w = "${}"',
      "with = 1",
      "in n Int",
      "use modules.ts",
      "v = F(a)(b)",
      "u = x.",
    ].join("\n");
    expect(errors(src)).toMatchInlineSnapshot(`
      "p.flow:1:1: error: the result of GetUser(...) must be given a name
      GetUser(id)
      ^~~~~~~
      hint: write: getUser = GetUser(...)
      p.flow:2:3: error: expected "=" after the name, found "GetUser"
      x GetUser(id)
        ^~~~~~~
      hint: write: x = ...
      p.flow:3:11: error: expected the end of the line, found "retry"
      y = F(id) retry: 3
                ^~~~~
      hint: options go after "with": ... with retry: ...
      p.flow:4:7: error: arguments are passed by position, not by name
      z = F(name: id)
            ^~~~~
      hint: remove "name:"
      p.flow:5:6: error: empty \${} in a string
      w = "\${}"
           ^~~
      hint: put a value inside, or write \\\${ for a literal \${
      p.flow:6:1: error: "with" is a reserved word and cannot be a name
      with = 1
      ^~~~
      p.flow:7:6: error: expected ":" and a type after the input name, found "Int"
      in n Int
           ^~~
      hint: write: in n: String
      p.flow:8:5: error: expected a file name in quotes, as in use "./modules.ts", found "modules"
      use modules.ts
          ^~~~~~~
      p.flow:9:9: error: only a module or built-in can be called
      v = F(a)(b)
              ^
      hint: call it by name: Module(...)
      p.flow:10:7: error: expected a field name after ".", found the end of the file
      u = x.
            ^"
    `);
  });

  it("does not overflow the stack on absurd nesting", () => {
    const deep = "x = " + "[".repeat(5000) + "]".repeat(5000);
    const { diagnostics } = parseFlow(deep, "p.flow");
    expect(diagnostics.map((d) => d.message)).toEqual(["expression nested more than 256 levels deep"]);
  });
});
