import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { describe, expect, it } from "vitest";
import { cli, copyExample, jsonEvents, ranAndCached } from "../helpers/cli.js";
import { tempDir } from "../helpers/procs.js";

/**
 * A resolve hook, loaded with --import into the CLI process, that appends every URL resolved inside the
 * tsx package to a file, and every one inside esbuild's to another: the honest observables of "this run
 * loaded TypeScript through tsx" and "this run transpiled".
 */
function tsxMarker(): {
  dir: string;
  env: NodeJS.ProcessEnv;
  tsxLoads: () => string[];
  esbuildLoads: () => string[];
} {
  const dir = tempDir();
  const marker = join(dir, "tsx-loads.txt");
  const esbuildMarker = join(dir, "esbuild-loads.txt");
  writeFileSync(marker, "");
  writeFileSync(esbuildMarker, "");
  writeFileSync(
    join(dir, "hooks.mjs"),
    `import { appendFileSync } from "node:fs";
export async function resolve(specifier, context, next) {
  const r = await next(specifier, context);
  if (r.url.includes("/node_modules/tsx/")) appendFileSync(${JSON.stringify(marker)}, r.url + "\\n");
  if (r.url.includes("/node_modules/esbuild/")) appendFileSync(${JSON.stringify(esbuildMarker)}, r.url + "\\n");
  return r;
}
`,
  );
  writeFileSync(
    join(dir, "register.mjs"),
    `import { register } from "node:module";\nregister(${JSON.stringify(pathToFileURL(join(dir, "hooks.mjs")).href)});\n`,
  );
  return {
    dir,
    env: { NODE_OPTIONS: `--import ${pathToFileURL(join(dir, "register.mjs")).href}` },
    tsxLoads: () => readFileSync(marker, "utf8").split("\n").filter(Boolean),
    esbuildLoads: () => readFileSync(esbuildMarker, "utf8").split("\n").filter(Boolean),
  };
}

function transpiled(dir: string): string[] {
  const base = join(dir, ".tributary", "transpiled");
  return existsSync(base)
    ? (readdirSync(base, { recursive: true }) as string[]).filter((f) => f.endsWith(".mjs"))
    : [];
}

/** A project whose module imports a local file that imports another (`.js` for a `.ts`, no extension). */
function graphProject(): string {
  const dir = copyExample("profile");
  writeFileSync(
    join(dir, "a.ts"),
    [
      'import { z } from "zod";',
      'import { module } from "tributary-flow";',
      'import { scale } from "./b.js";',
      "export function Scaled(x: number): number {",
      "  return scale(x);",
      "}",
      "export const ScaledInThread = module({",
      "  input: [z.number()],",
      "  output: z.number(),",
      "  cpu: true,",
      "  run: (x) => scale(x),",
      "});",
      "",
    ].join("\n"),
  );
  writeFileSync(
    join(dir, "b.ts"),
    'import { factor } from "./lib/c";\nexport const scale = (x: number): number => x * factor;\n',
  );
  mkdirSync(join(dir, "lib"));
  writeFileSync(join(dir, "lib", "c.ts"), "export const factor: number = 3;\n");
  writeFileSync(join(dir, "pipeline.flow"), 'use "./a.ts"\ny = Scaled(7)\nz = ScaledInThread(1)\nout y, z\n');
  return dir;
}

async function run(dir: string, env: NodeJS.ProcessEnv = {}): Promise<string> {
  const r = await cli(["run", "--no-cache", "pipeline.flow"], { cwd: dir, env });
  expect(r.code, r.stderr).toBe(0);
  return r.stdout.trim();
}

