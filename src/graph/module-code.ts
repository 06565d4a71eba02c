import { readFile, stat } from "node:fs/promises";
import { dirname, extname, isAbsolute, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { displayPath } from "./eval.js";
import { canonicalJson } from "./canonical.js";
import { digestBytes } from "./digest.js";

/** The code a TS/JS function step runs: its module file and every local file it imports, transitively. */
export interface CodeIdentity {
  /** The module file (project-relative when inside the root). */
  module: string;
  /** SHA-256 over `files` and `unresolved`. */
  digest: string;
  /** Every local file in the import graph → content digest. */
  files: Record<string, string>;
  /** Local specifiers that did not resolve to a file (part of the digest, so that a later fix counts). */
  unresolved: string[];
}

const SCANNED = new Set([".ts", ".tsx", ".mts", ".cts", ".js", ".jsx", ".mjs", ".cjs"]);
/** TS resolution of ESM specifiers: `./x.js` is written for a file `./x.ts`. */
const JS_TO_TS: Record<string, string[]> = {
  ".js": [".ts", ".tsx"],
  ".jsx": [".tsx"],
  ".mjs": [".mts"],
  ".cjs": [".cts"],
};
const BARE_TRY = [".ts", ".tsx", ".mts", ".js", ".mjs", ".jsx", ".cjs", ".json"];

/**
 * Walks the local import graph of module files with es-module-lexer. Packages (bare specifiers) and
 * `node:` built-ins are not followed (declare `version` when a step depends on a package's behaviour);
 * type-only imports are skipped, since they do not exist at run time. Results are memoized for the
 * lifetime of the object (one run).
 */
export class ModuleGraph {
  private readonly identities = new Map<string, Promise<CodeIdentity>>();
  private readonly done = new Map<string, CodeIdentity>();
  private readonly files = new Map<string, Promise<ScannedFile>>();
  /** es-module-lexer, loaded on first use (it compiles WebAssembly; a run without modules skips it). */
  private lexer: Promise<typeof import("es-module-lexer")> | undefined;

  constructor(private readonly root: string) {}

  identity(file: string): Promise<CodeIdentity> {
    const abs = this.absolute(file);
    let p = this.identities.get(abs);
    if (!p) {
      p = this.compute(abs).then((id) => {
        this.done.set(file, id);
        return id;
      });
      this.identities.set(abs, p);
    }
    return p;
  }

  /** The identity if it has been computed already (no I/O). */
  identitySync(file: string): CodeIdentity | undefined {
    return this.done.get(file);
  }

  private absolute(file: string): string {
    return file.startsWith("file:") ? fileURLToPath(file) : resolve(this.root, file);
  }

  private async compute(entry: string): Promise<CodeIdentity> {
    this.lexer ??= import("es-module-lexer").then(async (m) => {
      await m.init();
      return m;
    });
    const { parse } = await this.lexer;
    const files: Record<string, string> = {};
    const unresolved = new Set<string>();
    const seen = new Set<string>([entry]);
    let frontier = [entry];
    while (frontier.length > 0) {
      const scanned = await Promise.all(frontier.map((f) => this.scan(f, parse)));
      frontier = [];
      for (const s of scanned) {
        files[displayPath(s.path, this.root)] = s.digest;
        for (const u of s.unresolved) unresolved.add(`${displayPath(s.path, this.root)}: ${u}`);
        for (const dep of s.imports) {
          if (!seen.has(dep)) {
            seen.add(dep);
            frontier.push(dep);
          }
        }
      }
    }
    const sortedUnresolved = [...unresolved].sort();
    return {
      module: displayPath(entry, this.root),
      digest: digestBytes(canonicalJson({ files, unresolved: sortedUnresolved })),
      files,
      unresolved: sortedUnresolved,
    };
  }

  private scan(path: string, parse: Parse): Promise<ScannedFile> {
    let p = this.files.get(path);
    if (!p) {
      p = this.scanNow(path, parse);
      this.files.set(path, p);
    }
    return p;
  }

  private async scanNow(path: string, parse: Parse): Promise<ScannedFile> {
    const bytes = await readFile(path);
    const result: ScannedFile = { path, digest: digestBytes(bytes), imports: [], unresolved: [] };
    if (!SCANNED.has(extname(path))) return result;
    let imports: ReturnType<typeof parse>[0];
    try {
      imports = parse(bytes.toString("utf8"), path)[0];
    } catch (err) {
      // Not parseable as a module (a syntax error): its content digest still identifies it.
      result.unresolved.push(`(cannot scan imports: ${(err as Error).message.split("\n")[0]})`);
      return result;
    }
    for (const imp of imports) {
      if (imp.type === "import-meta") continue;
      if (imp.type !== "dynamic" && imp.typeOnly) continue;
      const spec = imp.specifier;
      if (spec === undefined || (imp.type === "dynamic" && imp.glob)) {
        // A computed import(): its target is unknown; only its presence is recorded.
        result.unresolved.push(`import(${spec ?? "<expression>"})`);
        continue;
      }
      if (!isLocal(spec)) continue;
      const target = await resolveLocal(spec, path);
      if (target) result.imports.push(target);
      else result.unresolved.push(spec);
    }
    return result;
  }
}

type Parse = (typeof import("es-module-lexer"))["parse"];

interface ScannedFile {
  path: string;
  digest: string;
  imports: string[];
  unresolved: string[];
}

/** A specifier naming a file (relative, absolute or file:), not a package or a built-in. */
export function isLocal(spec: string): boolean {
  return (
    spec.startsWith("./") ||
    spec.startsWith("../") ||
    spec.startsWith("/") ||
    spec.startsWith("file:") ||
    spec === "." ||
    spec === ".."
  );
}

/** The file a local specifier imported from `from` names, with TS's `.js` → `.ts` rule; undefined: none. */
export async function resolveLocal(spec: string, from: string): Promise<string | undefined> {
  let base: string;
  try {
    base = spec.startsWith("file:")
      ? fileURLToPath(spec)
      : isAbsolute(spec)
        ? spec
        : resolve(dirname(from), spec);
  } catch {
    return undefined;
  }
  base = base.replace(/[?#].*$/, "");
  const ext = extname(base);
  const candidates = [base];
  for (const alt of JS_TO_TS[ext] ?? []) candidates.push(base.slice(0, -ext.length) + alt);
  if (!SCANNED.has(ext) && ext !== ".json") {
    for (const e of BARE_TRY) candidates.push(base + e);
    for (const e of BARE_TRY) candidates.push(resolve(base, `index${e}`));
  }
  for (const c of candidates) {
    if (await isFile(c)) return c;
  }
  return undefined;
}

async function isFile(p: string): Promise<boolean> {
  try {
    return (await stat(p)).isFile();
  } catch {
    return false;
  }
}
