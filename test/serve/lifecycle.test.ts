/**
 * `tributary serve` under load and change, over real HTTP: module limits shared by concurrent requests,
 * cancellation when the client goes away, timeouts, the in-flight limit, draining on SIGTERM, hot reload.
 * Nothing here measures time: each test waits for a state (a file, a gauge, a log line) it can see.
 */
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { afterAll, describe, expect, it } from "vitest";
import { eventually, fixtureProject, join, json, killServers, serve, until } from "./helpers.js";

afterAll(killServers);

describe("tributary serve: load", () => {
  it("shares a module's concurrency limit across concurrent requests", async () => {
    const dir = fixtureProject();
    const s = await serve(["limited.flow"], dir);
    try {
      const max = join(dir, "max");
      const answers = Array.from({ length: 10 }, (_, x) => s.post("limited", { x, dir }));
      // Two calls run at once (and hold until released): the limit is reached...
      expect(await eventually(() => existsSync(max) && readFileSync(max, "utf8") === "2")).toBe(true);
      writeFileSync(join(dir, "release"), "");
      const bodies = await Promise.all(
        answers.map(async (a) => [(await a).status, (await json(await a)).outputs]),
      );
      expect(bodies).toEqual(Array.from({ length: 10 }, (_, x) => [200, { l: x }]));
      // ...and never passed by the ten requests together.
      expect(readFileSync(max, "utf8")).toBe("2");
    } finally {
      s.proc.kill("SIGKILL");
    }
  });

  it("cancels the run when the client disconnects", async () => {
    const dir = fixtureProject();
    const s = await serve(["hang.flow"], dir);
    try {
      const marker = join(dir, "aborted.txt");
      const client = new AbortController();
      const answer = s.post("hang", { marker }, { signal: client.signal });
      expect(await until(async () => (await s.metric("tributary_requests_in_flight")) === 1)).toBe(true);
      client.abort();
      await expect(answer).rejects.toThrow();
      // The step saw its signal abort: the module wrote so (the file exists a moment before its text).
      expect(await eventually(() => existsSync(marker) && readFileSync(marker, "utf8") !== "")).toBe(true);
      expect(readFileSync(marker, "utf8")).toBe("aborted");
      expect(await until(async () => (await s.metric("tributary_requests_in_flight")) === 0)).toBe(true);
      expect(await eventually(() => s.logs().some((l) => l.status === 499))).toBe(true);
      expect(s.logs().find((l) => l.status === 499)).toMatchObject({
        flow: "hang",
        error: "the client disconnected: run cancelled",
      });
    } finally {
      s.proc.kill("SIGKILL");
    }
  });

  it("answers 504 after --timeout, cancelling the run, and goes on serving", async () => {
    const dir = fixtureProject();
    const s = await serve(["stuck.flow", "hang.flow", "greet.flow", "--timeout", "1s"], dir);
    try {
      // A module that ignores its signal and never settles.
      const stuck = await s.post("stuck", {});
      expect(stuck.status).toBe(504);
      expect((await json(stuck)).error).toBe(
        "the run took longer than 1000 ms (--timeout) and was cancelled",
      );
      // A module that listens to its signal is stopped.
      const marker = join(dir, "aborted.txt");
      expect((await s.post("hang", { marker })).status).toBe(504);
      expect(readFileSync(marker, "utf8")).toBe("aborted");
      const ok = await s.post("greet", { name: "still here" });
      expect(ok.status).toBe(200);
      expect((await json(ok)).outputs).toEqual({ greeting: "hello still here" });
    } finally {
      s.proc.kill("SIGKILL");
    }
  });

  it("answers 503 with Retry-After beyond --max-in-flight", async () => {
    const dir = fixtureProject();
    const s = await serve(["wait.flow", "--max-in-flight", "2"], dir);
    try {
      const path = join(dir, "release");
      const first = [s.post("wait", { path }), s.post("wait", { path })];
      expect(await until(async () => (await s.metric("tributary_requests_in_flight")) === 2)).toBe(true);
      const refused = await s.post("wait", { path });
      expect(refused.status).toBe(503);
      expect(refused.headers.get("retry-after")).toBe("1");
      expect((await json(refused)).error).toBe("2 requests are in flight (--max-in-flight); retry later");
      writeFileSync(path, "");
      for (const r of await Promise.all(first)) expect(r.status).toBe(200);
      expect((await s.post("wait", { path })).status).toBe(200);
    } finally {
      s.proc.kill("SIGKILL");
    }
  });

  it("drains on SIGTERM: stops accepting, answers every accepted request, exits 0", async () => {
    const dir = fixtureProject();
    const s = await serve(["wait.flow"], dir);
    const path = join(dir, "release");
    const accepted = Array.from({ length: 4 }, () => s.post("wait", { path }));
    expect(await until(async () => (await s.metric("tributary_requests_in_flight")) === 4)).toBe(true);
    s.proc.kill("SIGTERM");
    expect(await eventually(() => s.logs().some((l) => l.msg === "draining"))).toBe(true);
    // The listener closes: no new connection is accepted while the four finish.
    const refused = () =>
      fetch(`${s.url}/readyz`).then(
        () => false,
        () => true,
      );
    expect(await until(refused)).toBe(true);
    writeFileSync(path, "");
    const answers = await Promise.all(accepted);
    expect(answers.map((a) => a.status)).toEqual([200, 200, 200, 200]);
    for (const a of answers) expect((await json(a)).outputs).toEqual({ w: "released" });
    expect(await s.exited).toBe(0);
    expect(s.logs().at(-1)).toMatchObject({ msg: "stopped" });
    expect(s.logs().filter((l) => l.flow === "wait" && l.status === 200)).toHaveLength(4);
  });
});

