/**
 * No test skips silently: the tools every test needs are checked before the run (test/helpers/tools.ts),
 * so a test file has no reason to skip itself. This keeps it that way: a skipped, conditional or
 * to-do test anywhere under test/ fails here, named with its line.
 */
import { readdirSync, readFileSync } from "node:fs";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { expect, it } from "vitest";

const TEST_DIR = fileURLToPath(new URL("..", import.meta.url));
const SKIPPING = /\b(?:it|test|describe|suite)\s*\.\s*(?:skip|skipIf|runIf|todo|only)\b|\.skip\s*\(/;

it("no test under test/ is skipped, conditional, to-do or focused", () => {
  const offenders: string[] = [];
  const files = readdirSync(TEST_DIR, { recursive: true, encoding: "utf8" }).filter((f) => f.endsWith(".ts"));
  expect(files.length).toBeGreaterThan(10);
  for (const file of files) {
    if (file === relative(TEST_DIR, fileURLToPath(import.meta.url))) continue;
    readFileSync(join(TEST_DIR, file), "utf8")
      .split("\n")
      .forEach((line, i) => {
        if (SKIPPING.test(line)) offenders.push(`test/${file}:${i + 1}: ${line.trim()}`);
      });
  }
  expect(offenders).toEqual([]);
});
