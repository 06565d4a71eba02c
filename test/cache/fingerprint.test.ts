import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { canonicalJson, NotCanonical, Tagged } from "../../src/graph/canonical.js";
import { fingerprint, FINGERPRINT_FORMAT, type FingerprintEnv } from "../../src/cache/fingerprint.js";
import { digestBytes, StatCache } from "../../src/cache/index.js";
import { ModuleGraph } from "../../src/graph/module-code.js";
import type { CacheRequest } from "../../src/engine/cache-port.js";
import type { Step } from "../../src/graph/ir.js";
import { file, lit, out, ref, sh, tempDir } from "./helpers.js";

let dir: string;
let cleanup: () => Promise<void>;
beforeEach(async () => {
  ({ dir, cleanup } = await tempDir());
});
afterEach(async () => {
  await cleanup();
});

function envFor(root: string, values: Record<string, unknown> = {}): FingerprintEnv & { stat: StatCache } {
  const stat = StatCache.load(join(root, ".state", "stat-cache"), () => {});
  return {
    stat,
    root,
    rootPrefix: root + "/",
    env: { GREETING: "hi" },
    digest: (p) => stat.digest(p),
    digestSync: (p) => stat.digestSync(p),
    modules: new ModuleGraph(root),
    statics: new WeakMap(),
    valueOf: (id) => (id in values ? { value: values[id] } : undefined),
  };
}

describe("canonical JSON", () => {
  it("sorts keys and tells apart what JSON would confuse", () => {
    expect(canonicalJson({ b: 1, a: [true, null, "x"] })).toBe(`{"a":[true,null,"x"],"b":1}`);
    const texts = [
      canonicalJson(undefined),
      canonicalJson(null),
      canonicalJson([undefined]),
      canonicalJson([null]),
      canonicalJson({ a: undefined }),
      canonicalJson({}),
      canonicalJson(0),
      canonicalJson(-0),
      canonicalJson({ $u: 1 }),
      canonicalJson({ $concat: "x" }),
      canonicalJson(new Tagged("concat", "x")),
      canonicalJson("1"),
      canonicalJson(1),
      canonicalJson(1n),
      canonicalJson(new Date(0)),
    ];
    expect(new Set(texts).size).toBe(texts.length);
    for (const t of texts) expect(() => JSON.parse(t)).not.toThrow();
  });

  it("refuses what cannot be fingerprinted, saying where", () => {
    expect(() => canonicalJson({ a: [1, NaN] })).toThrow(NotCanonical);
    expect(() => canonicalJson({ a: [1, NaN] })).toThrow(/value\.a\[1\] is NaN/);
    expect(() => canonicalJson({ m: new Map() })).toThrow(/value\.m is an instance of Map/);
    expect(() => canonicalJson(() => 1)).toThrow(/function/);
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    expect(() => canonicalJson(cyclic)).toThrow(/nested too deeply/);
  });
});

