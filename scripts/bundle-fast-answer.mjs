#!/usr/bin/env node
/**
 * Part of `npm run build`: bundles src/cli/fast-answer.ts and what it imports into one CommonJS file,
 * dist/cli/fast-answer.cjs, which bin/tributary.js loads before anything else (see fast-answer.ts for
 * why). Its dependencies stay outside (picocolors is required from node_modules as usual).
 *
 * The bundle must stay small: it is parsed on every start. The build fails when it takes in a module
 * from a part of Tributary a no-op answer has no business loading (the language, the engine's
 * scheduler, the executors, the cache's store), naming the import chain to cut.
 */
import { build } from "esbuild";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";

const repo = join(dirname(fileURLToPath(import.meta.url)), "..");
const out = join(repo, "dist", "cli", "fast-answer.cjs");
const FORBIDDEN = [
  /^src\/language\//,
  /^src\/executors\//,
  /^src\/engine\/(?!user-error|events)/,
  /^src\/cache\/(?!run-snapshot|atomic-write|fs-ops|temp-name)/,
];

const result = await build({
  entryPoints: [join(repo, "src", "cli", "fast-answer.ts")],
  outfile: out,
  bundle: true,
  platform: "node",
  format: "cjs",
  target: "node20",
  packages: "external",
  metafile: true,
  // Less to parse on every start; names are kept, for profiles and stack traces.
  minifyWhitespace: true,
  minifySyntax: true,
  logLevel: "warning",
  // The modules find their files (package.json, picocolors) from where they are: in the bundle, that is
  // dist/cli/, as deep below the package root as dist/project/ and dist/reporters/ are.
  define: { "import.meta.url": "__bundle_url" },
  banner: { js: 'const __bundle_url = require("node:url").pathToFileURL(__filename).href;' },
});
// What the output holds: esbuild lists every module an import reaches, also those tree-shaking dropped.
const inputs = Object.values(result.metafile.outputs)
  .flatMap((o) => Object.entries(o.inputs))
  .filter(([, v]) => v.bytesInOutput > 0)
  .map(([p]) => relative(repo, join(repo, p)));
const bad = inputs.filter((p) => FORBIDDEN.some((re) => re.test(p)));
if (bad.length > 0) {
  console.error(
    `fast-answer bundle: these modules must not be in it (a no-op answer loads them for nothing):`,
  );
  for (const p of bad) console.error(`  ${p}`);
  process.exit(1);
}
