#!/usr/bin/env node
/**
 * First step of `npm test`: stops at once, before the build and vitest, when a server or tool the tests run
 * is missing, naming it and the command that installs it. The list lives in test/helpers/tools.ts.
 *
 *     node scripts/check-test-deps.mjs                 # exit 1 with the message when something is missing
 *     node scripts/check-test-deps.mjs --apt-packages  # print the Debian packages of what is missing (.ci/run)
 */
import { tsImport } from "tsx/esm/api";

const tools = await tsImport("../test/helpers/tools.ts", import.meta.url);
if (process.argv.includes("--apt-packages")) {
  process.stdout.write(
    `${tools
      .missingTools()
      .map((t) => t.aptPackage)
      .join(" ")}\n`,
  );
} else {
  const report = tools.missingToolsReport();
  if (report) {
    process.stderr.write(`\nnpm test stopped before running anything.\n${report}\n\n`);
    process.exit(1);
  }
}
