#!/usr/bin/env node
// Node 22.1+ keeps the compiled code of our modules on disk (in the OS temp dir), so later starts skip
// parsing and compiling them: most of a short command's own start-up. A no-op on Node 20.
import module from "node:module";
module.enableCompileCache?.();
await import("../dist/cli/bin.js");
