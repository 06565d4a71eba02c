/**
 * TypeScript modules transpiled once per content, kept in `<root>/.tributary/transpiled/`, so that a run
 * imports plain JavaScript instead of routing every import (a schema library's hundred files included)
 * through tsx's loader. The first run with a given content pays esbuild's transform; later runs read
 * the files. Type errors still come from the checker: the transform only strips types.
 *
 * Each local file the module reaches becomes `<dir>/<name>.<key>.mjs`, in the same relative layout as
 * the source, with its local specifiers rewritten to the other transpiled files. The key covers the
 * format version, esbuild's and Node's versions, the project's tsconfig.json, the file's absolute path
 * and the digest of its whole local import graph (module-code.ts), so an edit to any file it reaches
 * gives a new name and one file shared by two modules is still one module. Packages resolve from the transpiled file's
 * location, which is inside the project: the same node_modules as the source when nothing between the
 * source and the root has its own.
 *
 * Anything this cannot transpile faithfully returns undefined, and the caller loads the source through
 * tsx as before: files outside the project or under their own package, CommonJS, JSON, computed
 * imports, `import.meta` beyond url/filename/dirname, syntax errors (tsx reports those), or no esbuild.
 * A cache file is trusted only when its first and last lines carry its key: a truncated, corrupt or
 * foreign file is transpiled again and replaced.
 */
import { readFile, stat } from "node:fs/promises";
import { createRequire } from "node:module";
import { basename, dirname, extname, join, relative, resolve, sep } from "node:path";
import { pathToFileURL } from "node:url";
import { canonicalJson } from "../graph/canonical.js";
import { digestBytes } from "../graph/digest.js";
import { isLocal, ModuleGraph, resolveLocal } from "../graph/module-code.js";
import { writeFileAtomic } from "./atomic-write.js";

/** Bump when the output's shape changes: every cached file becomes a miss. */
const FORMAT = "tributary-transpiled-1";
export const TRANSPILED_SUBDIR = join(".tributary", "transpiled");
const LOADERS: Record<string, "ts" | "tsx" | "js" | "jsx"> = {
  ".ts": "ts",
  ".mts": "ts",
  ".tsx": "tsx",
  ".js": "js",
  ".mjs": "js",
  ".jsx": "jsx",
};
/**
 * import.meta other than what `define` replaces: esbuild would then turn import.meta into a plain object
 * (import.meta.resolve gone), and what is left would resolve from the cache's location.
 */
const OTHER_IMPORT_META = /import\s*\.\s*meta(?!\s*\.\s*(url|filename|dirname)\b)/;
/** Names a CommonJS module uses; ESM output would not have them. */
const COMMONJS = /\b(require|__dirname|__filename|module\.exports|exports\.)/;

/** The directory of a project's transpiled modules. */
export function transpiledDir(root: string): string {
  return join(resolve(root), TRANSPILED_SUBDIR);
}

interface Plan {
  source: string;
  out: string;
  key: string;
}

/**
 * The file: URL of `file` (absolute) transpiled with everything local it imports, writing what is
 * missing; undefined when it must be loaded through tsx instead (see above).
 */
export async function transpiledModule(root: string, file: string): Promise<string | undefined> {
  root = resolve(root);
  const esbuildVersion = installedEsbuildVersion();
  if (!esbuildVersion) return undefined;
  const graph = new ModuleGraph(root);
  const entry = await graph.identity(file);
  if (entry.unresolved.length > 0) return undefined;
  const tsconfig = await readOptional(join(root, "tsconfig.json"));
  const plans = new Map<string, Plan>();
  for (const rel of Object.keys(entry.files)) {
    const source = resolve(root, rel);
    if (!LOADERS[extname(source)] || !(await sameResolutionAsRoot(source, root))) return undefined;
    const { digest } = await graph.identity(source);
    const key = digestBytes(
      // The absolute path: the output embeds it (import.meta.url, the source map), so a moved project
      // transpiles again. Node's version: the output targets it.
      canonicalJson({ FORMAT, esbuildVersion, node: process.versions.node, tsconfig, source, digest }),
    ).slice(0, 32);
    const ext = extname(rel);
    const out = join(transpiledDir(root), dirname(rel), `${basename(rel, ext)}.${key}.mjs`);
    plans.set(source, { source, out, key });
  }
  const results = await Promise.all([...plans.values()].map((p) => ensure(p, plans, tsconfig)));
  if (results.includes(false)) return undefined;
  return pathToFileURL(plans.get(resolve(file))!.out).href;
}