describe("TypeScript modules are transpiled once per content into .tributary/transpiled", () => {
  it("loads a module through the cache, not tsx; tsx still loads what the cache refuses", async () => {
    const dir = copyExample("profile");
    const hook = tsxMarker();
    const first = await cli(["run", "--no-cache", "profile.flow"], { cwd: dir, env: hook.env });
    expect(first.code, first.stderr).toBe(0);
    // The first run pays the transform; the second reads its file and does not load esbuild at all.
    expect(hook.esbuildLoads().length).toBeGreaterThan(0);
    writeFileSync(join(hook.dir, "esbuild-loads.txt"), "");
    const second = await cli(["run", "--no-cache", "profile.flow"], { cwd: dir, env: hook.env });
    expect(second.code, second.stderr).toBe(0);
    expect(second.stdout).toBe(first.stdout);
    expect(second.stdout).toContain('"name": "User 42"');
    expect(transpiled(dir)).toEqual([expect.stringMatching(/^modules\.[0-9a-f]{32}\.mjs$/)]);
    expect(hook.tsxLoads()).toEqual([]);
    expect(hook.esbuildLoads()).toEqual([]);

    // The control: a JSON import is not transpiled (the graph holds a file esbuild does not turn into a
    // module), so this module goes through tsx, and the hook sees it.
    writeFileSync(join(dir, "data.json"), '{ "n": 5 }\n');
    writeFileSync(
      join(dir, "json.ts"),
      'import data from "./data.json" with { type: "json" };\nexport function N(): number {\n  return data.n;\n}\n',
    );
    writeFileSync(join(dir, "pipeline.flow"), 'use "./json.ts"\nn = N()\nout n\n');
    expect(await run(dir, hook.env)).toBe("5");
    expect(hook.tsxLoads().length).toBeGreaterThan(0);
  });

  it("follows the local import graph, in worker threads too, and an edited file is transpiled anew", async () => {
    const dir = graphProject();
    expect(await run(dir)).toBe("y: 21\nz: 3");
    const before = transpiled(dir).sort();
    expect(before).toHaveLength(3);
    expect(await run(dir)).toBe("y: 21\nz: 3");
    expect(transpiled(dir).sort()).toEqual(before);

    writeFileSync(join(dir, "lib", "c.ts"), "export const factor: number = 5;\n");
    expect(await run(dir)).toBe("y: 35\nz: 5");
    // c changed, and so did the graph of every file reaching it: three new files.
    expect(transpiled(dir).filter((f) => !before.includes(f))).toHaveLength(3);
  });

  it("a truncated, corrupt or other-version cache file is a miss: rebuilt, the result right", async () => {
    const dir = graphProject();
    expect(await run(dir)).toBe("y: 21\nz: 3");
    const base = join(dir, ".tributary", "transpiled");
    const files = transpiled(dir).map((f) => join(base, f));
    const [a, b, c] = ["a.", "b.", "c."].map((n) => files.find((f) => f.split("/").pop()!.startsWith(n))!);
    const original = new Map(files.map((f) => [f, readFileSync(f, "utf8")]));
    writeFileSync(a!, original.get(a!)!.slice(0, 40));
    writeFileSync(b!, "export const scale = () => 666;\n");
    writeFileSync(c!, original.get(c!)!.replace("tributary-transpiled-1", "tributary-transpiled-0"));
    expect(await run(dir)).toBe("y: 21\nz: 3");
    for (const f of files) expect(readFileSync(f, "utf8")).toBe(original.get(f));
  });

  it("an unchanged run of a module flow is answered from its record; an edit anywhere in the code is not", async () => {
    const dir = graphProject();
    const jsonRun = async () => {
      const r = await cli(["run", "--json", "pipeline.flow"], { cwd: dir });
      expect(r.code, r.stderr).toBe(0);
      const events = jsonEvents(r.stdout);
      return {
        // The record's answer starts no engine: no run-start, no step loads its module.
        fast: !events.some((e) => e.type === "run-start"),
        ran: ranAndCached(events).ran,
        outputs: events.find((e) => e.type === "run-end")!.outputs,
      };
    };
    expect(await jsonRun()).toMatchObject({ fast: false, ran: ["y", "z"], outputs: { y: 21, z: 3 } });
    expect(await jsonRun()).toEqual({ fast: true, ran: [], outputs: { y: 21, z: 3 } });
    // lib/c.ts is two imports away from the module the flow uses.
    writeFileSync(join(dir, "lib", "c.ts"), "export const factor: number = 5;\n");
    expect(await jsonRun()).toMatchObject({ fast: false, ran: ["y", "z"], outputs: { y: 35, z: 5 } });
    expect(await jsonRun()).toMatchObject({ fast: true, outputs: { y: 35, z: 5 } });

    // A declared version stands for the code in the cache key: a code edit alone reruns nothing, and
    // the record agrees with the cache.
    writeFileSync(join(dir, "pipeline.flow"), 'use "./a.ts"\ny = Scaled(7) with version: "1"\nout y\n');
    expect(await jsonRun()).toMatchObject({ fast: false, ran: ["y"], outputs: { y: 35 } });
    writeFileSync(join(dir, "lib", "c.ts"), "export const factor: number = 2;\n");
    expect(await jsonRun()).toMatchObject({ fast: true, outputs: { y: 35 } });
  });

  it("check still reports a call that does not fit the module's types, with the cache in place", async () => {
    const dir = copyExample("profile");
    expect((await cli(["run", "--no-cache", "profile.flow"], { cwd: dir })).code).toBe(0);
    expect(transpiled(dir)).toHaveLength(1);
    writeFileSync(join(dir, "bad.flow"), 'use "./modules.ts"\nuser = GetUser(42)\nout user\n');
    const r = await cli(["check", "bad.flow"], { cwd: dir });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/bad\.flow:2:\d+: error: .*/);
  });
});
