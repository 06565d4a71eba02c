/**
 * The npm package as a consumer gets it: `npm pack` (its prepack builds dist from a clean slate), then a
 * fresh project installs the tarball, type checks a strict consumer against the shipped .d.ts files and
 * runs it with node. The pack happens in a copy of the repository, so the dist/ that other test files
 * are running from is never rebuilt under them. The npm cache holds every dependency: no network.
 */
import { spawn } from "node:child_process";
import {
  cpSync,
  lstatSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { basename, join } from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import { REPO } from "../helpers/cli.js";
import { tempDir } from "../helpers/procs.js";

const REMOTE_NEEDS =
  "remote execution (--remote, tributary worker) needs bullmq and ioredis: npm install bullmq ioredis";
const TSX_NEEDS = "loading a TypeScript module needs tsx: npm install tsx";
const SERVE_NEEDS =
  "serving flows over HTTP (tributary serve) needs fastify and prom-client: npm install fastify prom-client";
/** Packages the install must not bring: optional peers, and what only the repository's own tests use. */
const NEVER_INSTALLED = [
  "bullmq",
  "ioredis",
  "tsx",
  "fastify",
  "prom-client",
  "esbuild",
  "zod",
  "log-update",
  "@standard-schema/spec",
  // The report's layout library is copied into dist by the build.
  "@dagrejs/dagre",
];

interface Ran {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** npm with this run's own settings only: what `npm test` exported (prefixes, package fields) is dropped. */
function npmEnv(): NodeJS.ProcessEnv {
  const keep = new Set([
    "npm_config_cache",
    "npm_config_userconfig",
    "npm_config_globalconfig",
    "npm_config_registry",
  ]);
  const env: NodeJS.ProcessEnv = { NO_COLOR: "1", CI: "1", npm_config_update_notifier: "false" };
  for (const [k, v] of Object.entries(process.env)) {
    if (!k.toLowerCase().startsWith("npm_") || keep.has(k.toLowerCase())) env[k] = v;
  }
  return env;
}

function run(command: string, args: string[], cwd: string): Promise<Ran> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd, env: npmEnv(), stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (b: Buffer) => (stdout += b));
    child.stderr.on("data", (b: Buffer) => (stderr += b));
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, stdout, stderr }));
  });
}

async function succeed(command: string, args: string[], cwd: string): Promise<string> {
  const r = await run(command, args, cwd);
  if (r.code !== 0)
    throw new Error(`${command} ${args.join(" ")} exited ${r.code}:\n${r.stdout}\n${r.stderr}`);
  return r.stdout;
}

function bytesUnder(dir: string): number {
  let total = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, entry.name);
    if (entry.isDirectory()) total += bytesUnder(p);
    else total += lstatSync(p).size;
  }
  return total;
}

const made: string[] = [];
let tarball: { filename: string; size: number; entryCount: number; files: { path: string }[] };
let consumer: string;
let installed: string[];
let installedBytes: number;

