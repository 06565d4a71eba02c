#!/usr/bin/env node
/**
 * Part of `npm run build`: bundles the two CommonJS files bin/tributary.js loads before the ES modules,
 * because Node loads one CommonJS file in a fraction of the time it takes to resolve, read and link a
 * hundred ES modules one by one (about 70 ms of a short run's 200 here):
 *
 * - dist/cli/fast-answer.cjs (src/cli/fast-answer.ts): `--version` and a run in which nothing changed.
 *   It must stay small, being parsed on every start: the build fails when it takes in the language,
 *   the engine's scheduler, the executors or the cache's store.
 * - dist/cli/run.cjs (src/cli/start.ts): the command lines quick-run.ts parses (`run [FLOW] [-j N]
 *   [--no-cache] [-q]`). What those never reach is left out, each replaced by a module that throws: commander
 *   and the other commands, remote execution (whose top-level await CommonJS cannot hold) and the HTML
 *   report. Every one of those must be imported dynamically only (checked here), so that leaving it
 *   out changes nothing until it is called.
 *
 * Dependencies stay outside (required or imported from node_modules as usual). Each module keeps its
 * own `import.meta.url`: the URL it has in dist/, so that files found beside it (package.json, the
 * thread worker, the report's page) are found from the bundle too.
 */
import { build } from "esbuild";
import { readFile, writeFile } from "node:fs/promises";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";

const repo = join(dirname(fileURLToPath(import.meta.url)), "..");
const src = join(repo, "src");

/** `import.meta.url` in a source file → the URL of its compiled file in dist/, from the bundle's. */
const ownUrls = {
  name: "own-import-meta-url",
  setup(b) {
    b.onLoad({ filter: /\.ts$/ }, async (args) => {
      if (!args.path.startsWith(src)) return undefined;
      const text = await readFile(args.path, "utf8");
      if (!text.includes("import.meta.url")) return undefined;
      const inDist = relative(src, args.path).replace(/\.ts$/, ".js");
      // Not inside quotes: transpiled-modules.ts names `"import.meta.url"` for esbuild's define.
      const contents = text.replace(
        /(?<!["'`])import\.meta\.url(?!["'`])/g,
        `new URL(${JSON.stringify(inDist)}, __tributary_dist).href`,
      );
      return { contents, loader: "ts" };
    });
  },
};

/** Modules (paths under src/) a bundle leaves out: each becomes one that throws when it is imported. */
function leaveOut(patterns, bundle) {
  return {
    name: "leave-out",
    setup(b) {
      b.onLoad({ filter: /\.ts$/ }, (args) => {
        const path = relative(src, args.path);
        if (!patterns.some((re) => re.test(path))) return undefined;
        const message = `internal error: ${path} is not in ${bundle}; this command line should have loaded the full CLI`;
        return { contents: `throw new Error(${JSON.stringify(message)});`, loader: "js" };
      });
    },
  };
}

/**
 * V8's code cache loses what Node needs to run a dynamic `import()` (Node 20: "A dynamic import callback
 * was not specified" from any function compiled from the cache). A bundle loaded by requireCompiled
 * (src/project/compiled-code.ts) therefore calls `__tributary_import` instead: the loader passes in an
 * `import()` of its own; under a plain `require` it is one declared here. es-module-lexer finds each
 * dynamic import, not text in a string or a comment.
 */
const IMPORT_BANNER =
  'const __tributary_import = typeof __tributaryImport === "function" ? __tributaryImport : (s) => import(s);\n';

async function routeDynamicImports(file) {
  const { init, parse } = await import("es-module-lexer");
  await init();
  let code = await readFile(file, "utf8");
  const bannerEnd = code.indexOf(IMPORT_BANNER) + IMPORT_BANNER.length;
  if (bannerEnd < IMPORT_BANNER.length) throw new Error(`${file}: the import banner is missing`);
  const [imports] = parse(code);
  let out = "";
  let at = 0;
  for (const imp of imports) {
    // importStart: the `import` keyword; the banner's own one stays.
    if (imp.type !== "dynamic" || imp.importStart < bannerEnd) continue;
    out += `${code.slice(at, imp.importStart)}__tributary_import`;
    at = imp.importStart + "import".length;
  }
  code = out + code.slice(at);
  const left = parse(code)[0].filter((imp) => imp.type === "dynamic").length;
  if (left !== 1) throw new Error(`${file}: ${left - 1} dynamic import() left after routing them`);
  await writeFile(file, code);
}

async function bundle({ entry, out, forbidden, leftOut = [], codeCache = false }) {
  const name = relative(repo, out);
  const result = await build({
    entryPoints: [join(src, entry)],
    outfile: out,
    bundle: true,
    platform: "node",
    format: "cjs",
    target: "node20",
    packages: "external",
    metafile: true,
    logLevel: "warning",
    // Less to parse on every start; names are kept, for profiles and stack traces.
    minifyWhitespace: true,
    minifySyntax: true,
    banner: {
      js:
        'const __tributary_dist = require("node:url").pathToFileURL(require("node:path").join(__dirname, "..") + "/");\n' +
        (codeCache ? IMPORT_BANNER : ""),
    },
    plugins: [leaveOut(leftOut, name), ownUrls],
  });
  if (codeCache) await routeDynamicImports(out);
  const problems = [];
  // What the output holds: esbuild lists every module an import reaches, also those tree-shaking dropped.
  const held = Object.values(result.metafile.outputs)
    .flatMap((o) => Object.entries(o.inputs))
    .filter(([, v]) => v.bytesInOutput > 0)
    .map(([p]) => relative(src, join(repo, p)));
  for (const p of held) {
    if (forbidden.some((re) => re.test(p))) problems.push(`${p} must not be in it`);
  }
  // A module left out must be imported dynamically only: a static import would throw at start.
  for (const [p, input] of Object.entries(result.metafile.inputs)) {
    for (const imp of input.imports) {
      const target = imp.path && relative(src, join(repo, imp.path));
      if (target && leftOut.some((re) => re.test(target)) && imp.kind !== "dynamic-import") {
        if (!leftOut.some((re) => re.test(relative(src, join(repo, p))))) {
          problems.push(`${relative(src, join(repo, p))} imports ${target} statically, but it is left out`);
        }
      }
    }
  }
  if (problems.length > 0) {
    console.error(`${name}:\n${problems.map((p) => `  ${p}`).join("\n")}`);
    process.exit(1);
  }
}

await bundle({
  entry: "cli/fast-answer.ts",
  out: join(repo, "dist", "cli", "fast-answer.cjs"),
  forbidden: [
    /^language\//,
    /^executors\//,
    /^engine\/(?!user-error|events)/,
    /^cache\/(?!run-snapshot|atomic-write|fs-ops|temp-name)/,
  ],
});

await bundle({
  entry: "cli/start.ts",
  out: join(repo, "dist", "cli", "run.cjs"),
  codeCache: true,
  leftOut: [
    /^cli\/program\.ts$/,
    /^cli\/commands\//,
    /^executors\/remote\//,
    /^project\/(worker|report)\.ts$/,
  ],
  forbidden: [/^serve\//, /^reporters\/html\//, /^cli\/commander\.ts$/],
});