describe("tributary serve --watch", () => {
  it("reloads an edited flow or module; an invalid edit keeps the last good version serving", async () => {
    const dir = fixtureProject();
    const s = await serve(["greet.flow", "--watch"], dir);
    try {
      const greeting = async () => (await json(await s.post("greet", { name: "ada" }))).outputs?.greeting;
      expect(await greeting()).toBe("hello ada");
      const flow = join(dir, "greet.flow");
      writeFileSync(
        flow,
        readFileSync(flow, "utf8").replace("Greet(name, times)", 'Greet("dear ${name}", times)'),
      );
      expect(await until(async () => (await greeting()) === "hello dear ada")).toBe(true);
      expect(s.logs().some((l) => l.msg === "reloaded" && l.flow === "greet")).toBe(true);
      // The module file the flow uses is watched too, and imported again.
      const modules = join(dir, "modules.mjs");
      writeFileSync(modules, readFileSync(modules, "utf8").replace('"hello "', '"hi "'));
      expect(await until(async () => (await greeting()) === "hi dear ada")).toBe(true);
      // An edit that does not compile: logged on one line with file:line:col, the last good one serves.
      writeFileSync(flow, 'use "./modules.mjs"\nin name: String\ngreeting = Gret(name)\nout greeting\n');
      expect(await eventually(() => s.logs().some((l) => l.msg?.startsWith("reload failed")))).toBe(true);
      const failed = s.logs().find((l) => l.msg?.startsWith("reload failed"))!;
      expect(failed).toMatchObject({ level: "error", flow: "greet" });
      expect(failed.diagnostics).toContain(`${flow}:3:12: `);
      expect(failed.diagnostics).toContain("Gret");
      expect(await greeting()).toBe("hi dear ada");
    } finally {
      s.proc.kill("SIGKILL");
    }
  });

  it("lets requests in flight finish on the version they started on", async () => {
    const dir = fixtureProject();
    const s = await serve(["wait.flow", "--watch"], dir);
    try {
      const path = join(dir, "release");
      const before = s.post("wait", { path });
      expect(await until(async () => (await s.metric("tributary_requests_in_flight")) === 1)).toBe(true);
      const flow = join(dir, "wait.flow");
      writeFileSync(flow, readFileSync(flow, "utf8").replace("out w", "v = Greet(w, 1)\nout v"));
      expect(await eventually(() => s.logs().some((l) => l.msg === "reloaded"))).toBe(true);
      writeFileSync(path, "");
      const old = await before;
      expect(old.status).toBe(200);
      expect((await json(old)).outputs).toEqual({ w: "released" });
      expect((await json(await s.post("wait", { path }))).outputs).toEqual({ v: "hello released" });
    } finally {
      s.proc.kill("SIGKILL");
    }
  });
});