describe("fingerprints", () => {
  it("hash exactly the documented components (interpolations keep their file digests)", async () => {
    await mkdir(join(dir, "src"));
    await writeFile(join(dir, "src/a b.txt"), "A\n");
    const step: Step = {
      ...sh("s", ["cat ", file("src/a b.txt"), " ", ref("up"), " > ", out("out/s.txt")]),
      options: { env: ["GREETING"], priority: 3, partial: true },
    };
    const up = { $file: "out/up.txt", digest: digestBytes("up") };
    const argLine = `cat 'src/a b.txt' out/up.txt > out/s.txt`;
    const request: CacheRequest = { step, args: [argLine], outputs: ["out/s.txt"], root: dir };
    const env = envFor(dir, { up });
    const fp = await fingerprint(request, env);
    const raw = (text: string) => new Tagged("raw", text);
    const expected = {
      command: { argv: [argLine], cwd: null, env: null, shell: true },
      env: { GREETING: "hi" },
      executor: "process",
      format: FINGERPRINT_FORMAT,
      inputs: [
        new Tagged("concat", {
          parts: [
            raw("cat "),
            { $file: "src/a b.txt", digest: digestBytes("A\n") },
            raw(" "),
            up,
            raw(" > "),
            "out/s.txt",
          ],
          quote: "shell",
        }),
      ],
      options: { partial: true },
      outputs: ["out/s.txt"],
      platform: `${process.platform}-${process.arch}`,
    };
    expect(fp).toEqual({ key: digestBytes(canonicalJson(expected)), text: canonicalJson(expected) });
    // The same key from the synchronous path (file now in the stat cache) and from another root.
    expect(await fingerprint(request, env)).toEqual(fp);
    const other = join(dir, "elsewhere");
    await mkdir(join(other, "src"), { recursive: true });
    await writeFile(join(other, "src/a b.txt"), "A\n");
    expect((await fingerprint({ ...request, root: other }, envFor(other, { up }))).key).toBe(fp.key);
    // Content, not timestamps: a new file with the same content keeps the key; other content does not.
    await writeFile(join(dir, "src/a b.txt"), "A\n");
    expect((await fingerprint(request, envFor(dir, { up }))).key).toBe(fp.key);
    await writeFile(join(dir, "src/a b.txt"), "B\n");
    expect((await fingerprint(request, envFor(dir, { up }))).key).not.toBe(fp.key);
    env.stat.close();
  });

  it("says why a step cannot be cached", async () => {
    const env = envFor(dir);
    const fnStep: Step = {
      id: "f",
      module: "f",
      action: { kind: "function", fn: () => 1 },
      inputs: [],
      options: {},
    };
    expect(await fingerprint({ step: fnStep, args: [], outputs: [], root: dir }, env)).toMatchObject({
      key: undefined,
      reason: expect.stringMatching(/without a module file or a declared version/),
    });
    const withMap: Step = { ...fnStep, options: { version: "1" }, inputs: [lit(new Map())] };
    expect(
      await fingerprint({ step: withMap, args: [new Map()], outputs: [], root: dir }, env),
    ).toMatchObject({
      key: undefined,
      reason: expect.stringMatching(/is an instance of Map/),
    });
    const unseen = sh("u", ["cat ", ref("never"), " > ", out("o")]);
    expect(
      await fingerprint({ step: unseen, args: ["cat x > o"], outputs: ["o"], root: dir }, env),
    ).toMatchObject({
      key: undefined,
      reason: expect.stringMatching(/interpolates the value of never/),
    });
    const missingModule: Step = {
      ...fnStep,
      action: { kind: "function", ref: { file: join(dir, "nope.ts"), exportName: "x" } },
    };
    expect(await fingerprint({ step: missingModule, args: [], outputs: [], root: dir }, env)).toMatchObject({
      key: undefined,
      reason: expect.stringMatching(/cannot be read/),
    });
    env.stat.close();
  });
});

describe("module graph", () => {
  it("follows local runtime imports, TS style, and nothing else", async () => {
    const lib = join(dir, "lib");
    await mkdir(join(lib, "util"), { recursive: true });
    await writeFile(
      join(lib, "main.ts"),
      [
        `import { a } from "./a.js";`,
        `import type { T } from "./types.js";`,
        `import { b } from "./util";`,
        `export * from "../lib/c.ts";`,
        `import data from "./data.json" with { type: "json" };`,
        `import { readFile } from "node:fs";`,
        `import z from "zod";`,
        `const lazy = () => import("./lazy.js");`,
        `const dyn = (n: string) => import("./plugins/" + n);`,
        `import { gone } from "./missing.js";`,
        `export const main = (x: T) => [a, b, data, readFile, z, lazy, dyn, gone, x];`,
      ].join("\n"),
    );
    await writeFile(join(lib, "a.ts"), `import { deep } from "./deep.mjs";\nexport const a = deep;\n`);
    await writeFile(join(lib, "deep.mjs"), `export const deep = 1;\n`);
    await writeFile(join(lib, "types.ts"), `export type T = number;\n`);
    await writeFile(join(lib, "util/index.ts"), `export const b = 2;\n`);
    await writeFile(join(lib, "c.ts"), `export const c = 3;\n`);
    await writeFile(join(lib, "data.json"), `{"k": 1}\n`);
    await writeFile(join(lib, "lazy.ts"), `export const l = 4;\n`);
    const g = new ModuleGraph(dir);
    const id = await g.identity(join(lib, "main.ts"));
    expect(Object.keys(id.files).sort()).toEqual(
      [
        "lib/a.ts",
        "lib/c.ts",
        "lib/data.json",
        "lib/deep.mjs",
        "lib/lazy.ts",
        "lib/main.ts",
        "lib/util/index.ts",
      ].sort(),
    );
    expect(id.module).toBe("lib/main.ts");
    expect(id.unresolved).toEqual([`lib/main.ts: ./missing.js`, `lib/main.ts: import(<expression>)`].sort());
    expect(g.identitySync(join(lib, "main.ts"))).toBe(id);
    // Editing a file in the graph changes the digest; a type-only import does not count.
    await writeFile(join(lib, "types.ts"), `export type T = string;\n`);
    expect((await new ModuleGraph(dir).identity(join(lib, "main.ts"))).digest).toBe(id.digest);
    await writeFile(join(lib, "deep.mjs"), `export const deep = 2;\n`);
    expect((await new ModuleGraph(dir).identity(join(lib, "main.ts"))).digest).not.toBe(id.digest);
  });
});
