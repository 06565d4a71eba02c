import { describe, expect, it } from "vitest";
import { DiagnosticSink, LineMap, formatDiagnostics } from "../../src/language/diagnostics.js";
import { tokenize, type Token } from "../../src/language/lexer.js";

function lexed(source: string): { tokens: string[]; errors: string } {
  const sink = new DiagnosticSink("t.flow", new LineMap(source));
  const toks = tokenize(source, sink);
  return { tokens: toks.map((t) => show(t, source)), errors: formatDiagnostics(sink.list, source) };
}

function show(t: Token, source: string): string {
  const text = source.slice(t.start, t.end);
  if (t.kind === "ident") return text;
  if (t.value !== undefined) return `${t.kind}(${JSON.stringify(t.value)})`;
  return t.kind;
}

describe("lexer", () => {
  it("splits statements into tokens, skipping comments and collapsing blank lines", () => {
    const { tokens, errors } = lexed("# a comment\nuser = GetUser(id) # trailing\n\n\nout user\n");
    expect(errors).toBe("");
    expect(tokens).toEqual([
      "user",
      "=",
      "GetUser",
      "(",
      "id",
      ")",
      "newline",
      "out",
      "user",
      "newline",
      "eof",
    ]);
  });

  it("reads numbers, durations and rates", () => {
    const { tokens, errors } = lexed("1 -2 3.5 150ms 2s 5min 1.5h 10sec 20/s 100/1min 5/250ms");
    expect(errors).toBe("");
    expect(tokens).toEqual([
      "int(1)",
      "int(-2)",
      "float(3.5)",
      "duration(150)",
      "duration(2000)",
      "duration(300000)",
      "duration(5400000)",
      "duration(10000)",
      'rate({"tokens":20,"perMs":1000})',
      'rate({"tokens":100,"perMs":60000})',
      'rate({"tokens":5,"perMs":250})',
      "eof",
    ]);
  });

  it("splits strings into text and interpolations, with escapes cooked", () => {
    const { tokens, errors } = lexed('"a ${x.y} b \\"q\\" \\${no} $HOME \\u{1F600}\\n"');
    expect(errors).toBe("");
    expect(tokens).toEqual([
      "str-start",
      'str-text("a ")',
      "interp-open",
      "x",
      ".",
      "y",
      "interp-close",
      `str-text(${JSON.stringify(' b "q" ${no} $HOME \u{1F600}\n')})`,
      "str-end",
      "eof",
    ]);
  });

  it("nests strings and records inside interpolations", () => {
    const { tokens, errors } = lexed('"${F("in${ {a: 1}.a }ner")}"');
    expect(errors).toBe("");
    expect(tokens.join(" ")).toBe(
      'str-start interp-open F ( str-start str-text("in") interp-open { a : int(1) } . a interp-close str-text("ner") str-end ) interp-close str-end eof',
    );
  });

  it("accepts CRLF line ends and a byte-order mark", () => {
    const { tokens, errors } = lexed('\uFEFFa = "x"\r\nout a\r\n');
    expect(errors).toBe("");
    expect(tokens).toEqual([
      "a",
      "=",
      "str-start",
      'str-text("x")',
      "str-end",
      "newline",
      "out",
      "a",
      "newline",
      "eof",
    ]);
  });

  it("reports an unterminated string at its opening quote and still balances the tokens", () => {
    const { tokens, errors } = lexed('x = "abc ${y\nz = 1\n');
    expect(tokens.join(" ")).toBe(
      'x = str-start str-text("abc ") interp-open y interp-close str-end newline z = int(1) newline eof',
    );
    expect(errors).toMatchInlineSnapshot(`
      "t.flow:1:5: error: unterminated string
      x = "abc \${y
          ^~~~~~~~
      hint: close it with " on the same line"
    `);
  });

  it("reports stray characters, bad escapes, unknown units and malformed rates", () => {
    const { errors } = lexed("a = 'x' @\nb = \"\\q\"\nc = 5parsecs\nd = 20/fortnight\n");
    expect(errors).toMatchInlineSnapshot(`
      "t.flow:1:5: error: strings use double quotes
      a = 'x' @
          ^~~
      hint: write "x"
      t.flow:1:9: error: unexpected character "@"
      a = 'x' @
              ^
      t.flow:2:6: error: unknown escape \\q
      b = "\\q"
           ^~
      hint: use \\n, \\t, \\r, \\0, \\\\, \\", \\$ or \\u{hex}
      t.flow:3:5: error: unknown unit "parsecs" in 5parsecs
      c = 5parsecs
          ^~~~~~~~
      hint: durations use ms, s, min or h (150ms, 2s, 5min, 1h)
      t.flow:4:5: error: 20/fortnight is not a rate
      d = 20/fortnight
          ^~~~~~~~~~~~
      hint: write a rate like 20/s, 100/1min or 5/250ms"
    `);
  });
});
