/**
 * `npm run bench`: Tributary beside make, ninja and xargs -P on the shared workloads, in one invocation.
 * Prints markdown to stdout (progress goes to stderr).
 *
 *     tsx bench/run.ts [--only stg,inprocess,spawn,fanout,w1-peers,chain-peers,w4-peers,w3-peers,w2-peers,language,exec,startup,hashing,remote,remote-cache,serve,jobserver,report]
 *                      [--reps N] [--quick]
 *                      [--tools make,ninja,xargs,tributary]
 *
 * Environment: TRIBUTARY_BENCH_DIST (a build dir for bench/child.mjs instead of dist/),
 * TRIBUTARY_BENCH_CLI (the command for the tributary tool instead of `node bin/tributary.js`). The workloads
 * and STG graphs are read from bench/data. See bench/README.md.
 */
import { spawnSync } from "node:child_process";
import { cpus, hostname, loadavg, totalmem } from "node:os";
import { parseArgs } from "node:util";
import { make, ninja, tributaryCliBuilt, tributaryRunner, xargs, type ToolRunner } from "./peers.js";
import type { SectionOptions } from "./sections/common.js";
import { fanoutSection } from "./sections/fanout.js";
import { inprocessSection } from "./sections/inprocess.js";
import { jobserverSection } from "./sections/jobserver.js";
import { spawnSection } from "./sections/spawn.js";
import { stgSection } from "./sections/stg.js";
import { chainSection, w1Section, w2Section, w3Section, w4Section } from "./sections/workloads.js";
import { formatRows, hashingBench } from "./hashing.js";
import { remoteCacheBench } from "./remote-cache.js";
import { remoteBench } from "./remote.js";
import { languageSection } from "./sections/language.js";
import { execSection } from "./sections/exec.js";
import { serveSection } from "./sections/serve.js";
import { reportSection } from "./sections/report.js";
import { startupSection } from "./sections/startup.js";
import { heading, progress } from "./util.js";

/** Tools that build the shared workloads (W1-W4), by --tools name. */
const TOOLS: Record<string, () => ToolRunner> = {
  make: () => make,
  ninja: () => ninja,
  xargs: () => xargs,
  // `tributary run pipeline.flow -j N` on the flow file bench/flowgen.ts writes into each work dir.
  tributary: () => {
    if (!tributaryCliBuilt())
      throw new Error("--tools tributary: dist/cli/bin.js is missing: run `npm run build`");
    return tributaryRunner();
  },
};
const DEFAULT_TOOLS = ["make", "ninja", "xargs", "tributary"];

/** Sections in run order; a section may be async (e.g. `hashing: async () => formatRows(await hashingBench())`). */
const SECTIONS: Record<string, (o: SectionOptions) => string | Promise<string>> = {
  stg: () => stgSection(),
  inprocess: inprocessSection,
  spawn: spawnSection,
  fanout: fanoutSection,
  "w1-peers": (o) => w1Section(o),
  "chain-peers": (o) => chainSection(o),
  "w4-peers": (o) => w4Section(o),
  "w3-peers": (o) => w3Section(o),
  "w2-peers": (o) => w2Section(o),
  language: languageSection,
  exec: execSection,
  startup: startupSection,
  report: reportSection,
  hashing: async (o) =>
    heading(
      "Hashing: content digests of 1 GB of files",
      "Random data in 64 MiB files read from the page cache (the hash, not the disk), best of two passes; " +
        "then 4,000 files of 4 kB with SHA-256, where per-file cost dominates. The cache uses SHA-256 (see docs/caching.md).",
    ) + formatRows(await hashingBench({ mb: o.quick ? 256 : 1024, onProgress: progress })),
  remote: (o) => remoteBench({ quick: o.quick }),
  "remote-cache": (o) => remoteCacheBench({ quick: o.quick, log: progress }),
  serve: serveSection,
  jobserver: jobserverSection,
};

function usage(msg: string): never {
  process.stderr.write(
    `${msg}\nusage: bench/run.ts [--only ${Object.keys(SECTIONS).join(",")}] [--reps N] [--quick] ` +
      `[--tools ${Object.keys(TOOLS).join(",")}]\n`,
  );
  process.exit(2);
}

