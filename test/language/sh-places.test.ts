import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { cli } from "../helpers/cli.js";
import { tempDir } from "../helpers/procs.js";
import { check } from "./helpers.js";

describe("sh: interpolation where no quoting makes it safe is a check error", () => {
  it("a comment, backticks, $'...', a quoted here-document: each at its ${...}, with the fix", async () => {
    const text = await check(
      [
        'in x: String = "v"',
        'a = sh("echo ok # note: ${x}")',
        'b = sh("echo `printf %s ${x}`")',
        "c = sh(\"echo $'a ${x}'\")",
        "d = sh(\"cat <<'EOF'\\n${x}\\nEOF\")",
        'e = sh("cat <<EOF\\n${"a\\nEOF\\nrm -rf x"}\\nEOF")',
      ].join("\n"),
    );
    expect(text).toMatchInlineSnapshot(`
      "main.flow:2:25: error: \${...} lands in a comment, where no quoting makes a value safe
      a = sh("echo ok # note: \${x}")
                              ^~~~
      hint: move it out of the comment
      main.flow:3:25: error: \${...} lands in backticks, where no quoting makes a value safe
      b = sh("echo \`printf %s \${x}\`")
                              ^~~~
      hint: use $(...) instead of backticks
      main.flow:4:18: error: \${...} lands in a $'...' string, where no quoting makes a value safe
      c = sh("echo $'a \${x}'")
                       ^~~~
      hint: put it outside the $'...' string, or pass it through an env var: x=\${...}; ... "$x"
      main.flow:5:22: error: \${...} lands in a here-document with a quoted delimiter (<<'EOF'), where no quoting makes a value safe
      d = sh("cat <<'EOF'\\n\${x}\\nEOF")
                           ^~~~
      hint: unquote the delimiter (<<EOF): the value is then escaped for the here-document
      main.flow:6:20: error: \${...} lands in a here-document that the value would end (it holds the line EOF), where no quoting makes a value safe
      e = sh("cat <<EOF\\n\${"a\\nEOF\\nrm -rf x"}\\nEOF")
                         ^~~~~~~~~~~~~~~~~~~~~
      hint: choose a delimiter that no line of the value equals"
    `);
  });

  it("the places the run quotes safely are no error", async () => {
    const text = await check(
      [
        'in x: String = "v"',
        'a = sh("echo ${x} \\"${x}\\" \'${x}\' $(echo ${x}) \\"$(echo ${x})\\" # done")',
        "b = sh(\"cat <<EOF\\n${x}\\nEOF\\necho '#' ${x}\")",
        'c = sh("echo \\"#${x}\\" a#${x}")',
        "d = sh(\"cat <<'EOF'\\nliteral\\nEOF\\necho ${x}\")",
        'e = sh("echo `date` ${x}")',
      ].join("\n"),
    );
    expect(text).toBe("");
  });

  it("tributary check exits 2 with one block per place", async () => {
    const dir = tempDir();
    writeFileSync(join(dir, "sh.flow"), 'in x: String = "v"\na = sh("echo `cat ${x}` # ${x}")\n');
    const r = await cli(["check", "sh.flow"], { cwd: dir });
    expect(r.code).toBe(2);
    expect(r.stderr.match(/^\S*sh\.flow:2:\d+: error: \$\{\.\.\.\} lands in .*$/gm)).toEqual([
      expect.stringMatching(/sh\.flow:2:19: error: \$\{...\} lands in backticks/),
      expect.stringMatching(/sh\.flow:2:27: error: \$\{...\} lands in a comment/),
    ]);
    expect(r.stderr).not.toMatch(/internal error|\n\s+at /);
  });
});
