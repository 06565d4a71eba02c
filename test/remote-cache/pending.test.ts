/**
 * Results that did not reach the remote cache reach it later, through the built CLI against real servers:
 * a stalled server (a node listener that accepts and never answers) costs one timeout and is then left
 * alone for the run, what could not be uploaded is recorded in the local cache's pending-uploads list and
 * uploaded by a later run (also one that changes nothing), results built without any remote are uploaded
 * by the first run with one, and the summary says what moved.
 */
import { existsSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { cli, jsonEvents, ranAndCached } from "../helpers/cli.js";
import { tempDir } from "../helpers/procs.js";
import { freePort, startBrokenServer, startNginx, type NginxServer } from "../helpers/servers.js";

const dirs: string[] = [];
const servers: NginxServer[] = [];
afterAll(async () => {
  await Promise.all(servers.map((s) => s.stop()));
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

const FLOW = [
  'a = sh("tr a-z A-Z < ${file("in.txt")} > ${output("out/a.txt")}")',
  'b = sh("cat ${a} ${a} > ${output("out/b.txt")}")',
  'c = sh("wc -c < ${a} > ${output("out/c.txt")}")',
  'd = sh("cat ${b} ${c} > ${output("out/d.txt")}")',
  'e = sh("echo e > ${output("out/e.txt")}")',
  "out d, e",
].join("\n");
const ALL = ["a", "b", "c", "d", "e"];

function project(): string {
  const root = tempDir("tributary-pending-");
  dirs.push(root);
  writeFileSync(join(root, "pipeline.flow"), FLOW + "\n");
  writeFileSync(join(root, "in.txt"), "pending uploads\n");
  return root;
}

interface RemoteCounts {
  fetched: number;
  uploaded: number;
  refused: number;
  pending: number;
}

interface Outcome {
  code: number | null;
  stderr: string;
  ran: string[];
  cached: string[];
  warnings: string[];
  /** The run-end event's summary.remoteCache (undefined: not there). */
  remote: RemoteCounts | undefined;
  noOp: boolean;
}

async function run(root: string, args: string[], env: NodeJS.ProcessEnv = {}): Promise<Outcome> {
  const r = await cli(["run", "--json", ...args], { cwd: root, env });
  const events = jsonEvents(r.stdout);
  const runEnd = events.find((e) => e.type === "run-end");
  return {
    code: r.code,
    stderr: r.stderr,
    ...ranAndCached(events),
    warnings: events.filter((e) => e.type === "warning").map((e) => e.message as string),
    remote: runEnd?.summary?.remoteCache,
    // A no-op run starts no engine: no run-start event.
    noOp: !events.some((e) => e.type === "run-start"),
  };
}

/** The entries waiting for upload in a project's local cache (for any remote). */
function pendingEntries(root: string): string[] {
  const base = join(root, ".tributary/cache/pending-uploads");
  if (!existsSync(base)) return [];
  return readdirSync(base).flatMap((r) => readdirSync(join(base, r)));
}

const acOn = (server: NginxServer, prefix: string) => {
  const d = join(server.data, prefix, "ac");
  return existsSync(d) ? readdirSync(d).length : 0;
};

describe("pending uploads", () => {
  it("a stalled server costs one timeout and one warning; a later run that changes nothing uploads what it missed", async () => {
    const silent = await startBrokenServer("silent");
    const url = `${silent.url}/c`;
    const root = project();
    let stalled: Outcome;
    try {
      stalled = await run(root, ["--remote-cache", url]);
    } finally {
      await silent.close();
    }
    expect(stalled.code, stalled.stderr).toBe(0);
    expect(stalled.ran).toEqual(ALL);
    const told = stalled.warnings.filter((w) => w.includes(`cannot reach the cache at ${url}`));
    expect(told).toEqual([
      `cannot reach the cache at ${url}: no answer within 5s; no more calls to it this run: results are kept locally and uploaded by a later run`,
    ]);
    expect(stalled.warnings).toEqual(told);
    // The lookups ready at the start, one request each; nothing after the circuit opened.
    expect(silent.connections()).toBeGreaterThanOrEqual(1);
    expect(silent.connections()).toBeLessThanOrEqual(4);
    expect(pendingEntries(root)).toHaveLength(5);
    expect(stalled.remote).toEqual({ fetched: 0, uploaded: 0, refused: 0, pending: 5 });

    // The server is back (nginx on the same port): nothing changed, yet the run uploads what it missed.
    const nginx = await startNginx({ port: silent.port });
    servers.push(nginx);
    const later = await run(root, ["--remote-cache", url]);
    expect(later.code, later.stderr).toBe(0);
    expect(later.noOp).toBe(true);
    expect(later.warnings).toEqual([]);
    expect(later.remote).toEqual({ fetched: 0, uploaded: 5, refused: 0, pending: 0 });
    expect(pendingEntries(root)).toEqual([]);
    expect(acOn(nginx, "c")).toBe(5);

    // Another project gets everything from the server.
    const other = await run(project(), ["--remote-cache", url]);
    expect(other.cached).toEqual(ALL);
    expect(other.remote).toEqual({ fetched: 5, uploaded: 0, refused: 0, pending: 0 });
  });

  it("a server that is down: entries wait; a later full run uploads them at its start", async () => {
    const port = await freePort();
    const url = `http://127.0.0.1:${port}/down`;
    const root = project();
    const down = await run(root, ["--remote-cache", url]);
    expect(down.code, down.stderr).toBe(0);
    expect(down.ran).toEqual(ALL);
    expect(down.warnings.filter((w) => w.includes("ECONNREFUSED"))).toHaveLength(1);
    expect(pendingEntries(root)).toHaveLength(5);

    const nginx = await startNginx({ port });
    servers.push(nginx);
    writeFileSync(join(root, "pipeline.flow"), FLOW + "\n# edited: a full run\n");
    const later = await run(root, ["--remote-cache", url]);
    expect(later.code, later.stderr).toBe(0);
    expect(later.noOp).toBe(false);
    expect(later.cached).toEqual(ALL);
    expect(later.remote).toEqual({ fetched: 0, uploaded: 5, refused: 0, pending: 0 });
    expect(acOn(nginx, "down")).toBe(5);
    expect(pendingEntries(root)).toEqual([]);
  });

  it("results built with no remote configured are uploaded by the first run with one, then not checked again", async () => {
    const nginx = await startNginx();
    servers.push(nginx);
    const url = `${nginx.url}/late`;
    const root = project();
    const alone = await run(root, []);
    expect(alone.ran).toEqual(ALL);
    expect(alone.remote).toBeUndefined();

    // Nothing changed, but the remote does not have these results: they are checked and uploaded.
    const first = await run(root, ["--remote-cache", url]);
    expect(first.code, first.stderr).toBe(0);
    expect(first.cached).toEqual(ALL);
    expect(first.remote).toEqual({ fetched: 0, uploaded: 5, refused: 0, pending: 0 });
    expect(acOn(nginx, "late")).toBe(5);

    // Known to be there now: the next unchanged run is a no-op again.
    const again = await run(root, ["--remote-cache", url]);
    expect(again.noOp).toBe(true);
    expect(again.remote).toEqual({ fetched: 0, uploaded: 0, refused: 0, pending: 0 });

    // A result built without the remote (an edit, no --remote-cache) is uploaded by the next run with it.
    writeFileSync(join(root, "in.txt"), "changed\n");
    const edited = await run(root, []);
    expect(edited.ran).toContain("a");
    const synced = await run(root, ["--remote-cache", url]);
    expect(synced.cached).toEqual(ALL);
    expect(synced.remote?.uploaded).toBe(edited.ran.length);
    expect(acOn(nginx, "late")).toBe(5 + edited.ran.length);

    const other = project();
    writeFileSync(join(other, "in.txt"), "changed\n");
    expect((await run(other, ["--remote-cache", url])).cached).toEqual(ALL);
  });

  it("the terminal summary says what was fetched, uploaded and refused", async () => {
    const nginx = await startNginx();
    servers.push(nginx);
    const url = `${nginx.url}/signed`;
    const k1 = { TRIBUTARY_CACHE_KEY: "k".repeat(32) };
    // The summary goes where the progress goes (stderr); stdout has the flow's outputs.
    const up = await cli(["run", "--remote-cache", url], { cwd: project(), env: k1 });
    expect(up.code, up.stderr).toBe(0);
    expect(up.stderr).toContain("remote cache: 0 fetched · 5 uploaded · 0 refused\n");
    const same = await cli(["run", "--remote-cache", url], { cwd: project(), env: k1 });
    expect(same.stderr).toContain("remote cache: 5 fetched · 0 uploaded · 0 refused\n");
    const other = await cli(["run", "--remote-cache", url], {
      cwd: project(),
      env: { TRIBUTARY_CACHE_KEY: "o".repeat(32) },
    });
    expect(other.code, other.stderr).toBe(0);
    expect(other.stderr).toContain("remote cache: 0 fetched · 0 uploaded · 5 refused\n");
    // Without a remote cache, no such line.
    expect((await cli(["run"], { cwd: project() })).stderr).not.toContain("remote cache:");
  });
});
