import { createHash } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import type { ReportModel } from "./model.js";

/** The page's own code and style, and the graph layout library, inlined into every report. */
interface Assets {
  dagre: string;
  script: string;
  style: string;
}

let assets: Assets | undefined;

/**
 * Read once per process. A build puts the page's files beside this module and dagre's browser build
 * in their vendor/ (scripts/copy-report-assets.mjs), so an installed package needs nothing more; a
 * checkout run from src/ (tsx, the tests) reads dagre from its devDependency instead.
 */
function loadAssets(): Assets {
  if (assets) return assets;
  const page = fileURLToPath(new URL("./page/", import.meta.url));
  const read = (file: string, what: string): string => {
    try {
      return readFileSync(file, "utf8");
    } catch (err) {
      throw new Error(
        `cannot read ${what} for the HTML report at ${file} (${(err as Error).message}); ` +
          "reinstall tributary-flow (or run `npm run build` in its checkout)",
        { cause: err },
      );
    }
  };
  const dagreDir = existsSync(join(page, "vendor", "dagre.min.js")) ? join(page, "vendor") : installedDagre();
  const dagre = read(join(dagreDir, "dagre.min.js"), "the graph layout library (dagre)");
  // Its licence travels with every copy (a report is one): the notice its build keeps beside it, in
  // place of the comment that points there (left as it is when a later version keeps it elsewhere).
  let legal: string | undefined;
  try {
    legal = readFileSync(join(dagreDir, "dagre.min.js.LEGAL.txt"), "utf8").trim();
  } catch {
    legal = undefined;
  }
  assets = {
    dagre: dagre
      .replace(/^\/\*! For license information please see \S+ \*\/$/m, (line) => legal ?? line)
      // No source map travels with the report; a dangling reference would only make devtools fetch.
      .replace(/\/\/# sourceMappingURL=\S*\s*$/, ""),
    script: read(join(page, "report.js"), "the report page's script"),
    style: read(join(page, "report.css"), "the report page's style"),
  };
  return assets;
}

/** Where @dagrejs/dagre's browser build is in a checkout (its exports hide dist/: beside its main). */
function installedDagre(): string {
  try {
    return dirname(createRequire(import.meta.url).resolve("@dagrejs/dagre"));
  } catch (err) {
    throw new Error(
      "the HTML report's graph layout library is missing: neither a build's copy of it " +
        "(run `npm run build`) nor the @dagrejs/dagre devDependency (run `npm install`)",
      { cause: err },
    );
  }
}

/**
 * JSON that can sit inside a `<script type="application/json">`: `<` is escaped so no string in it
 * (a step's stderr, say) can close the element or open a comment.
 */
export function embedJson(value: unknown): string {
  return JSON.stringify(value).replace(/[<\u2028\u2029]/g, (c) => ESCAPES[c]!);
}

const ESCAPES: Record<string, string> = {
  "<": "\\u003c",
  "\u2028": "\\u2028",
  "\u2029": "\\u2029",
};

/**
 * The model as the page receives it, smaller where a large run repeats itself: each attempt is a
 * tuple `[step, slot, start, end, attempt, outcome]`, and a cache reason (often the same words for
 * thousands of steps) is an index into `texts`. page/report.js undoes both first thing.
 */
function wireOf(model: ReportModel): unknown {
  const texts: string[] = [];
  const index = new Map<string, number>();
  const intern = (s: string): number => {
    let i = index.get(s);
    if (i === undefined) index.set(s, (i = texts.push(s) - 1));
    return i;
  };
  const steps = model.steps.map((s) =>
    s.cache?.reason === undefined ? s : { ...s, cache: { ...s.cache, reason: intern(s.cache.reason) } },
  );
  const bars = model.bars.map((b) => [b.step, b.slot, b.start, b.end, b.attempt, b.outcome]);
  return { ...model, steps, bars, texts };
}

/** Code for a `<script>` element: a `</script` inside a string of it must not end the element. */
function inlineScript(code: string): string {
  return code.replace(/<\/(script)/gi, "<\\/$1");
}

/** Near the top of every report: how a file is known to be one (and so may be written over). */
export const GENERATOR_META = '<meta name="generator" content="tributary">';

const sha256 = (text: string): string => `'sha256-${createHash("sha256").update(text).digest("base64")}'`;

const escapeHtml = (s: string): string => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

/**
 * The whole report as one HTML document: no network (the content security policy allows nothing
 * but the page's own two scripts, by hash, and its inline style), the run's data embedded as JSON.
 */
export function renderReport(model: ReportModel): string {
  const a = loadAssets();
  const dagre = inlineScript(a.dagre);
  const script = inlineScript(a.script);
  const csp = [
    "default-src 'none'",
    `script-src ${sha256(dagre)} ${sha256(script)}`,
    "style-src 'unsafe-inline'",
    "img-src data:",
  ].join("; ");
  const title = `Tributary run ${model.runId ?? ""}`.trim();
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
${GENERATOR_META}
<meta http-equiv="Content-Security-Policy" content="${escapeHtml(csp)}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)}</title>
<style>${a.style}</style>
</head>
<body>
<noscript>This report draws itself with JavaScript; enable it to see the run.</noscript>
<script type="application/json" id="report-data">${embedJson(wireOf(model))}</script>
<script>${dagre}</script>
<script>${script}</script>
</body>
</html>
`;
}