/** true: `plan.out` holds the transpiled file (it did, or now does). */
async function ensure(plan: Plan, plans: Map<string, Plan>, tsconfig: string | undefined): Promise<boolean> {
  const existing = await readOptional(plan.out);
  if (existing !== undefined && isComplete(existing, plan.key)) return true;
  const code = await transpile(plan, plans, tsconfig);
  if (code === undefined) return false;
  await writeFileAtomic(plan.out, code, { createDirs: true });
  return true;
}

function header(key: string): string {
  return `// ${FORMAT} ${key}`;
}
function footer(key: string): string {
  return `// end ${key}`;
}

function isComplete(text: string, key: string): boolean {
  return text.startsWith(`${header(key)}\n`) && text.endsWith(`${footer(key)}\n`);
}

async function transpile(
  plan: Plan,
  plans: Map<string, Plan>,
  tsconfig: string | undefined,
): Promise<string | undefined> {
  const esbuild = await import("esbuild").catch(() => undefined);
  const { parse, init } = await import("es-module-lexer");
  await init();
  const text = await readFile(plan.source, "utf8");
  if (COMMONJS.test(text) || OTHER_IMPORT_META.test(text)) return undefined;
  const url = pathToFileURL(plan.source).href;
  let code: string;
  try {
    if (!esbuild) return undefined;
    code = (
      await esbuild.transform(text, {
        loader: LOADERS[extname(plan.source)],
        format: "esm",
        target: `node${process.versions.node}`,
        sourcefile: plan.source,
        sourcemap: "inline",
        tsconfigRaw: tsconfig,
        // The module keeps seeing its own location, not the cache's.
        define: {
          "import.meta.url": JSON.stringify(url),
          "import.meta.filename": JSON.stringify(plan.source),
          "import.meta.dirname": JSON.stringify(dirname(plan.source)),
        },
        banner: header(plan.key),
      })
    ).code;
  } catch {
    // A syntax error or an option esbuild refuses: tsx loads it and reports the error as before.
    return undefined;
  }
  let imports: ReturnType<typeof parse>[0];
  try {
    imports = parse(code)[0];
  } catch {
    return undefined;
  }
  let rewritten = "";
  let at = 0;
  for (const imp of imports) {
    // import.meta beyond what `define` replaced (import.meta.resolve would resolve from the cache).
    if (imp.type === "import-meta") return undefined;
    const spec = imp.specifier;
    // A computed import(): its target cannot be rewritten.
    if (spec === undefined || (imp.type === "dynamic" && imp.glob)) return undefined;
    if (!isLocal(spec)) continue;
    const target = await resolveLocal(spec, plan.source);
    const dep = target === undefined ? undefined : plans.get(target);
    if (!dep) return undefined;
    let rel = relative(dirname(plan.out), dep.out).split(sep).join("/");
    if (!rel.startsWith(".")) rel = `./${rel}`;
    // Static: start..end is the specifier without its quotes; dynamic: the whole string literal.
    rewritten += code.slice(at, imp.start) + (imp.type === "dynamic" ? JSON.stringify(rel) : rel);
    at = imp.end;
  }
  // The footer goes last, after the inline source map esbuild appends (its own `footer` option would put
  // it before, and the file would never count as complete: transpiled again on every run).
  const body = rewritten + code.slice(at);
  return `${body}${body.endsWith("\n") ? "" : "\n"}${footer(plan.key)}\n`;
}

/**
 * true when `file` is inside `root` with no package.json or node_modules between its directory and the
 * root: then packages and `#imports` resolve the same from `<root>/.tributary/transpiled/...`.
 */
async function sameResolutionAsRoot(file: string, root: string): Promise<boolean> {
  const rel = relative(root, file);
  if (rel.startsWith("..") || resolve(root, rel) !== file) return false;
  for (let dir = dirname(file); dir !== root; dir = dirname(dir)) {
    if ((await exists(join(dir, "package.json"))) || (await exists(join(dir, "node_modules")))) return false;
  }
  return true;
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}

async function readOptional(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, "utf8");
  } catch {
    return undefined;
  }
}

let esbuildVersion: string | null | undefined;

/**
 * The installed esbuild's version (read from its package.json: importing esbuild is left to a miss),
 * or undefined when it is not installed (an optional peer; tsx brings it).
 */
function installedEsbuildVersion(): string | undefined {
  if (esbuildVersion === undefined) {
    try {
      const require = createRequire(import.meta.url);
      esbuildVersion = (require("esbuild/package.json") as { version: string }).version;
    } catch {
      esbuildVersion = null;
    }
  }
  return esbuildVersion ?? undefined;
}
