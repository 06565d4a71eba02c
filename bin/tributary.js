#!/usr/bin/env node
// CommonJS (bin/package.json says so), as are the bundles it loads first: Node starts a CommonJS file
// faster than an ES module. `--version` and a run in which nothing changed are answered by the first
// bundle in little more than Node's own start-up; the quick run's command lines (`run [FLOW] [-j N]
// [--no-cache] [-q]`) run from the second; anything else loads the full CLI (scripts/bundle-cli.mjs).
"use strict";
// Node 22.1+ keeps the compiled code of our modules on disk (in the OS temp dir), so later starts skip
// parsing and compiling them: most of a short command's own start-up. The run bundle has a code cache
// of its own on every version (requireCompiled, src/project/compiled-code.ts): Node 20 has no such API.
require("node:module").enableCompileCache?.();
const argv = process.argv.slice(2);
const fast = require("../dist/cli/fast-answer.cjs");
const full = () => import("../dist/cli/bin.js");
fast.fastAnswer(argv).then(
  (code) => {
    // Answered: nothing is left running, so the process ends as soon as its output is written.
    if (code !== undefined) process.exitCode = code;
    else if (fast.takesRunBundle(argv))
      fast.requireCompiled(require.resolve("../dist/cli/run.cjs")).start(argv);
    else full();
  },
  // The fast answer prints nothing before it is sure; whatever went wrong, the full CLI starts over.
  full,
);
