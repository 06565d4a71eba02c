/** Every user error is one line with exit 2 (or 1 when something outside is down), never a stack trace. */
import { mkdirSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { cli } from "../helpers/cli.js";
import { tempDir } from "../helpers/procs.js";

/** One line, no trace: what a user can act on. */
function expectOneLine(stderr: string, pattern: RegExp): void {
  const lines = stderr.trim().split("\n");
  expect(lines).toHaveLength(1);
  expect(lines[0]).toMatch(pattern);
  expect(stderr).not.toMatch(/\n\s+at |internal error/);
}

describe("user errors", () => {
  it("cache clean refuses a directory that is not a tributary cache", async () => {
    const dir = tempDir();
    mkdirSync(join(dir, "precious"));
    writeFileSync(join(dir, "precious/keep.txt"), "mine");
    const r = await cli(["cache", "clean", "--cache-dir", join(dir, "precious")], { cwd: dir });
    expect(r.code).toBe(2);
    expectOneLine(
      r.stderr,
      /precious is not a tributary cache directory \(it has no CACHEDIR.TAG\); not cleaning it/,
    );
  });

  it("a cache directory or report path in /proc: a warning or an error, never a hang", async () => {
    // mkdir answers ENOENT there; Node's own recursive mkdir loops forever on that answer.
    const dir = tempDir();
    writeFileSync(join(dir, "pipeline.flow"), 'a = sh("echo hi")\nout a\n');
    const cached = await cli(["run", "--cache-dir", "/proc/tributary-test/cache"], { cwd: dir });
    expect(cached.code, cached.stderr).toBe(0);
    expect(cached.stdout).toBe("hi\n");
    expect(cached.stderr).toMatch(
      /^warning: cannot open the cache at \/proc\/tributary-test\/cache \(ENOENT.*\); running without it$/m,
    );
    const report = await cli(["run", "--report", "/proc/tributary-test/r.html"], { cwd: dir });
    expect(report.code).toBe(2);
    expect(report.stderr).toMatch(
      /^cannot write the report to \/proc\/tributary-test\/r\.html \(ENOENT\); name another file with -o FILE$/m,
    );
  });

  it("a flow file that cannot be read", async () => {
    const dir = tempDir();
    // A socket where the flow file should be: it exists, but reading it fails (also for root).
    const server = createServer();
    await new Promise<void>((r) => server.listen(join(dir, "pipeline.flow"), r));
    try {
      const r = await cli(["run"], { cwd: dir });
      expect(r.code).toBe(2);
      expectOneLine(r.stderr, /^cannot read the flow file \S*pipeline\.flow \(E[A-Z]+\)$/);
    } finally {
      server.close();
    }
  });

  it("run --remote with a URL that is not Redis fails at once", async () => {
    const dir = tempDir();
    writeFileSync(join(dir, "pipeline.flow"), 'a = sh("echo hi")\nout a\n');
    const r = await cli(["run", "--remote", "http://localhost:6379"], { cwd: dir });
    expect(r.code).toBe(2);
    expectOneLine(
      r.stderr,
      /^--remote needs a redis:\/\/ or rediss:\/\/ URL, got "http:\/\/localhost:6379"$/,
    );
  });

  it("explain of a step the flow does not have names the nearest", async () => {
    const dir = tempDir();
    writeFileSync(join(dir, "pipeline.flow"), 'compile = sh("echo hi")\nout compile\n');
    expect((await cli(["run"], { cwd: dir })).code).toBe(0);
    const r = await cli(["explain", "compil"], { cwd: dir });
    expect(r.code).toBe(2);
    expectOneLine(r.stderr, /^no step compil in .*pipeline\.flow; did you mean compile\?$/);
  });

  it("the no-op path checks the cache settings as a full run does", async () => {
    const dir = tempDir();
    const shared = join(dir, "shared-cache");
    writeFileSync(join(dir, "pipeline.flow"), 'a = sh("echo hi")\nout a\n');
    writeFileSync(join(dir, "good.key"), "k".repeat(64));
    writeFileSync(join(dir, "short.key"), "k");
    const ok = await cli(["run", "--remote-cache", shared, "--cache-key-file", "good.key"], { cwd: dir });
    expect(ok.code).toBe(0);
    // Nothing changed since: the run would be answered from its record, but the key is bad.
    const bad = await cli(["run", "--remote-cache", shared, "--cache-key-file", "short.key"], { cwd: dir });
    expect(bad.code).toBe(2);
    expectOneLine(bad.stderr, /^--cache-key-file: the cache key is too short \(1 bytes; at least \d+\)/);
    // A required remote cache that is not there fails too, also when nothing changed.
    const down = await cli(["run", "--remote-cache", "http://127.0.0.1:9/x", "--remote-cache-required"], {
      cwd: dir,
    });
    expect(down.code).toBe(1);
    expect(down.stderr).toMatch(/--remote-cache-required/);
    expect(down.stderr).not.toMatch(/\n\s+at /);
  });
});
