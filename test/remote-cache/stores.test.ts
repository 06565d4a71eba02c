/**
 * The remote stores against a real nginx (WebDAV), no mocks: the HTTP store's protocol, verification of
 * what it downloads, write-once entries, basic auth and a path prefix, a server that is down; the signing
 * envelope; the tiered store under a real cache.
 */
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { digestBytes } from "../../src/graph/digest.js";
import { encodeAcEntry } from "../../src/cache/manifest.js";
import { LocalDirStore } from "../../src/cache/store.js";
import {
  AcSigner,
  CacheUnreachableError,
  HttpStore,
  openAcEntry,
  openRemoteStore,
  openTieredCache,
  SharedDirStore,
  TieredStore,
} from "../../src/cache/stores/index.js";
import { runGraph } from "../../src/project/run-graph.js";
import { tempDir } from "../helpers/procs.js";
import { freePort, startBrokenServer, startNginx, type NginxServer } from "../helpers/servers.js";
import { file, out, sh } from "../cache/helpers.js";

let nginx: NginxServer;
let authed: NginxServer;
const dirs: string[] = [];
const scratch = (prefix = "tributary-rc-") => {
  const d = tempDir(prefix);
  dirs.push(d);
  return d;
};

beforeAll(async () => {
  [nginx, authed] = await Promise.all([
    startNginx(),
    startNginx({ basicAuth: { user: "ci", password: "p@ss word" } }),
  ]);
});
afterAll(async () => {
  await Promise.all([nginx?.stop(), authed?.stop()]);
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

const sha = (s: string | Buffer) => createHash("sha256").update(s).digest("hex");
const entry = (manifest: object) => encodeAcEntry(JSON.stringify(manifest));

describe("HttpStore (Bazel HTTP cache protocol on nginx)", () => {
  it("puts, heads, gets and streams blobs under a path prefix; a missing entry is a miss", async () => {
    const warnings: string[] = [];
    const store = new HttpStore(`${nginx.url}/some/prefix/`, { onWarning: (m) => warnings.push(m) });
    try {
      const blob = Buffer.from("hello blob\n");
      const d = sha(blob);
      expect(await store.has("cas", d)).toBe(false);
      expect(await store.get("cas", d)).toBeUndefined();
      await store.put("cas", d, blob);
      expect(readFileSync(join(nginx.data, "some/prefix/cas", d), "utf8")).toBe("hello blob\n");
      expect(await store.has("cas", d)).toBe(true);
      expect((await store.get("cas", d))?.toString()).toBe("hello blob\n");
      const dir = scratch();
      expect(await store.getFile(d, join(dir, "copy"))).toBe(true);
      expect(readFileSync(join(dir, "copy"), "utf8")).toBe("hello blob\n");
      expect(await store.getFile(sha("absent"), join(dir, "absent"))).toBe(false);

      // A large file goes through a private copy and is streamed up and down.
      const big = Buffer.alloc(9 * 1024 * 1024 + 7, 1);
      for (let i = 0; i < big.length; i += 4096) big[i] = i & 0xff;
      writeFileSync(join(dir, "big"), big);
      const put = await store.putFile(join(dir, "big"));
      expect(put).toEqual({ digest: sha(big), size: big.length });
      expect(await store.getFile(put.digest, join(dir, "big-back"))).toBe(true);
      expect(sha(readFileSync(join(dir, "big-back")))).toBe(put.digest);

      // Uploading a blob under a digest its bytes do not have is refused before anything is sent.
      await expect(store.put("cas", sha("other"), blob)).rejects.toThrow(/another digest/);
      expect(warnings).toEqual([]);
    } finally {
      await store.close();
    }
  });

  it("a blob whose bytes on the server do not match its digest is a miss with a warning, then repaired", async () => {
    const warnings: string[] = [];
    const store = new HttpStore(`${nginx.url}/tamper`, { onWarning: (m) => warnings.push(m) });
    try {
      const blob = Buffer.from("the real content\n");
      const d = sha(blob);
      await store.put("cas", d, blob);
      writeFileSync(join(nginx.data, "tamper/cas", d), "evil content\n");
      expect(await store.get("cas", d)).toBeUndefined();
      const dir = scratch();
      expect(await store.getFile(d, join(dir, "x"))).toBe(false);
      expect(existsSync(join(dir, "x"))).toBe(false);
      expect(warnings.join("\n")).toMatch(/does not match its digest/);
      // The next upload of that digest replaces the bad bytes instead of trusting that the blob exists.
      await store.put("cas", d, blob);
      expect(readFileSync(join(nginx.data, "tamper/cas", d), "utf8")).toBe("the real content\n");
    } finally {
      await store.close();
    }
  });

  it("never overwrites an existing entry in create mode", async () => {
    const store = new HttpStore(`${nginx.url}/once`);
    try {
      const key = sha("step key");
      await store.put("ac", key, Buffer.from("first"));
      await store.put("ac", key, Buffer.from("second"));
      expect((await store.get("ac", key))?.toString()).toBe("first");
      await store.put("ac", key, Buffer.from("third"), { mode: "replace" });
      expect((await store.get("ac", key))?.toString()).toBe("third");
    } finally {
      await store.close();
    }
  });

  it("sends basic auth from the URL; wrong credentials are a clear error", async () => {
    const good = new HttpStore(`http://ci:${encodeURIComponent("p@ss word")}@127.0.0.1:${authed.port}/c`);
    const bad = new HttpStore(`http://ci:nope@127.0.0.1:${authed.port}/c`);
    try {
      expect(good.location).not.toContain("p@ss");
      const blob = Buffer.from("secret stuff");
      await good.put("cas", sha(blob), blob);
      expect((await good.get("cas", sha(blob)))?.toString()).toBe("secret stuff");
      await expect(bad.get("cas", sha(blob))).rejects.toThrow(/401.*check the user and password/);
      expect(bad.location).toMatch(/ci:\*\*\*@/);
    } finally {
      await Promise.all([good.close(), bad.close()]);
    }
  });

  it("a server that is down: the reason, retries, then taken for down: later requests fail at once", async () => {
    const refusedPort = await freePort();
    const refused = new HttpStore(`http://127.0.0.1:${refusedPort}/x`, { retries: 2, backoffMs: 1 });
    const resetting = await startBrokenServer("reset");
    const store = new HttpStore(`${resetting.url}/x`, { retries: 2, backoffMs: 1 });
    try {
      const err = await refused.get("ac", sha("k")).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(CacheUnreachableError);
      expect((err as Error).message).toBe(
        `cannot reach the cache at http://127.0.0.1:${refusedPort}/x: ECONNREFUSED`,
      );
      // Down: the next request gets the same error back without trying again.
      expect(await refused.has("cas", sha("k")).catch((e: unknown) => e)).toBe(err);

      // Counted on a server that resets every connection: the first try and 2 retries, then nothing.
      await expect(store.get("ac", sha("k"))).rejects.toThrow(/ECONNRESET/);
      expect(resetting.connections()).toBe(3);
      await expect(store.has("cas", sha("k"))).rejects.toThrow(/ECONNRESET/);
      expect(resetting.connections()).toBe(3);
    } finally {
      await Promise.all([refused.close(), store.close(), resetting.close()]);
    }
  });

  it("a server that accepts connections but never answers: one timeout, not retried, then down", async () => {
    const silent = await startBrokenServer("silent");
    const store = new HttpStore(silent.url, { timeoutMs: 300, retries: 3, backoffMs: 1 });
    try {
      const err = await store.get("ac", sha("k")).catch((e: unknown) => e);
      expect((err as Error).message).toBe(`cannot reach the cache at ${silent.url}: no answer within 300ms`);
      expect(silent.connections()).toBe(1);
      expect(await store.has("cas", sha("k")).catch((e: unknown) => e)).toBe(err);
      expect(silent.connections()).toBe(1);
    } finally {
      await store.close();
      await silent.close();
    }
  });

  it("openRemoteStore: URLs are HTTP, paths are shared directories, other schemes are refused", () => {
    expect(openRemoteStore("http://h:1/p")).toBeInstanceOf(HttpStore);
    expect(openRemoteStore("HTTPS://h/p")).toBeInstanceOf(HttpStore);
    expect(openRemoteStore("/mnt/cache")).toBeInstanceOf(SharedDirStore);
    expect(() => openRemoteStore("s3://bucket/x")).toThrow(/unsupported remote cache/);
  });
});

describe("signing", () => {
  const signer = new AcSigner("0123456789abcdef0123456789abcdef");
  const key = sha("a step");
  const body = entry({ format: 1, outputs: [], value: 42 });

  it("accepts its own envelope for the same key only", () => {
    const sealed = signer.seal(key, body);
    const opened = openAcEntry(key, sealed, signer);
    expect(opened).toEqual({ entry: body, signed: true });
    // Replayed under another step's key: refused.
    expect(openAcEntry(sha("another step"), sealed, signer)).toEqual({
      error: expect.stringMatching(/signature does not match/),
    });
  });

  it("refuses unsigned entries, other keys and tampered bodies; without a key, unwraps unverified", () => {
    expect(openAcEntry(key, body, signer)).toEqual({ error: expect.stringMatching(/not signed/) });
    const other = new AcSigner("another secret of enough bytes!!");
    expect(openAcEntry(key, other.seal(key, body), signer)).toEqual({
      error: expect.stringMatching(/signed with another key \(id [0-9a-f]{16}, ours [0-9a-f]{16}\)/),
      foreign: true,
    });
    const env = JSON.parse(signer.seal(key, body).toString());
    env.body = env.body.replace("42", "43");
    expect(openAcEntry(key, Buffer.from(JSON.stringify(env)), signer)).toEqual({
      error: expect.stringMatching(/signature does not match/),
    });
    expect(openAcEntry(key, signer.seal(key, body), undefined)).toEqual({ entry: body, signed: true });
    expect(openAcEntry(key, body, undefined)).toEqual({ entry: body, signed: false });
  });

  it("refuses short keys", () => {
    expect(() => new AcSigner("short")).toThrow(/too short/);
  });
});

describe("TieredStore under a real cache", () => {
  /** Two steps: b reads a's output; both write files. */
  const graph = {
    steps: [
      sh("a", ["tr a-z A-Z < ", file("in.txt"), " > ", out("out/a.txt")]),
      sh("b", ["cat ", { kind: "ref", step: "a" }, " ", { kind: "ref", step: "a" }, " > ", out("out/b.txt")]),
    ],
  };
  // Past INLINE_OUTPUT_LIMIT (512 bytes): the outputs are blobs, which this suite is about.
  const INPUT = "some input\n".repeat(60);
  const B = INPUT.toUpperCase().repeat(2);
  const project = () => {
    const root = scratch("tributary-rc-proj-");
    writeFileSync(join(root, "in.txt"), INPUT);
    return root;
  };
  async function run(root: string, remote: string, signer?: AcSigner) {
    const warnings: string[] = [];
    const { cache, store } = await openTieredCache({
      root,
      remote,
      signer,
      onWarning: (m) => warnings.push(m),
    });
    const result = await runGraph(graph, { cache, root, concurrency: 2 });
    await cache.close();
    await store.close();
    expect(result.ok, JSON.stringify(result.steps.map((s) => s.error))).toBe(true);
    return {
      ran: result.steps.filter((s) => !s.cached).map((s) => s.id),
      warnings,
      counters: store.counters,
      b: readFileSync(join(root, "out/b.txt"), "utf8"),
    };
  }

  it("a second project restores everything from the remote; with a key, only what that key signed", async () => {
    const url = `${nginx.url}/tiered`;
    const k1 = new AcSigner("first key first key first key!!");
    const first = await run(project(), url, k1);
    expect(first.ran).toEqual(["a", "b"]);
    expect(first.counters.uploadedEntries).toBe(2);
    const second = await run(project(), url, k1);
    expect(second).toMatchObject({ ran: [], warnings: [], b: B });
    expect(second.counters).toMatchObject({ remoteEntries: 2, remoteBlobs: 2, uploadedEntries: 0 });

    // Another key: every entry refused, the steps run, the result is right; valid entries stay.
    const stranger = await run(project(), url, new AcSigner("second key second key second!!"));
    expect(stranger.ran).toEqual(["a", "b"]);
    expect(stranger.warnings.join("\n")).toMatch(/refused cache entry .* signed with another key/);
    expect(stranger.b).toBe(B);
    expect(stranger.counters.uploadedEntries).toBe(0); // perhaps valid for others: left alone
    expect((await run(project(), url, k1)).ran).toEqual([]);
  });

  it("a tampered signature or body is refused and replaced by a signed entry", async () => {
    const url = `${nginx.url}/tiered2`;
    const k = new AcSigner("third key third key third key!!");
    await run(project(), url, k);
    const acDir = join(nginx.data, "tiered2/ac");
    const { readdirSync } = await import("node:fs");
    for (const name of readdirSync(acDir)) {
      const env = JSON.parse(readFileSync(join(acDir, name), "utf8"));
      env.sig = env.sig.replace(/^./, (c: string) => (c === "0" ? "1" : "0"));
      writeFileSync(join(acDir, name), JSON.stringify(env));
    }
    const tampered = await run(project(), url, k);
    expect(tampered.ran).toEqual(["a", "b"]);
    expect(tampered.warnings.join("\n")).toMatch(/signature does not match/);
    expect(tampered.counters.uploadedEntries).toBe(2); // the refused entries were replaced
    expect((await run(project(), url, k)).ran).toEqual([]);
  });

  it("a local directory in front of a shared directory: same behaviour; gc there keeps signed entries", async () => {
    const shared = scratch("tributary-rc-shared-");
    const k = new AcSigner("shared dir key shared dir key!!");
    const first = await run(project(), shared, k);
    expect(first.ran).toEqual(["a", "b"]);
    expect(existsSync(join(shared, "CACHEDIR.TAG"))).toBe(true);
    const second = await run(project(), shared, k);
    expect(second.ran).toEqual([]);
    expect(second.counters.remoteBlobs).toBe(2);
    const { gc } = await import("../../src/cache/maintenance.js");
    expect(await gc(shared, { maxBytes: 1e9 })).toMatchObject({ removedEntries: 0, removedBlobs: 0 });
    expect((await run(project(), shared, k)).ran).toEqual([]);
  });

  it("reads fill the local store; a read-only tiered store uploads nothing", async () => {
    const local = new LocalDirStore(scratch());
    const remoteDir = scratch();
    mkdirSync(remoteDir, { recursive: true });
    const remote = new SharedDirStore(remoteDir);
    const blob = Buffer.from("x".repeat(100));
    await remote.put("cas", digestBytes(blob), blob);
    const ro = new TieredStore(local, remote, { upload: false });
    expect((await ro.get("cas", digestBytes(blob)))?.length).toBe(100);
    expect(await local.has("cas", digestBytes(blob))).toBe(true);
    const other = Buffer.from("y");
    await ro.put("cas", digestBytes(other), other);
    await ro.drain();
    expect(await remote.has("cas", digestBytes(other))).toBe(false);
  });
});
