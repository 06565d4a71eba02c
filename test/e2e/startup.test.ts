import { spawnSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { loadedModules } from "../../bench/startup/loaded.mjs";
import { BIN, cli, copyExample, REPO } from "../helpers/cli.js";
import { tempDir } from "../helpers/procs.js";

const ENV = { ...process.env, CI: "1", NO_COLOR: "1" };

/**
 * The built-in modules among `names` that a command had loaded when it exited, however they were
 * loaded (an import, `process.getBuiltinModule`, or Node itself), read from `process.moduleLoadList`.
 */
function builtinsLoaded(args: string[], cwd: string, names: string[]): string[] {
  const preload = join(tempDir(), "report.cjs");
  writeFileSync(
    preload,
    `process.on("exit", () => require("node:fs").writeSync(2, "\\nLOADED " + JSON.stringify(process.moduleLoadList) + "\\n"));\n`,
  );
  const r = spawnSync(process.execPath, ["-r", preload, BIN, ...args], { cwd, env: ENV, encoding: "utf8" });
  if (r.status !== 0) throw new Error(`${args.join(" ")} exited ${r.status}: ${r.stderr}`);
  const line = r.stderr.split("\n").find((l) => l.startsWith("LOADED "));
  const loaded = JSON.parse(line!.slice("LOADED ".length)) as string[];
  return names.filter((n) => loaded.includes(`NativeModule ${n}`));
}

/** Our modules a command loaded, as paths under dist/ (`cli/commands/run.js`). */
function distModules(args: string[], cwd: string, env: NodeJS.ProcessEnv = ENV): string[] {
  return loadedModules(process.execPath, [BIN, ...args], cwd, env)
    .urls.filter((u) => u.startsWith("file:") && u.includes("/dist/") && !u.includes("/node_modules/"))
    .map((u) => u.slice(u.lastIndexOf("/dist/") + "/dist/".length))
    .sort();
}

describe("start-up: a command loads what it needs", () => {
  it("--version and -V print the package's version, as commander did", async () => {
    const { version } = JSON.parse(readFileSync(`${REPO}/package.json`, "utf8")) as { version: string };
    for (const flag of ["--version", "-V"]) {
      const r = await cli([flag]);
      expect(r).toMatchObject({ code: 0, stdout: `${version}\n`, stderr: "" });
    }
    // Answered by the bundle the bin loads first (cli/fast-answer.ts), before any ES module.
    expect(distModules(["--version"], REPO)).toEqual(["cli/fast-answer.cjs"]);
  });

  it("--help lists every command, each registered from its own module", async () => {
    const r = await cli(["--help"]);
    expect(r.code).toBe(0);
    const commands = ["run", "check", "plan", "graph", "explain", "logs", "report", "clean", "cache"];
    for (const c of [...commands, "worker", "exec", "serve"])
      expect(r.stdout).toMatch(new RegExp(`\\n  ${c} `));
    // No helper of an action: those load when a command runs.
    expect(distModules(["--help"], REPO).filter((m) => !m.startsWith("cli/commands/"))).toEqual(
      [
        "cli/fast-answer.cjs",
        "cli/bin.js",
        "cli/start.js",
        "cli/main.js",
        "cli/streams.js",
        "cli/program.js",
        "cli/commander.js",
        "cli/exit-codes.js",
        "engine/user-error.js",
        "project/version.js",
        "cli/options.js",
        "cli/flag-settings.js",
      ].sort(),
    );
  });

  it("a snapshot-fresh run is answered by the first bundle alone; a changed one runs from the second", async () => {
    const dir = copyExample("words");
    expect((await cli(["run"], { cwd: dir })).code).toBe(0);
    expect(distModules(["run"], dir)).toEqual(["cli/fast-answer.cjs"]);
    expect(distModules(["run", "-j", "2"], dir)).toEqual(["cli/fast-answer.cjs"]);
    expect(distModules(["run", "-q"], dir)).toEqual(["cli/fast-answer.cjs"]);
    // Any other option goes to the full CLI.
    expect(distModules(["run", "--json"], dir)).toContain("cli/commands/run.js");
    writeFileSync(join(dir, "texts", "delta.txt"), "a changed text\n");
    // The quick run's command lines run from dist/cli/run.cjs, without an ES module of ours.
    expect(distModules(["run"], dir)).toEqual(["cli/fast-answer.cjs", "cli/run.cjs"]);
    expect(distModules(["run"], dir)).toEqual(["cli/fast-answer.cjs"]);
  });

  it("a snapshot-fresh run through the full CLI loads neither the language, the engine, executors, remote code nor other commands", async () => {
    const dir = copyExample("words");
    // An option outside the quick run's (the default schedule, named) loads the ES modules.
    const args = ["run", "--schedule", "eager"];
    for (let k = 0; k < 2; k++) expect((await cli(args, { cwd: dir })).code).toBe(0);
    const loaded = distModules(args, dir);
    expect(loaded).toContain("cache/run-snapshot.js");
    expect(loaded).toContain("reporters/plain.js");
    const unwanted = loaded.filter((m) =>
      /^(language|executors|serve)\/|^engine\/(run|scheduler)\.js$|^project\/(run|remote|watch)\.js$|^cli\/commands\/(?!run\.js$)|^reporters\/(tty|html)/.test(
        m,
      ),
    );
    expect(unwanted).toEqual([]);
  });

  it("a run whose steps are all TS functions spawns nothing and loads none of what spawning needs", async () => {
    const dir = copyExample("profile");
    const spawning = ["child_process", "dgram", "readline"];
    // The first run transpiles the module, and esbuild is a process of its own.
    expect((await cli(["run", "profile.flow", "-q"], { cwd: dir })).code).toBe(0);
    expect(builtinsLoaded(["run", "profile.flow", "--no-cache", "-q"], dir, spawning)).toEqual([]);
    // The same check sees them where a step does spawn.
    writeFileSync(join(dir, "sh.flow"), 'greeting = sh("echo hi")\nout greeting\n');
    expect(builtinsLoaded(["run", "sh.flow", "--no-cache", "-q"], dir, spawning)).toEqual(spawning);
  });
});
