/**
 * `tributary run --remote-cache` end to end: separate projects (separate roots, separate local caches)
 * sharing one real nginx WebDAV server, through the built CLI.
 */
import { createHash } from "node:crypto";
import { existsSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { cli, jsonEvents, ranAndCached } from "../helpers/cli.js";
import { tempDir } from "../helpers/procs.js";
import { freePort, startBrokenServer, startNginx, type NginxServer } from "../helpers/servers.js";

let nginx: NginxServer;
const dirs: string[] = [];
beforeAll(async () => {
  nginx = await startNginx();
});
afterAll(async () => {
  await nginx?.stop();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

const FLOW = [
  'use "./modules.ts"',
  'upper  = sh("echo upper >> \\"\\$RAN_LOG\\"; tr a-z A-Z < ${file("in.txt")} > ${output("out/upper.txt")}")',
  'tool   = sh("echo tool >> \\"\\$RAN_LOG\\"; f=${output("bin/tool")}; printf \'#!/bin/sh\\\\necho hi\\\\n\' > \\"\\$f\\"; chmod 755 \\"\\$f\\"")',
  'both   = sh("echo both >> \\"\\$RAN_LOG\\"; cat ${upper} ${upper} > ${output("out/both.txt")}")',
  'rand   = sh("echo rand >> \\"\\$RAN_LOG\\"; od -An -N16 -tx1 /dev/urandom > ${output("out/rand.txt")}")',
  "report = big(40000)",
  "out both, tool, rand, report",
].join("\n");

const MODULES = `
import { appendFileSync } from "node:fs";
/** Its value is larger than 16 kB: it goes to the CAS, not into the action-cache entry. */
export function big(n: number): string {
  appendFileSync(process.env.RAN_LOG!, "report\\n");
  return "r".repeat(n);
}
`;

const INPUT = "hello remote cache\n".repeat(30);
const UPPER = INPUT.toUpperCase();

interface Project {
  root: string;
  ranLog: string;
}

/** A fresh project: its own root, its own local cache (<root>/.tributary/cache). */
function project(): Project {
  const root = tempDir("tributary-rc-proj-");
  dirs.push(root);
  writeFileSync(join(root, "pipeline.flow"), FLOW + "\n");
  writeFileSync(join(root, "modules.ts"), MODULES);
  // Past INLINE_OUTPUT_LIMIT (512 bytes): upper's and both's outputs are blobs on the server.
  writeFileSync(join(root, "in.txt"), INPUT);
  return { root, ranLog: join(root, "..", `${root.split("/").pop()}.ran`) };
}

interface Outcome {
  code: number | null;
  stderr: string;
  /** Steps that ran (not restored), sorted. */
  ran: string[];
  cached: string[];
  failed: { id: string; error: { kind: string; message: string } }[];
  warnings: string[];
  /** What the step commands logged (each appends its name when it really runs). */
  log: string[];
}

async function run(p: Project, args: string[], env: NodeJS.ProcessEnv = {}): Promise<Outcome> {
  rmSync(p.ranLog, { force: true });
  const r = await cli(["run", "--json", ...args], { cwd: p.root, env: { RAN_LOG: p.ranLog, ...env } });
  const events = jsonEvents(r.stdout);
  const ends = events.filter((e) => e.type === "step-end");
  return {
    code: r.code,
    stderr: r.stderr,
    ...ranAndCached(events),
    failed: ends.filter((e) => e.status === "failed") as Outcome["failed"],
    warnings: [
      ...events.filter((e) => e.type === "warning").map((e) => e.message as string),
      ...r.stderr.split("\n").filter((l) => l.startsWith("warning: ")),
    ],
    log: existsSync(p.ranLog) ? readFileSync(p.ranLog, "utf8").trim().split("\n").sort() : [],
  };
}

const ALL = ["both", "rand", "report", "tool", "upper"];
const sha = (b: Buffer | string) => createHash("sha256").update(b).digest("hex");

describe("projects sharing an nginx cache", () => {
  it("the second project restores every step from HTTP without running it", async () => {
    const url = `${nginx.url}/team/cache`;
    const a = project();
    const first = await run(a, ["--remote-cache", url]);
    expect(first.code, first.stderr).toBe(0);
    expect(first.ran).toEqual(ALL);
    expect(first.log).toEqual(ALL);
    expect(readdirSync(join(nginx.data, "team/cache/ac"))).toHaveLength(5);

    const b = project();
    const second = await run(b, [], { TRIBUTARY_REMOTE_CACHE: url });
    expect(second.code, second.stderr).toBe(0);
    expect(second.cached).toEqual(ALL);
    expect(second.log).toEqual([]); // nothing ran
    expect(second.warnings).toEqual([]);
    for (const f of ["out/upper.txt", "out/both.txt", "out/rand.txt", "bin/tool"]) {
      expect(readFileSync(join(b.root, f)).equals(readFileSync(join(a.root, f))), f).toBe(true);
    }
    expect(readFileSync(join(b.root, "out/both.txt"), "utf8")).toBe(UPPER.repeat(2));
    expect(statSync(join(b.root, "bin/tool")).mode & 0o777).toBe(0o755);
    // The local cache has everything now: the next run needs no server.
    await nginx.shutdown();
    try {
      writeFileSync(join(b.root, "pipeline.flow"), FLOW + "\n# edited: no null-run shortcut\n");
      const local = await run(b, [], { TRIBUTARY_REMOTE_CACHE: url });
      expect(local.cached).toEqual(ALL);
    } finally {
      await nginx.restart();
    }
  });

  it("a tampered blob on the server is a miss with a warning, the result is right, the blob repaired", async () => {
    const url = `${nginx.url}/tamper`;
    const a = project();
    expect((await run(a, ["--remote-cache", url])).code).toBe(0);
    const digest = sha(readFileSync(join(a.root, "out/upper.txt")));
    const blob = join(nginx.data, "tamper/cas", digest);
    writeFileSync(blob, "HACKED\n");

    const b = project();
    const second = await run(b, ["--remote-cache", url]);
    expect(second.code, second.stderr).toBe(0);
    expect(second.warnings.join("\n")).toMatch(
      new RegExp(`blob ${digest.slice(0, 12)}.*does not match its digest`),
    );
    expect(second.ran).toEqual(["upper"]); // its output could not be restored: it ran
    expect(second.cached).toEqual(["both", "rand", "report", "tool"]); // same content: early cutoff
    expect(readFileSync(join(b.root, "out/upper.txt"), "utf8")).toBe(UPPER);
    expect(sha(readFileSync(blob))).toBe(digest); // re-uploaded over the bad bytes
  });

  it("an entry is never overwritten with different content (a forced rerun of a random step)", async () => {
    const url = `${nginx.url}/once`;
    const a = project();
    expect((await run(a, ["--remote-cache", url])).code).toBe(0);
    const acDir = join(nginx.data, "once/ac");
    const before = new Map(readdirSync(acDir).map((k) => [k, readFileSync(join(acDir, k), "utf8")]));

    const b = project();
    const forced = await run(b, ["--remote-cache", url, "--force", "*"]);
    expect(forced.ran).toEqual(ALL);
    expect(readFileSync(join(b.root, "out/rand.txt"), "utf8")).not.toBe(
      readFileSync(join(a.root, "out/rand.txt"), "utf8"),
    );
    const after = new Map(readdirSync(acDir).map((k) => [k, readFileSync(join(acDir, k), "utf8")]));
    expect(after).toEqual(before);

    // A third project gets the first writer's result.
    const c = project();
    expect((await run(c, ["--remote-cache", url])).cached).toEqual(ALL);
    expect(readFileSync(join(c.root, "out/rand.txt"), "utf8")).toBe(
      readFileSync(join(a.root, "out/rand.txt"), "utf8"),
    );
  });

  it("with a key: signed entries are accepted; unsigned and mis-signed ones are refused", async () => {
    const keys = tempDir("tributary-rc-keys-");
    dirs.push(keys);
    const keyFile = join(keys, "cache.key");
    const KEY = "6f1c2a9e0b7d4c3f8a5e1d2c3b4a59687766554433221100ffeeddccbbaa9988";
    writeFileSync(keyFile, `${KEY}\n`);

    const signed = `${nginx.url}/signed`;
    expect((await run(project(), ["--remote-cache", signed, "--cache-key-file", keyFile])).code).toBe(0);
    const envelope = JSON.parse(
      readFileSync(join(nginx.data, "signed/ac", readdirSync(join(nginx.data, "signed/ac"))[0]!), "utf8"),
    );
    expect(envelope).toMatchObject({
      tributary: "signed-ac",
      alg: "HMAC-SHA256",
      sig: expect.stringMatching(/^[0-9a-f]{64}$/),
    });
    // Same key from the environment: everything restored.
    const same = await run(project(), ["--remote-cache", signed], { TRIBUTARY_CACHE_KEY: KEY });
    expect(same.cached).toEqual(ALL);
    expect(same.warnings).toEqual([]);
    // Another key: refused, the steps run, the right result.
    const other = await run(project(), ["--remote-cache", signed], { TRIBUTARY_CACHE_KEY: "x".repeat(32) });
    expect(other.ran).toEqual(ALL);
    expect(other.warnings.join("\n")).toMatch(/refused cache entry .* signed with another key/);

    // Unsigned entries (written by a project without the key) are refused by one with it.
    const unsigned = `${nginx.url}/unsigned`;
    expect((await run(project(), ["--remote-cache", unsigned])).code).toBe(0);
    const refused = await run(project(), ["--remote-cache", unsigned, "--cache-key-file", keyFile]);
    expect(refused.code, refused.stderr).toBe(0);
    expect(refused.ran).toEqual(ALL);
    expect(refused.warnings.filter((w) => /not signed, and a cache key is set/.test(w))).toHaveLength(5);
    // ...and replaced by signed ones: the next project with the key restores everything.
    expect((await run(project(), ["--remote-cache", unsigned, "--cache-key-file", keyFile])).cached).toEqual(
      ALL,
    );
  });

  it("a cache server that is down: the build succeeds with one warning; with --remote-cache-required it fails", async () => {
    // A server that resets every connection, counting them: the store gives up on it once, not per step.
    const resetting = await startBrokenServer("reset");
    const url = `${resetting.url}/cache`;
    try {
      const r = await run(project(), ["--remote-cache", url]);
      expect(r.code, r.stderr).toBe(0);
      expect(r.ran).toEqual(ALL);
      const unreachable = r.warnings.filter((w) =>
        w.includes(`cannot reach the cache at ${url}: ECONNRESET`),
      );
      expect(unreachable.length).toBeGreaterThanOrEqual(1);
      expect(unreachable.length).toBeLessThanOrEqual(2); // not one per step
      // The 4 steps ready at the start look up at once, each with its first try and 3 retries; once the
      // store is taken for down, nothing more. Trying per step would be a lookup and a save for each of
      // the 5 steps: 40 connections.
      expect(resetting.connections()).toBeGreaterThanOrEqual(4);
      expect(resetting.connections()).toBeLessThanOrEqual(16);
    } finally {
      await resetting.close();
    }

    const down = `http://127.0.0.1:${await freePort()}/cache`;
    const req = await run(project(), ["--remote-cache", down, "--remote-cache-required"]);
    expect(req.code).toBe(1);
    expect(req.stderr).toContain(`cannot reach the cache at ${down}: ECONNREFUSED (--remote-cache-required)`);
    expect(req.ran).toEqual([]);
  });
});
