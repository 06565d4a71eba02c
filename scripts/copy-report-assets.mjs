#!/usr/bin/env node
/**
 * Part of `npm run build`: puts what the HTML run report inlines beside its compiled module, so the
 * package ships it and installs nothing more for it. The page's own code (src/reporters/html/page/) and
 * dagre's self-contained browser build with its licence notice (from the @dagrejs/dagre devDependency)
 * go to dist/reporters/html/page/ and its vendor/. src/reporters/html/render.ts reads them there.
 */
import { copyFileSync, cpSync, mkdirSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const repo = join(dirname(fileURLToPath(import.meta.url)), "..");
const page = join(repo, "dist", "reporters", "html", "page");
cpSync(join(repo, "src", "reporters", "html", "page"), page, { recursive: true });
// The package's exports hide dist/ files; its main entry sits beside the browser build.
const dagre = dirname(createRequire(import.meta.url).resolve("@dagrejs/dagre"));
mkdirSync(join(page, "vendor"), { recursive: true });
for (const file of ["dagre.min.js", "dagre.min.js.LEGAL.txt"]) {
  copyFileSync(join(dagre, file), join(page, "vendor", file));
}
