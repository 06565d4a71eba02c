import { spawn, spawnSync } from "node:child_process";
import { closeSync, openSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { loadedModules } from "../../bench/startup/loaded.mjs";
import { BIN, cli, REPO } from "../helpers/cli.js";
import { tempDir } from "../helpers/procs.js";

/**
 * `--version` and an unchanged `run [FLOW] [-j N]` are answered by one bundled CommonJS file
 * (src/cli/fast-answer.ts, built to dist/cli/fast-answer.cjs) before the CLI loads; anything it is not
 * sure of goes to the full CLI. test/e2e/quick-run.test.ts compares its answers with the full CLI's;
 * test/e2e/startup.test.ts checks what it loads.
 */

const ENV = { ...process.env, CI: "1", NO_COLOR: "1" };

/** Our files a command loads (the bin, the bundle, dist's modules), relative to the repository. */
function oursLoaded(args: string[], cwd: string, env: NodeJS.ProcessEnv = ENV): string[] {
  return loadedModules(process.execPath, [BIN, ...args], cwd, env)
    .urls.filter((u) => u.startsWith("file://") && !u.includes("/node_modules/"))
    .map((u) => u.slice(`file://${REPO}`.length));
}

const FAST = ["bin/tributary.js", "dist/cli/fast-answer.cjs"];

function project(): string {
  const dir = tempDir();
  writeFileSync(join(dir, "in.txt"), "hello\n");
  writeFileSync(
    join(dir, "pipeline.flow"),
    'a = sh("tr a-z A-Z < ${file("in.txt")} > ${output("out/a.txt")}")\nb = sh("echo b")\nout a, b\n',
  );
  return dir;
}

describe("the fast answer", () => {
  it("takes a damaged record as a miss: the full CLI answers, right, and writes it again", async () => {
    const dir = project();
    expect((await cli(["run"], { cwd: dir })).code).toBe(0);
    const record = join(dir, ".tributary", "snapshot.bin");
    const good = readFileSync(record);
    for (const damaged of [
      Buffer.from("TRSN garbage"),
      good.subarray(0, good.length >> 1),
      Buffer.alloc(0),
    ]) {
      writeFileSync(record, damaged);
      const r = await cli(["run"], { cwd: dir });
      expect(r.code).toBe(0);
      expect(r.stderr).toMatch(/0 ok · 2 cached/);
      expect(r.stderr).not.toMatch(/internal error|Error/);
      expect(oursLoaded(["run"], dir)).toEqual(FAST);
    }
  });

  it("writes its answer to a file, to /dev/null, and to a reader that left", async () => {
    const dir = project();
    const first = await cli(["run"], { cwd: dir });
    const file = join(dir, "answer.txt");
    const fd = openSync(file, "w");
    const toFile = spawnSync(process.execPath, [BIN, "run"], {
      cwd: dir,
      env: ENV,
      stdio: ["ignore", fd, fd],
    });
    closeSync(fd);
    expect(toFile.status).toBe(0);
    const written = readFileSync(file, "utf8");
    expect(written).toContain(first.stdout);
    expect(written).toMatch(/0 ok · 2 cached/);

    const toNull = spawnSync(process.execPath, [BIN, "run"], {
      cwd: dir,
      env: ENV,
      stdio: ["ignore", "ignore", "pipe"],
    });
    expect(toNull.status).toBe(0);
    expect(toNull.stderr.toString()).toMatch(/0 ok · 2 cached/);

    // stdout's reader is gone before anything is written: no EPIPE, the usual exit code.
    const gone = spawn(process.execPath, [BIN, "run"], {
      cwd: dir,
      env: ENV,
      stdio: ["ignore", "pipe", "pipe"],
    });
    gone.stdout.destroy();
    let stderr = "";
    gone.stderr.on("data", (b: Buffer) => (stderr += b));
    const code = await new Promise((resolve) => gone.on("close", resolve));
    expect(code).toBe(0);
    expect(stderr).toMatch(/0 ok · 2 cached/);
    expect(stderr).not.toMatch(/EPIPE|Error/);
  });
});