function version(cmd: string, args: string[]): string {
  const r = spawnSync(cmd, args, { encoding: "utf8" });
  return r.status === 0 ? r.stdout.split("\n")[0]!.trim() : "not found";
}

/** Median wall time of `node -e 0` over 5 runs, ms. */
function nodeStartMs(): number {
  const times: number[] = [];
  for (let k = 0; k < 5; k++) {
    const t0 = performance.now();
    spawnSync(process.execPath, ["-e", "0"]);
    times.push(performance.now() - t0);
  }
  return times.sort((a, b) => a - b)[2]!;
}

/**
 * NODE_EXTRA_CA_CERTS (set in some sandboxes; no build needs it) makes every Node process read a
 * certificate bundle first, tens of ms that would hide the CLI's own cost: no child of the harness gets it.
 */
function dropSandboxCertificates(): string {
  if (process.env.NODE_EXTRA_CA_CERTS === undefined) return "";
  delete process.env.NODE_EXTRA_CA_CERTS;
  return " (every command below runs without the NODE_EXTRA_CA_CERTS this environment sets)";
}

const load = (): string =>
  loadavg()
    .map((l) => l.toFixed(2))
    .join(" / ");

async function main(): Promise<void> {
  let values;
  try {
    ({ values } = parseArgs({
      options: {
        only: { type: "string" },
        reps: { type: "string" },
        quick: { type: "boolean", default: false },
        tools: { type: "string" },
        help: { type: "boolean", short: "h", default: false },
      },
    }));
  } catch (err) {
    usage((err as Error).message);
  }
  if (values.help) usage("Tributary benchmarks");
  const only = values.only ? values.only.split(",").map((s) => s.trim()) : Object.keys(SECTIONS);
  for (const s of only) if (!SECTIONS[s]) usage(`unknown section "${s}"`);
  let reps: number | undefined;
  if (values.reps !== undefined) {
    reps = Number(values.reps);
    if (!Number.isInteger(reps) || reps < 1) usage(`--reps needs a whole number ≥ 1, got ${values.reps}`);
  }
  const toolNames = values.tools ? values.tools.split(",").map((s) => s.trim()) : DEFAULT_TOOLS;
  for (const t of toolNames) if (!TOOLS[t]) usage(`unknown tool "${t}"`);
  const options: SectionOptions = { reps, quick: values.quick, tools: toolNames.map((t) => TOOLS[t]!()) };

  const sandbox = dropSandboxCertificates();
  const cpu = cpus();
  const t0 = performance.now();
  console.log("## Tributary benchmarks\n");
  console.log(
    `${new Date().toISOString()} on ${hostname()}: ${cpu.length} × ${cpu[0]?.model.trim() ?? "?"}, ` +
      `${(totalmem() / 2 ** 30).toFixed(0)} GiB; Node ${process.version}; ${version("make", ["--version"])}; ` +
      `ninja ${version("ninja", ["--version"])}; ${version("xargs", ["--version"])}. ` +
      `Load average at start ${load()} (1/5/15 min; the machine is shared, compare ratios within a table). ` +
      `Mode: ${values.quick ? "--quick" : "default"}${reps ? `, --reps ${reps}` : ""}. Sections: ${only.join(", ")}. ` +
      `Tools for W1-W4: ${options.tools.map((t) => t.name).join(", ")}. \`node -e 0\` takes ${nodeStartMs().toFixed(0)} ms here${sandbox}.\n`,
  );
  const took: string[] = [];
  let failed = 0;
  for (const name of only) {
    const s0 = performance.now();
    progress(`section ${name}`);
    let text: string;
    try {
      text = await SECTIONS[name]!(options);
    } catch (err) {
      failed++;
      text = `### ${name}\n\n**failed:** ${(err as Error).stack ?? String(err)}`;
    }
    const secs = (performance.now() - s0) / 1000;
    took.push(`${name} ${secs.toFixed(0)} s`);
    console.log(`${text}\n`);
  }
  console.log(
    `_Total ${((performance.now() - t0) / 1000).toFixed(0)} s (${took.join(", ")}); load average at the end ${load()}._`,
  );
  if (failed > 0) process.exitCode = 1;
}

await main();
