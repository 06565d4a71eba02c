/**
 * No interpolated value is ever read by the shell as syntax, wherever the user wrote the interpolation:
 * a corpus of payloads × the places a value can land in a `sh` line, run for real through /bin/sh.
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { compileFlow, flow, runGraph } from "../../src/index.js";
import { tempDir } from "../helpers/procs.js";

const PAYLOADS = [
  "$(touch pwned)",
  "`touch pwned`",
  '"; touch pwned; echo "',
  "'; touch pwned; echo '",
  "\\",
  "$HOME",
  "${HOME}",
  "a\ntouch pwned",
  '\\"; touch pwned; echo \\"',
  "*",
  "~",
  "$((1+1))",
  "' \"",
  "$'\\x41'",
  "%s %d",
  "héllo ✓",
  "",
  "a b\tc",
  ")",
  "| touch pwned",
  "& touch pwned &",
  "> pwned",
  '"$(touch pwned)"',
  "\\$(touch pwned)",
  "'$(touch pwned)'",
  "EOF\ntouch pwned\nEOF",
];

/** Each place, as template parts around the value, and what the step prints for a payload. */
const PLACES: Record<string, { before: string; after: string; prints: (p: string) => string }> = {
  bare: { before: "printf '%s' ", after: "", prints: (p) => p },
  "double quotes": { before: `printf '%s' "<`, after: `>"`, prints: (p) => `<${p}>` },
  "single quotes": { before: "printf '%s' '<", after: ">'", prints: (p) => `<${p}>` },
  "here-document": { before: "cat <<EOF\n<", after: ">\nEOF", prints: (p) => `<${p}>` },
  "command substitution in double quotes": {
    before: `x="$(printf '%s' `,
    after: `)"; printf '<%s>' "$x"`,
    // Inside "$(...)" the place is bare again: the payload is one word (its trailing newlines go).
    prints: (p) => `<${p.replace(/\n+$/, "")}>`,
  },
};

function template(before: string, after: string): TemplateStringsArray {
  return Object.assign([before, after], { raw: [before, after] }) as unknown as TemplateStringsArray;
}

describe("interpolation into sh command lines", () => {
  it("delivers every payload as data in every place it can be delivered to", async () => {
    const root = tempDir();
    const t = flow();
    const expected: Record<string, string> = {};
    let n = 0;
    for (const [place, p] of Object.entries(PLACES)) {
      for (const payload of PAYLOADS) {
        // A here-document cannot carry a line equal to its delimiter: refused, tested below.
        if (place === "here-document" && payload.split("\n").includes("EOF")) continue;
        const id = `s${n++}`;
        t.sh({ id, cache: false })(template(p.before, p.after), payload);
        expected[id] = p.prints(payload).replace(/\n+$/, "");
      }
    }
    const r = await runGraph(t.graph(), { root, concurrency: 4 });
    const failed = r.steps.filter((s) => s.status !== "ok").map((s) => `${s.id}: ${s.error?.message}`);
    expect(failed).toEqual([]);
    expect(r.outputs).toEqual(expected);
    expect(existsSync(join(root, "pwned"))).toBe(false);
  });

  it("refuses places no quoting can make safe, naming them", async () => {
    const root = tempDir();
    const t = flow();
    const refused: [string, string, string][] = [
      ["comment", "echo ok # note: ", ""],
      ["backticks", "echo `printf '%s' ", "`"],
      ["quoted here-document", "cat <<'EOF'\n", "\nEOF"],
      ["ansi", "echo $'", "'"],
      ["delimiter line", "cat <<EOF\n", "\nEOF"],
    ];
    for (const [id, before, after] of refused) {
      t.sh({ id, cache: false })(
        template(before, after),
        id === "delimiter line" ? "x\nEOF\ntouch pwned" : "$(touch pwned)",
      );
    }
    const r = await runGraph(t.graph(), { root });
    const errors = Object.fromEntries(r.steps.map((s) => [s.id, s.error]));
    expect(errors.comment).toMatchObject({ kind: "input", message: expect.stringContaining("a comment") });
    expect(errors.backticks!.message).toContain("backticks of a sh command; use $(...) instead of backticks");
    expect(errors["quoted here-document"]!.message).toContain("a here-document with a quoted delimiter");
    expect(errors.ansi!.message).toContain("a $'...' string");
    expect(errors["delimiter line"]!.message).toContain("holds the line EOF");
    expect(existsSync(join(root, "pwned"))).toBe(false);
  });

  it("the flow language lands values in the same places", async () => {
    const root = tempDir();
    const source = [
      `in x: String = "$(touch pwned) \\"'"`,
      `quoted = sh("printf '%s' \\"<\${x}>\\"")`,
      `single = sh("printf '%s' '<\${x}>'")`,
      `out quoted`,
      `out single`,
    ].join("\n");
    const { graph, diagnostics } = await compileFlow(source, join(root, "x.flow"), { root });
    expect(diagnostics.filter((d) => d.severity === "error")).toEqual([]);
    const r = await runGraph(graph!, { root });
    expect(r.outputs).toEqual({ quoted: `<$(touch pwned) "'>`, single: `<$(touch pwned) "'>` });
    expect(existsSync(join(root, "pwned"))).toBe(false);
  });
});
