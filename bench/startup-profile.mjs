#!/usr/bin/env node
/**
 * Where a command's start-up goes: runs it once under `node --cpu-prof` and prints the files and
 * functions with the most self time, then runs it once more counting the modules it loads (ESM and
 * CommonJS, ours, node_modules' and Node's builtins).
 *
 *     node bench/startup-profile.mjs [--top N] [--modules] -- node bin/tributary.js --version
 *     node bench/startup-profile.mjs -- node bin/tributary.js run pipeline.flow   # from a flow's dir
 *     node bench/startup-profile.mjs --before 'rm -rf out .tributary' -- node …/bin/tributary.js run pipeline.flow
 *
 * The command must start with `node`; its flags are inserted after it. --modules lists every module
 * loaded, not only the counts. --before runs a shell command before each run (e.g. a reset, to profile a
 * clean build rather than the cached rerun the first run leaves behind). The profile is left in a temporary directory, printed, for Chrome
 * DevTools or speedscope.
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { fileURLToPath, URL } from "node:url";
import { performance } from "node:perf_hooks";
import { parseArgs } from "node:util";
import { kindOf, loadedModules } from "./startup/loaded.mjs";

const { values, positionals } = parseArgs({
  options: {
    top: { type: "string", default: "15" },
    modules: { type: "boolean", default: false },
    before: { type: "string" },
  },
  allowPositionals: true,
});
const [node, ...args] = positionals;
if (node === undefined || !/(^|\/)node$/.test(node)) {
  process.stderr.write(
    "usage: node bench/startup-profile.mjs [--top N] [--modules] -- node SCRIPT [ARGS...]\n",
  );
  process.exit(2);
}
const top = Number(values.top);
const here = fileURLToPath(new URL(".", import.meta.url));
const repo = join(here, "..");
const dir = mkdtempSync(join(tmpdir(), "tributary-startup-"));

/** Runs the command with extra node flags; its output is dropped, its exit code reported. */
function run(flags, env = process.env) {
  if (values.before !== undefined) spawnSync("/bin/sh", ["-c", values.before], { stdio: "inherit" });
  const r = spawnSync(node, [...flags, ...args], {
    env,
    stdio: ["ignore", "pipe", "pipe"],
    encoding: "utf8",
  });
  if (r.error) throw r.error;
  if (r.status !== 0)
    process.stderr.write(`note: the command exited ${r.status}: ${r.stderr.slice(0, 500)}\n`);
  return r;
}

const t0 = performance.now();
run([]);
const plain = performance.now() - t0;
run(["--cpu-prof", "--cpu-prof-dir", dir, "--cpu-prof-interval", "100"]);
const file = readdirSync(dir).find((f) => f.endsWith(".cpuprofile"));
if (!file) throw new Error(`no profile written to ${dir}`);
const profile = JSON.parse(readFileSync(join(dir, file), "utf8"));

// Self time: each sample counts for the node on top of the stack, its delta to the next sample.
const selfUs = new Map();
for (let i = 0; i < profile.samples.length; i++) {
  const id = profile.samples[i];
  selfUs.set(id, (selfUs.get(id) ?? 0) + (profile.timeDeltas[i + 1] ?? 0));
}
const short = (url) => {
  if (!url) return "(native / VM)";
  if (!url.startsWith("file:")) return url;
  const p = fileURLToPath(url);
  const nm = p.lastIndexOf("node_modules/");
  return nm >= 0 ? p.slice(nm) : relative(repo, p);
};
const byFile = new Map();
const byFunction = new Map();
let total = 0;
for (const n of profile.nodes) {
  const us = selfUs.get(n.id) ?? 0;
  total += us;
  const f = short(n.callFrame.url);
  byFile.set(f, (byFile.get(f) ?? 0) + us);
  const fn = `${n.callFrame.functionName || "(anonymous)"}  ${f}:${n.callFrame.lineNumber + 1}`;
  byFunction.set(fn, (byFunction.get(fn) ?? 0) + us);
}
const ms = (us) => `${(us / 1000).toFixed(1)} ms`;
const list = (m) =>
  [...m]
    .sort((a, b) => b[1] - a[1])
    .slice(0, top)
    .map(([k, us]) => `  ${ms(us).padStart(9)}  ${((100 * us) / total).toFixed(0).padStart(3)}%  ${k}`)
    .join("\n");

if (values.before !== undefined) spawnSync("/bin/sh", ["-c", values.before], { stdio: "inherit" });
const loaded = loadedModules(node, args);
const { urls } = loaded;
process.stdout.write(
  `command: ${[node, ...args].join(" ")}\n` +
    `wall (one run, no profiler): ${plain.toFixed(0)} ms; profiled CPU: ${ms(total)}\n` +
    `modules loaded: ${loaded.ours + loaded.nodeModules} files (${loaded.ours} ours, ${loaded.nodeModules} node_modules), ${loaded.builtins} builtins imported\n` +
    (values.modules ? `${urls.map((u) => `  ${kindOf(u).padEnd(12)} ${short(u)}`).join("\n")}\n` : "") +
    `\nself time by file (top ${top}):\n${list(byFile)}\n\nself time by function (top ${top}):\n${list(byFunction)}\n` +
    `\nprofile: ${join(dir, file)}\n`,
);