beforeAll(async () => {
  const stage = tempDir("tributary-pack-");
  const out = tempDir("tributary-tarball-");
  consumer = tempDir("tributary-consumer-");
  made.push(stage, out, consumer);
  // Everything but what a clean checkout lacks; node_modules is shared (prepack needs tsc).
  cpSync(REPO, stage, {
    recursive: true,
    filter: (src) => !["node_modules", ".git", "dist", "coverage", ".tributary"].includes(basename(src)),
  });
  symlinkSync(join(REPO, "node_modules"), join(stage, "node_modules"));
  const packed = await succeed("npm", ["pack", "--json", "--pack-destination", out], stage);
  // Lifecycle scripts print on stdout before the JSON report.
  tarball = JSON.parse(packed.slice(packed.search(/^\[/m)))[0];

  writeFileSync(
    join(consumer, "package.json"),
    JSON.stringify({ name: "consumer", version: "1.0.0", private: true, type: "module" }),
  );
  await succeed(
    "npm",
    ["install", join(out, tarball.filename), "--prefer-offline", "--no-audit", "--no-fund"],
    consumer,
  );
  const lock = JSON.parse(readFileSync(join(consumer, "node_modules/.package-lock.json"), "utf8")) as {
    packages: Record<string, unknown>;
  };
  installed = Object.keys(lock.packages).map((k) => k.replace(/^.*node_modules\//, ""));
  installedBytes = bytesUnder(join(consumer, "node_modules"));
  console.log(
    `tarball ${tarball.filename}: ${tarball.size} bytes, ${tarball.entryCount} files; installs ` +
      `${installed.length} packages (${installed.join(", ")}), ${installedBytes} bytes`,
  );
}, 180_000);

afterAll(() => {
  for (const d of made) rmSync(d, { recursive: true, force: true });
});

it("ships only dist, bin, README, LICENSE and package.json, with no source maps", () => {
  const paths = tarball.files.map((f) => f.path);
  expect(paths.filter((p) => !/^(dist\/|bin\/|README\.md$|LICENSE$|package\.json$)/.test(p))).toEqual([]);
  expect(paths.filter((p) => p.endsWith(".map"))).toEqual([]);
  expect(paths).toContain("dist/index.d.ts");
  expect(paths).toContain("bin/tributary.js");
});

it("installs a small tree: no optional peer (BullMQ, ioredis, tsx, Fastify, prom-client) unless asked", () => {
  expect(installed.filter((name) => NEVER_INSTALLED.includes(name))).toEqual([]);
  expect(installed).toContain("tributary-flow");
  // 10 today (5 dependencies, theirs, and this package; the HTML report's dagre ships inside dist);
  // it was 49 packages and 41 MB.
  expect(installed.length).toBeLessThanOrEqual(12);
  expect(installedBytes).toBeLessThan(5 * 1024 * 1024);
});

it("declares every package its .d.ts files import", () => {
  const root = join(consumer, "node_modules/tributary-flow");
  const pkg = JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as Record<
    string,
    Record<string, string> | undefined
  >;
  const declared = new Set([
    ...Object.keys(pkg.dependencies ?? {}),
    ...Object.keys(pkg.peerDependencies ?? {}),
  ]);
  const undeclared: string[] = [];
  const visit = (dir: string) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const p = join(dir, entry.name);
      if (entry.isDirectory()) visit(p);
      else if (entry.name.endsWith(".d.ts")) {
        for (const m of readFileSync(p, "utf8").matchAll(/(?:from\s+|import\()"([^".][^"]*)"/g)) {
          const spec = m[1]!;
          // Node's own modules, and the package's own entry points (named in doc comments).
          if (spec.startsWith("node:") || spec.startsWith(`${pkg.name as unknown as string}/`)) continue;
          const name = spec.startsWith("@") ? spec.split("/").slice(0, 2).join("/") : spec.split("/")[0]!;
          if (!declared.has(name)) undeclared.push(`${p.slice(root.length + 1)}: ${spec}`);
        }
      }
    }
  };
  visit(join(root, "dist"));
  expect(undeclared).toEqual([]);
});

it("a strict consumer type checks (skipLibCheck: false), every deliberate error is caught, and it runs", async () => {
  // The consumer's own packages, as its package.json would list them.
  mkdirSync(join(consumer, "node_modules/@types"), { recursive: true });
  symlinkSync(join(REPO, "node_modules/zod"), join(consumer, "node_modules/zod"));
  symlinkSync(join(REPO, "node_modules/@types/node"), join(consumer, "node_modules/@types/node"));
  writeFileSync(
    join(consumer, "tsconfig.json"),
    JSON.stringify({
      compilerOptions: {
        strict: true,
        skipLibCheck: false,
        module: "NodeNext",
        moduleResolution: "NodeNext",
        target: "ES2022",
        lib: ["ES2023"],
        types: ["node"],
        rootDir: "src",
        outDir: "out",
        noEmitOnError: true,
      },
      include: ["src"],
    }),
  );
  mkdirSync(join(consumer, "src"));
  writeFileSync(join(consumer, "src/modules.ts"), MODULES);
  writeFileSync(join(consumer, "src/main.ts"), MAIN);
  writeFileSync(join(consumer, "src/type-errors.ts"), TYPE_ERRORS);
  // An unused @ts-expect-error is itself an error: tsc passes only if each deliberate error is caught.
  const tsc = await run(
    process.execPath,
    [join(REPO, "node_modules/typescript/bin/tsc"), "-p", "."],
    consumer,
  );
  expect(tsc.stdout + tsc.stderr).toBe("");
  expect(tsc.code).toBe(0);
  const main = await run(process.execPath, ["out/main.js"], consumer);
  expect(main.stderr).toBe("");
  expect(main.stdout).toBe("builder: 42\nhello flow!\nflow: 42\n");
});

it("the tributary command runs; a missing optional peer is one actionable line, not a stack trace", async () => {
  const bin = join(consumer, "node_modules/.bin/tributary");
  writeFileSync(join(consumer, "p.flow"), 'x = sh("echo hi")\nout x\n');
  writeFileSync(
    join(consumer, "m.ts"),
    "export function Hello(s: string): string { return `hello ${s}`; }\n",
  );
  writeFileSync(join(consumer, "t.flow"), 'use "./m.ts"\nx = Hello("a")\nout x\n');
  const tributary = (...args: string[]) => run(process.execPath, [bin, ...args], consumer);

  const ok = await tributary("run", "p.flow");
  expect(ok.code).toBe(0);
  expect(ok.stdout).toMatch(/^hi$/m);
  // The report's page code and dagre come with the package.
  const report = await tributary("report");
  expect(report.stderr).toBe("");
  expect(report.stdout.trim()).toBe(join(consumer, ".tributary", "report.html"));
  const html = readFileSync(report.stdout.trim(), "utf8");
  expect(html).toContain('id="report-data"');
  expect(html).toContain("var dagre=");

  const remote = await tributary("run", "p.flow", "--no-cache", "--remote", "redis://127.0.0.1:9");
  expect({ code: remote.code, stderr: remote.stderr }).toEqual({ code: 2, stderr: `${REMOTE_NEEDS}\n` });
  const worker = await tributary("worker", "--redis", "redis://127.0.0.1:9");
  expect({ code: worker.code, stderr: worker.stderr }).toEqual({ code: 2, stderr: `${REMOTE_NEEDS}\n` });

  const serve = await tributary("serve", "p.flow", "--port", "0");
  expect({ code: serve.code, stderr: serve.stderr }).toEqual({ code: 2, stderr: `${SERVE_NEEDS}\n` });

  const ts = await tributary("check", "t.flow");
  expect(ts.code).toBe(2);
  expect(ts.stderr).toContain(`t.flow:1:5: error: cannot load ./m.ts: ${TSX_NEEDS}`);
  expect(ts.stderr).not.toMatch(/^\s+at /m);

  // The library entry says the same to a program that imports it.
  const lib = await run(
    process.execPath,
    ["--input-type=module", "-e", 'import("tributary-flow/remote").catch((e) => console.log(e.message))'],
    consumer,
  );
  expect(lib.stdout).toBe(`${REMOTE_NEEDS}\n`);
});

const MODULES = `import { module } from "tributary-flow/module";
import { z } from "zod";

export const Double = module({
  input: [z.number()],
  output: z.number(),
  run: async (n) => n * 2,
});

export const Greet = module({
  input: [z.string(), z.object({ excited: z.boolean() })],
  run: (name, options) => \`hello \${name}\${options.excited ? "!" : ""}\`,
});
`;

const MAIN = `import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { compileFlow, flow, formatDiagnostics, runGraph, type Handle } from "tributary-flow";
import { Double, Greet } from "./modules.js";

const t = flow();
const base: Handle<number> = t.step("base", (x: number) => x + 1, 20);
const doubled: Handle<number> = t.step("doubled", Double.run, base);
const built = await t.run(doubled);
const value: number | undefined = built.value;
console.log(\`builder: \${value}\`);

const greeting: string = await Greet.run("flow", { excited: true });
console.log(greeting);

const here = dirname(fileURLToPath(import.meta.url));
const source = 'use "./modules.js"\\nn = Double(21)\\nout n\\n';
const compiled = await compileFlow(source, join(here, "pipeline.flow"));
if (!compiled.graph) throw new Error(formatDiagnostics(compiled.diagnostics, source));
const result = await runGraph(compiled.graph, { root: here });
console.log(\`flow: \${JSON.stringify(result.outputs.n)}\`);
`;

const TYPE_ERRORS = `import { compileFlow, flow, module, runGraph, type Handle } from "tributary-flow";
import { z } from "zod";
import { Double, Greet } from "./modules.js";

const t = flow();
const base = t.step("base", (x: number) => x + 1, 20);
const text = t.step("text", () => "twenty");

// @ts-expect-error a module step takes a number, not a string
t.step("bad-literal", Double.run, "twenty");
// @ts-expect-error a Handle<string> where the module takes a number
t.step("bad-handle", Double.run, text);
// @ts-expect-error run must return what the output schema accepts (a number)
export const BadOutput = module({ input: [z.string()], output: z.number(), run: async (s) => s });
// @ts-expect-error the implementation's parameter contradicts its input schema
export const BadParameter = module({ input: [z.number()], run: (s: string) => s.length });
// @ts-expect-error an unknown module option
export const BadOption = module({ input: [z.number()], run: (n) => n, retries: 3 });
// @ts-expect-error a module's result is its output schema's type, a number
export const wrongResult: Promise<string> = Double.run(2);
// @ts-expect-error Greet's options take a boolean
void Greet.run("x", { excited: "yes" });
// @ts-expect-error an unknown run option (a typo)
void runGraph({ steps: [] }, { concurency: 2 });
// @ts-expect-error compileFlow takes the flow's source text
void compileFlow(42, "x.flow");
// @ts-expect-error a Handle<number> is not a Handle<string>
export const wrongHandle: Handle<string> = base;

// The same calls written correctly compile.
t.step("good", Double.run, base);
export const Length = module({ input: [z.string()], output: z.number(), run: async (s) => s.length });
export const rightResult: Promise<number> = Double.run(2);
`;
