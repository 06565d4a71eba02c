import { describe, expect, it } from "vitest";
import { formatDiagnostic, formatDiagnostics, parseFlow, type Diagnostic } from "../../src/language/index.js";

function first(source: string): Diagnostic {
  const d = parseFlow(source, "d.flow").diagnostics[0];
  if (!d) throw new Error("no diagnostic");
  return d;
}

describe("formatDiagnostic", () => {
  it("prints file:line:col, the line, a caret under the span and the hint", () => {
    const src = "a = 1\nb = F(1 2)\n";
    const d = first(src);
    expect(d).toMatchObject({ line: 2, col: 9, endLine: 2, endCol: 10, severity: "error", code: "syntax" });
    expect(formatDiagnostic(d, src)).toBe(
      [
        'd.flow:2:9: error: expected "," or ")", found the number 2',
        "b = F(1 2)",
        "        ^",
        "hint: separate items with commas",
      ].join("\n"),
    );
  });

  it("keeps tabs in the caret line so that it lines up", () => {
    const src = 'x = F(\n\t\t"a" "b")\n';
    expect(formatDiagnostic(first(src), src).split("\n").slice(1, 3)).toEqual([
      '\t\t"a" "b")',
      "\t\t    ^~~",
    ]);
  });

  it("underlines to the end of the line for a span that runs past it", () => {
    const d: Diagnostic = {
      severity: "warning",
      code: "x",
      message: "spans lines",
      file: "m.flow",
      line: 1,
      col: 3,
      endLine: 2,
      endCol: 2,
      start: 2,
      end: 7,
    };
    expect(formatDiagnostic(d, "abcde\nfg")).toBe("m.flow:1:3: warning: spans lines\nabcde\n  ^~~");
  });

  it("prints only the first line without the source, and colours on request", () => {
    const src = 'x = "open\n';
    const d = first(src);
    expect(formatDiagnostic(d)).toBe(
      'd.flow:1:5: error: unterminated string\nhint: close it with " on the same line',
    );
    const coloured = formatDiagnostic(d, src, { color: true });
    expect(coloured).toContain("\u001b[");
    expect(coloured.replace(new RegExp(`${String.fromCharCode(27)}\\[[0-9;]*m`, "g"), "")).toBe(
      formatDiagnostic(d, src),
    );
  });

  it("formats several diagnostics in order", () => {
    const src = "a = [\nb = (\n";
    expect(formatDiagnostics(parseFlow(src, "d.flow").diagnostics, src).match(/^d\.flow:\d+/gm)).toEqual([
      "d.flow:1",
      "d.flow:2",
    ]);
  });
});
