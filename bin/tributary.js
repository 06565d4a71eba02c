#!/usr/bin/env node
// CommonJS (bin/package.json says so), as is the bundle it loads first: Node starts a CommonJS file
// faster than an ES module, and the commands answered there (`--version`, a run in which nothing
// changed) are answered in little more than Node's own start-up. Anything else loads the full CLI.
"use strict";
// Node 22.1+ keeps the compiled code of our modules on disk (in the OS temp dir), so later starts skip
// parsing and compiling them: most of a short command's own start-up. A no-op on Node 20.
require("node:module").enableCompileCache?.();
const fast = require("../dist/cli/fast-answer.cjs");
const full = () => import("../dist/cli/bin.js");
fast.fastAnswer(process.argv.slice(2)).then(
  // Answered: nothing is left running, so the process ends as soon as its output is written.
  (code) => (code === undefined ? full() : (process.exitCode = code)),
  // The fast answer prints nothing before it is sure; whatever went wrong, the full CLI starts over.
  full,
);
