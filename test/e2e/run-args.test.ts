import type { Command } from "commander";
import { describe, expect, it } from "vitest";
import { buildProgram } from "../../src/cli/program.js";
import { parsePlainRun, runFlagsOf, type PlainRun } from "../../src/cli/run-args.js";

/** What commander makes of a command line: the `run` action's arguments, or undefined if it refused. */
function viaCommander(argv: string[]): PlainRun | undefined {
  const program = buildProgram();
  const mute = (c: Command) => c.configureOutput({ writeOut: () => {}, writeErr: () => {} });
  mute(program);
  program.commands.forEach(mute);
  let got: PlainRun | undefined;
  program.commands
    .find((c) => c.name() === "run")!
    .action((file: string | undefined, flags: Parameters<typeof runFlagsOf>[0]) => {
      got = { file, flags: runFlagsOf(flags) };
    });
  try {
    program.parse(argv, { from: "user" });
  } catch {
    return undefined;
  }
  return got;
}

const TOKENS = [
  "pipeline.flow",
  "x.flow",
  "-q",
  "--quiet",
  "--json",
  "-v",
  "--verbose",
  "--fail-fast",
  "-j",
  "2",
  "-j2",
  "--jobs",
  "--jobs=3",
  "--jobs=",
  "--parallel",
  "--parallel=5",
  "-i",
  "a=1",
  "b=2",
  "-ia=1",
  "--input",
  "--input=c=3",
  "-",
  "",
  "--",
  "-h",
  "--help",
  "-V",
  "-qv",
  "-q2",
  "--quiet=1",
  "-5",
  "--no-cache",
  "-n",
  "--schedule",
  "fifo",
  "--remote",
];

/** A small deterministic generator, so a failure can be reproduced. */
function random(seed: number): () => number {
  return () => {
    seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
    return seed / 2 ** 32;
  };
}

describe("parsePlainRun", () => {
  it("takes the usual run command lines", () => {
    for (const argv of [
      ["run"],
      ["run", "pipeline.flow", "-j2", "--quiet"],
      ["run", "--json", "-j", "4", "x.flow"],
      ["run", "-i", "a=1", "b=2", "-q"],
      ["run", "--input", "a=1", "--verbose", "--parallel", "3"],
    ]) {
      expect(parsePlainRun(argv), argv.join(" ")).toBeDefined();
    }
  });

  it("leaves help, version, other commands and other options to commander", () => {
    for (const argv of [
      [],
      ["check"],
      ["run", "--help"],
      ["run", "-h"],
      ["run", "-V"],
      ["run", "--no-cache"],
      ["run", "--schedule", "fifo"],
      ["run", "a.flow", "b.flow"],
      ["run", "-j"],
      ["run", "--"],
    ]) {
      expect(parsePlainRun(argv), argv.join(" ")).toBeUndefined();
    }
  });

  it("gives exactly what commander gives, for every command line it takes", () => {
    const next = random(7);
    let taken = 0;
    for (let n = 0; n < 3000; n++) {
      const argv = ["run"];
      const length = Math.floor(next() * 7);
      for (let k = 0; k < length; k++) argv.push(TOKENS[Math.floor(next() * TOKENS.length)]!);
      const plain = parsePlainRun(argv);
      if (!plain) continue;
      taken++;
      expect(plain, JSON.stringify(argv)).toEqual(viaCommander(argv));
    }
    // The comparison means something only if many lines were taken.
    expect(taken).toBeGreaterThan(500);
  });
});
