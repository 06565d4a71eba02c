import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { tmpdir } from "node:os";
import { describe, expect, it } from "vitest";
import { cli } from "../helpers/cli.js";
import { tempDir } from "../helpers/procs.js";
import { compileFlow, formatDiagnostics, parseFlow, type Diagnostic } from "../../src/language/index.js";

const DEEP = 5000;

/** Hostile shapes, each nested DEEP levels. */
const SHAPES: Record<string, string> = {
  "index chain": "x = [1]\ny = x" + "[0]".repeat(DEEP),
  "field chain": "x = { b: 1 }\ny = x" + ".b".repeat(DEEP),
  parentheses: "y = " + "(".repeat(DEEP) + "1" + ")".repeat(DEEP),
  lists: "y = " + "[".repeat(DEEP) + "1" + "]".repeat(DEEP),
  records: "y = " + "{ a: ".repeat(DEEP) + "1" + " }".repeat(DEEP),
  calls: "y = " + "F(".repeat(DEEP) + "1" + ")".repeat(DEEP),
  interpolations: "y = " + '"${'.repeat(DEEP) + "1" + '}"'.repeat(DEEP),
  "input type": "in y: " + "List<".repeat(DEEP) + "Int" + ">".repeat(DEEP),
  "record type": "in y: " + "{ a: ".repeat(DEEP) + "Int" + " }".repeat(DEEP),
  "option value": 'y = sh("true") with backoff: ' + "{ a: ".repeat(DEEP) + "1" + " }".repeat(DEEP),
};

async function compile(source: string) {
  const r = await compileFlow(source, "main.flow", { root: tmpdir() });
  return { ...r, text: formatDiagnostics(r.diagnostics, source) };
}

function noInternal(ds: Diagnostic[]): void {
  expect(ds.filter((d) => d.code === "internal").map((d) => d.message.slice(0, 200))).toEqual([]);
}

describe("nesting has a limit, reported where it is reached", () => {
  for (const [name, source] of Object.entries(SHAPES)) {
    it(`${DEEP} levels of ${name}: one diagnostic naming the limit and the fix`, async () => {
      const r = await compile(source);
      noInternal(r.diagnostics);
      const deep = r.diagnostics.filter((d) => d.code === "too-deep");
      expect(deep).toHaveLength(1);
      expect(deep[0]!.message).toMatch(/^(expression|type) nested more than 256 levels deep$/);
      expect(deep[0]!.hint).toBeTruthy();
      expect(deep[0]!.line).toBe(source.split("\n").length);
      // The caret is under the level past the limit, and the block stays small.
      expect(r.text.length).toBeLessThan(2000);
    });
  }

  it("nesting within the limit compiles (the checker and lowering go as deep as the parser lets them)", async () => {
    const d = 120;
    const source = [
      "x = " + "[".repeat(d) + "1" + "]".repeat(d),
      "y = x" + "[0]".repeat(d - 1),
      "r = " + "{ a: ".repeat(d) + "2" + " }".repeat(d),
      "s = r" + ".a".repeat(d),
      "t = " + '"${'.repeat(d / 2) + "s" + '}"'.repeat(d / 2),
      'z = sh("echo ${y} ${s} ${t}")',
      "out z",
    ].join("\n");
    const r = await compile(source);
    expect(r.text).toBe("");
    expect(r.graph!.steps[0]!.inputs).toBeDefined();
  });

  it("a chain of values nesting past the limit: one diagnostic at the first value past it", async () => {
    const lines = ["v0 = [1]"];
    for (let i = 1; i < DEEP; i++)
      lines.push(i % 2 ? `v${i} = [v${i - 1}]` : `v${i} = { a: v${i - 1}, b: v${i - 1} }`);
    lines.push(`x = sh("echo \${v${DEEP - 1}}")`);
    const r = await compile(lines.join("\n"));
    noInternal(r.diagnostics);
    expect(r.diagnostics.map((d) => [d.code, d.line, d.message])).toEqual([
      ["too-deep", 257, "v256 nests lists and records more than 256 levels deep, through the values it uses"],
    ]);
    const ok = await compile(lines.slice(0, 256).join("\n") + "\nout v255");
    expect(ok.text).toBe("");
  });

  it("check exits 2 with one diagnostic block per problem, never a stack trace", async () => {
    const dir = tempDir();
    writeFileSync(
      join(dir, "deep.flow"),
      SHAPES["index chain"] +
        "\n" +
        SHAPES["field chain"]!.replace("x =", "x2 =").replace("y = x", "y2 = x2") +
        "\n",
    );
    const r = await cli(["check", "deep.flow"], { cwd: dir });
    expect(r.code).toBe(2);
    expect(r.stderr).not.toMatch(/internal error|\n\s+at /);
    expect(
      r.stderr.match(/^\S*deep\.flow:\d+:\d+: error: expression nested more than 256 levels deep$/gm),
    ).toHaveLength(2);
    expect(r.stderr.length).toBeLessThan(3000);
  });
});

describe("bad characters", () => {
  it("15,000 bad characters on one line: one diagnostic, a short excerpt around the caret", () => {
    const source = "y = 1 " + "@".repeat(15_000) + "\n";
    const { diagnostics } = parseFlow(source, "main.flow");
    expect(diagnostics).toHaveLength(1);
    expect(diagnostics[0]).toMatchObject({
      code: "unexpected-character",
      line: 1,
      col: 7,
      start: 6,
      end: 15_006,
    });
    expect(diagnostics[0]!.message).toBe('unexpected characters "@@@@@@@@…" (15000 of them)');
    const text = formatDiagnostics(diagnostics, source);
    expect(text.length).toBeLessThan(600);
    expect(text.split("\n")[1]).toBe("y = 1 " + "@".repeat(154) + "…");
  });

  it("20 KB of NUL bytes, of @, of spaced-out junk: a bounded list of diagnostics, printable excerpts", () => {
    for (const source of [
      "\0".repeat(20_000),
      "@".repeat(20_000),
      "@ ".repeat(10_000),
      "\u00a7\u2603\t".repeat(7000),
    ]) {
      const { diagnostics } = parseFlow(source, "main.flow");
      expect(diagnostics).toHaveLength(1);
      const text = formatDiagnostics(diagnostics, source);
      expect(text.length).toBeLessThan(1000);
      // eslint-disable-next-line no-control-regex
      expect(text).not.toMatch(/[\u0000-\u0008\u000b-\u001f]/);
    }
  });

  it("a caret far along a long line sits under the text it points at", () => {
    const source = "x = F(" + "a, ".repeat(3000) + "@, b)";
    const { diagnostics } = parseFlow(source, "main.flow");
    const [line, excerpt, caret] = formatDiagnostics(diagnostics, source).split("\n");
    expect(line).toBe(`main.flow:1:${source.indexOf("@") + 1}: error: unexpected character "@"`);
    expect(excerpt!.length).toBeLessThanOrEqual(162);
    expect(excerpt!.startsWith("…")).toBe(true);
    expect(excerpt![caret!.indexOf("^")]).toBe("@");
  });

  it("a line of many separate mistakes still reports a capped number of blocks", () => {
    const source = Array.from({ length: 5000 }, () => "x = 9zz").join("\n");
    const { diagnostics } = parseFlow(source, "main.flow");
    const text = formatDiagnostics(diagnostics, source);
    expect(text.split("\n").filter((l) => l.startsWith("main.flow:"))).toHaveLength(100);
    expect(text).toMatch(/… and \d+ more not shown$/);
  });
});
