/**
 * Fan-out (issue 12): the `for NAME in LIST: CALL` construct of the flow language and `t.map` of the TS
 * API beside the tools people use for the same job, all run in this invocation:
 *
 * 1. a map of a trivial command over 10,000 lines at -j2, beside `xargs -P2` and GNU `parallel -j2`;
 * 2. a 1,000-source pattern-rule build (a cheap stand-in for `cc -c`), beside a make pattern rule and a
 *    generated build.ninja: clean, no-op, one source edited, one source touched; what reran, counted by
 *    the log every compile appends to and, for Tributary, by its `--json` events;
 * 3. `t.map` of an async function (sleep 20 ms) over 2,000 items at concurrency 64, beside p-limit +
 *    Promise.all.
 *
 * The fixtures are in bench/fanout/fixtures.ts. Each part reports its own failure and the others still run.
 */
import { rmSync, utimesSync } from "node:fs";
import { join } from "node:path";
import {
  editSource,
  flowSupported,
  logLines,
  mapFixture,
  resetRule,
  ruleFixture,
  ruleSource,
  wrongObjects,
  type RuleFixture,
} from "../fanout/fixtures.js";
import { ensureGnuParallel } from "../fanout/gnu-parallel.js";
import { tributaryCli } from "../peers.js";
import { fmt, heading, median, mustTime, progress, table, type Timed } from "../util.js";
import { check, checkDist, REPO, repsOf, type SectionOptions } from "./common.js";

/** The id of an item of a `for`: `objs[src/c0001.c]`. */
const ITEM_ID = /\[.+\]$/;
const NEEDS_FOR = "needs the `for` construct (not in this build)";
const J = 2;

export function fanoutSection(o: SectionOptions): string {
  const warning = checkDist();
  const cli = tributaryCli();
  const parts: string[] = [];
  for (const [name, part] of [
    ["map", () => mapPart(o, cli)],
    ["pattern rule", () => rulePart(o, cli)],
    ["async map", () => asyncPart(o)],
  ] as const) {
    try {
      parts.push(part());
    } catch (err) {
      parts.push(`#### fan-out: ${name}\n\n**failed:** ${(err as Error).stack ?? String(err)}`);
    }
  }
  return [
    heading(
      "Fan-out: `for … in …` over commands, and `t.map` over an async function (issue 12)",
      "Three benchmarks, each beside its peers run in this invocation, interleaved (every rep runs each tool once).",
    ),
    ...(warning ? [warning] : []),
    parts.join("\n\n"),
  ].join("\n");
}

// ---------------------------------------------------------------------------------------------------
// 1. A map of a trivial command

interface RunEnd {
  ok: boolean;
  summary: { total: number; ok: number; cached: number; failed: number };
  outputs?: Record<string, unknown>;
}

/**
 * The events of a `tributary run --json`: the run-end line, the ids of the step-ends that ran (not restored
 * from the cache), and how many were restored.
 */
function events(stdout: string): { end: RunEnd | undefined; ran: string[]; restored: number } {
  let end: RunEnd | undefined;
  const ran: string[] = [];
  let restored = 0;
  for (const line of stdout.split("\n")) {
    if (!line.startsWith("{")) continue;
    const e = JSON.parse(line) as { type: string; id?: string; cached?: boolean; attempts?: number };
    if (e.type === "run-end") end = e as unknown as RunEnd;
    else if (e.type === "step-end") {
      if (e.cached) restored++;
      else if ((e.attempts ?? 0) > 0) ran.push(e.id!);
    }
  }
  return { end, ran, restored };
}

const lineCount = (path: string, cwd: string): number =>
  Number(mustTime(`wc -l < ${path}`, cwd, "count lines").stdout.trim());

function mapPart(o: SectionOptions, cli: string): string {
  const n = o.quick ? 2000 : 10_000;
  const reps = repsOf(o, 2);
  // GNU parallel costs ~10 ms an item here (100 s for 10,000): one rep unless --reps says otherwise.
  const parallelReps = o.reps ?? 1;
  progress(`fanout: map of ${n} items, fixture`);
  const fx = mapFixture(n);
  const gnu = ensureGnuParallel();
  const flowOk = flowSupported(cli, fx.dir, fx.flow);

  interface Tool {
    name: string;
    cmd: string;
    reps: number;
    /** Untimed, before each run. */
    reset?: () => void;
    /** Throws when the run did not do every item. */
    verify?: (r: Timed) => void;
    missing?: string;
  }
  const outputLines = (file: string) => () => {
    const got = lineCount(file, fx.dir);
    if (got !== n) throw new Error(`${file}: ${got} lines, expected ${n}`);
  };
  const tools: Tool[] = [
    {
      name: `xargs -P${J}`,
      cmd: `xargs -d '\\n' -n1 -P${J} echo < list.txt > out-xargs.txt`,
      reps,
      verify: outputLines("out-xargs.txt"),
    },
    {
      name: `GNU parallel -j${J}`,
      cmd: `parallel --will-cite -j${J} echo :::: list.txt > out-parallel.txt`,
      reps: parallelReps,
      verify: outputLines("out-parallel.txt"),
      missing: gnu.ok
        ? undefined
        : `**NOT INSTALLED**: \`apt-get install -y parallel\` failed (${gnu.reason})`,
    },
    {
      name: `**tributary** -j${J} (cache emptied first)`,
      cmd: `${cli} run ${fx.flow} -j ${J} --quiet`,
      reps,
      reset: () => rmSync(join(fx.dir, ".tributary"), { recursive: true, force: true }),
      missing: flowOk.ok ? undefined : NEEDS_FOR,
    },
  ];
  const times = new Map<string, Timed[]>(tools.map((t) => [t.name, []]));
  const maxReps = Math.max(...tools.map((t) => t.reps));
  for (let rep = 0; rep < maxReps; rep++) {
    for (const t of tools) {
      if (t.missing || rep >= t.reps) continue;
      progress(`fanout: map, ${t.name.replace(/\*/g, "")}, rep ${rep + 1}/${t.reps}`);
      t.reset?.();
      const r = mustTime(t.cmd, fx.dir, `fanout map: ${t.name}`);
      t.verify?.(r);
      times.get(t.name)!.push(r);
    }
  }

  // Tributary: the same run again with everything cached (timed), then once more with --json to check
  // that every item ran and was recorded.
  let cachedMs: number | undefined;
  let verified = "";
  if (flowOk.ok) {
    progress("fanout: map, tributary rerun with everything cached");
    cachedMs = mustTime(`${cli} run ${fx.flow} -j ${J} --quiet`, fx.dir, "fanout map: cached rerun").ms;
    const { end } = events(
      mustTime(`${cli} run ${fx.flow} -j ${J} --json`, fx.dir, "fanout map: --json").stdout,
    );
    const value = end?.outputs?.lens;
    const items = Array.isArray(value) ? value.length : undefined;
    if (!end?.ok || items !== n) {
      throw new Error(
        `fanout map: tributary's value has ${items} items, expected ${n} (${JSON.stringify(end?.summary)})`,
      );
    }
    verified = `Tributary checked: its value \`lens\` holds ${n.toLocaleString("en")} results (${end.summary.cached.toLocaleString("en")} steps restored on the \`--json\` rerun).`;
  }

  const wall = (name: string): number => median(times.get(name)!.map((r) => r.ms));
  const xargsMs = wall(tools[0]!.name);
  const rows = tools.map((t) => {
    if (t.missing) return [t.name, t.missing, "", "", ""];
    const ms = wall(t.name);
    const rss = median(times.get(t.name)!.map((r) => r.rssKb ?? NaN));
    return [t.name, fmt.ms(ms), (ms / n).toFixed(2), fmt.ratio(ms / xargsMs), fmt.mib(rss)];
  });
  if (cachedMs !== undefined) {
    rows.push([
      "_tributary, rerun with every item cached_",
      fmt.ms(cachedMs),
      (cachedMs / n).toFixed(3),
      fmt.ratio(cachedMs / xargsMs),
      "",
    ]);
  }
  const notes = [
    verified.trim(),
    flowOk.ok ? "" : `Tributary: ${NEEDS_FOR}; \`tributary check\` on the flow says: \`${flowOk.reason}\`.`,
    gnu.ok ? "" : `**GNU parallel is missing and could not be installed: its row is empty.** ${gnu.reason}`,
  ].filter(Boolean);
  return [
    `#### 1. Map of a trivial command: ${n.toLocaleString("en")} items at -j${J}`,
    "",
    `\`echo ITEM\` for every line of list.txt (${n.toLocaleString("en")} lines${o.quick ? "; 10,000 without --quick" : ""}); ` +
      `every tool writes the ${n.toLocaleString("en")} outputs (xargs and parallel to a file, Tributary as the step's value in its cache). ` +
      `Tributary: \`lens = for line in lines(file("list.txt")): exec("echo", line)\`, \`--quiet\`. ` +
      `Median of ${plural(reps, "rep")} (GNU parallel: ${plural(parallelReps, "rep")}); wall around the whole command incl. \`/usr/bin/time\`` +
      `${gnu.ok ? `; ${gnu.version}${gnu.installed ? ", installed by this run with apt-get" : ""}, with --will-cite` : ""}.`,
    "",
    table(["tool", "wall", "ms/item", "÷ xargs", "peak RSS MiB"], rows),
    ...(notes.length > 0 ? ["", notes.join(" ")] : []),
  ].join("\n");
}

const plural = (k: number, what: string): string => `${k} ${what}${k === 1 ? "" : "s"}`;

// ---------------------------------------------------------------------------------------------------
// 2. A pattern-rule build

interface RuleTool {
  name: string;
  key: string;
  cmd: string;
  /** Tool state deleted before a clean build. */
  state: string[];
  /** Counts what ran from the `--json` events too. */
  json: boolean;
  /** Steps of a `for`: only items (`objs[src/c0001.c]`) count as ran, not the step that lists them. */
  items?: boolean;
  /** Content, not mtimes: a touch without a change reruns nothing. */
  byContent: boolean;
  missing?: string;
  /** The row the targets are checked on. */
  target?: boolean;
  /** A row for reference: one clean build, whatever the reps. */
  reference?: boolean;
}

interface Sample {
  ms: number;
  /** Compiles appended to the log during the run. */
  logged: number;
  /** Steps that ran, from the events (Tributary). */
  ran?: number;
  restored?: number;
}

function rulePart(o: SectionOptions, cli: string): string {
  const n = 1000;
  const cleanReps = repsOf(o, 2, 1);
  const reps = repsOf(o, 5, 2);
  const edited = n / 2;
  const tools: RuleTool[] = [
    {
      name: `make -rR -j${J}`,
      key: "make",
      cmd: `make -rR -s -j${J} all`,
      state: [],
      json: false,
      byContent: false,
    },
    {
      name: `ninja -j${J}`,
      key: "ninja",
      cmd: `ninja --quiet -j${J}`,
      state: [".ninja_log", ".ninja_deps"],
      json: false,
      byContent: false,
    },
    {
      name: `**tributary** -j${J}, \`for c in glob("src/*.c")\``,
      key: "tributary",
      cmd: `${cli} run pipeline.flow -j ${J} --json`,
      state: [".tributary"],
      json: true,
      items: true,
      byContent: true,
      target: true,
    },
    {
      name: `_tributary -j${J}, one \`sh\` line per source (no \`for\`)_`,
      key: "tributary-unrolled",
      cmd: `${cli} run unrolled.flow -j ${J} --json`,
      state: [".tributary"],
      json: true,
      byContent: true,
      reference: true,
    },
  ];
  progress(`fanout: pattern rule, ${n} sources per tool`);
  const fixtures = new Map<RuleTool, RuleFixture>(tools.map((t) => [t, ruleFixture(n, t.key)]));
  const tFor = tools[2]!;
  const supported = flowSupported(cli, fixtures.get(tFor)!.dir, "pipeline.flow");
  if (!supported.ok) tFor.missing = NEEDS_FOR;
  const active = tools.filter((t) => !t.missing);

  const once = (t: RuleTool, what: string): Sample => {
    const f = fixtures.get(t)!;
    const before = logLines(f.dir).length;
    const r = mustTime(t.cmd, f.dir, `fanout rule: ${t.name} ${what}`);
    const s: Sample = { ms: r.ms, logged: logLines(f.dir).length - before };
    if (t.json) {
      const ev = events(r.stdout);
      if (!ev.end?.ok) throw new Error(`fanout rule: ${t.name} ${what}: the run did not end ok`);
      s.ran = t.items ? ev.ran.filter((id) => ITEM_ID.test(id)).length : ev.ran.length;
      s.restored = ev.end.summary.cached;
    }
    const wrong = wrongObjects(f);
    if (wrong.length > 0) {
      throw new Error(
        `fanout rule: ${t.name} ${what}: ${wrong.length} objects missing or stale (${wrong.slice(0, 3).join(", ")})`,
      );
    }
    return s;
  };

  const clean = new Map<RuleTool, Sample[]>(active.map((t) => [t, []]));
  const noop = new Map<RuleTool, Sample[]>(active.map((t) => [t, []]));
  const edit = new Map<RuleTool, Sample[]>(active.map((t) => [t, []]));
  const touch = new Map<RuleTool, Sample[]>(active.map((t) => [t, []]));
  for (let rep = 0; rep < cleanReps; rep++) {
    for (const t of active) {
      if (t.reference && rep > 0) continue;
      progress(`fanout: pattern rule, ${t.name.replace(/[*_`]/g, "")} clean build ${rep + 1}/${cleanReps}`);
      resetRule(fixtures.get(t)!.dir, t.state);
      clean.get(t)!.push(once(t, "clean build"));
    }
  }
  for (let rep = 0; rep < reps; rep++) {
    progress(`fanout: pattern rule, no-op / edit one / touch one, rep ${rep + 1}/${reps}`);
    for (const t of active) noop.get(t)!.push(once(t, "no-op"));
    for (const t of active) {
      editSource(fixtures.get(t)!.dir, edited, `edit ${rep + 1}`);
      edit.get(t)!.push(once(t, `edit ${ruleSource(edited)}`));
    }
    for (const t of active) {
      const now = new Date();
      utimesSync(join(fixtures.get(t)!.dir, ruleSource(edited)), now, now);
      touch.get(t)!.push(once(t, `touch ${ruleSource(edited)}`));
    }
  }

  const med = (m: Map<RuleTool, Sample[]>, t: RuleTool): number => median(m.get(t)!.map((s) => s.ms));
  /** What reran, every rep: "1" when all agree, else the list. */
  const reran = (ss: Sample[], pick: (s: Sample) => number | undefined): string => {
    const v = [...new Set(ss.map(pick))];
    return v.length === 1 ? String(v[0]) : v.join("/");
  };
  const makeTool = tools[0]!;
  const makeNoop = med(noop, makeTool);
  const rows = tools.map((t) => {
    if (t.missing) return [t.name, t.missing, "", "", "", "", "", ""];
    const ran = (m: Map<RuleTool, Sample[]>): string =>
      t.json
        ? `${reran(m.get(t)!, (s) => s.logged)} (events: ${t.items ? "items" : "steps"} ran ${reran(m.get(t)!, (s) => s.ran)}, restored ${reran(m.get(t)!, (s) => s.restored)})`
        : reran(m.get(t)!, (s) => s.logged);
    return [
      t.name,
      fmt.ms(med(clean, t)),
      reran(clean.get(t)!, (s) => s.logged),
      fmt.ms(med(noop, t)),
      fmt.ratio(med(noop, t) / makeNoop),
      `${fmt.ms(med(edit, t))}, reran ${ran(edit)}`,
      `${fmt.ms(med(touch, t))}, reran ${ran(touch)}`,
      reran(noop.get(t)!, (s) => s.logged),
    ];
  });

  const verdicts: string[] = [];
  for (const t of active.filter((x) => x.target)) {
    const noopOk = med(noop, t) <= makeNoop;
    const oneOk = edit.get(t)!.every((s) => s.logged === 1 && (s.ran === undefined || s.ran === 1));
    // What a no-op cannot go below: starting the CLI (Node start-up and the CLI's imports).
    const startMs = median([0, 1, 2].map(() => mustTime(`${cli} --version`, REPO, "tributary --version").ms));
    verdicts.push(
      `Targets (${t.name}): no-op ≤ make: ${check(noopOk)} (${fmt.ratio(med(noop, t) / makeNoop)}×; ` +
        `\`tributary --version\` alone takes ${fmt.ms(startMs)} here); ` +
        `editing one source reruns exactly one item: ${check(oneOk)}.`,
    );
  }
  if (tFor.missing) {
    verdicts.push(
      `Tributary with \`for\`: ${NEEDS_FOR}; \`tributary check\` on the flow says: \`${supported.reason}\`. ` +
        "The italic row is the same build written without it, for reference.",
    );
  }
  for (const t of active) {
    const bad = edit.get(t)!.some((s) => s.logged !== 1) || noop.get(t)!.some((s) => s.logged !== 0);
    if (bad) verdicts.push(`**${t.name} reran the wrong number of items** (see the table).`);
  }

  return [
    `#### 2. Pattern-rule build: ${n.toLocaleString("en")} C-like sources at -j${J}`,
    "",
    `Every item \`cp src/X.c build/X.o && echo src/X.c >> log/runs.txt\` (a stand-in for \`cc -c\`, the same ` +
      "shell line for every tool); make: one pattern rule `build/%.o: src/%.c` over `$(wildcard src/*.c)`; ninja: one rule " +
      'and 1,000 build lines; Tributary: `objs = for c in glob("src/*.c"): sh("cp ${c} ${output("build/${c.stem}.o")} && …")`, ' +
      `with \`--json\` (its events say what ran). Clean: build/, log/ and the tool's state deleted first (untimed), median of ${plural(cleanReps, "rep")} (the italic reference row: 1); ` +
      `no-op, edit and touch: median of ${plural(reps, "rep")}. "Edit one": a line appended to ${ruleSource(edited)} (content and mtime change); ` +
      '"touch one": its mtime alone changes (make and ninja rebuild it, Tributary compares content). ' +
      "Reran = lines the compiles appended to the log (every rep; a/b when reps differ); for Tributary also step-ends in its `--json` events " +
      "(steps that ran; restored = the run's cached count). Every output is checked against its source after every run.",
    "",
    table(
      [
        "tool",
        "clean",
        "clean: ran",
        "no-op",
        "no-op ÷ make",
        "edit one: wall, reran",
        "touch one: wall, reran",
        "no-op: ran",
      ],
      rows,
    ),
    "",
    verdicts.join(" "),
  ].join("\n");
}

// ---------------------------------------------------------------------------------------------------
// 3. t.map of an async function

interface MapAsyncResult {
  ok: boolean;
  steps: number;
  runMs: number;
  peakRssKb: number;
}

function asyncPart(o: SectionOptions): string {
  const n = 2000;
  const sleepMs = 20;
  const concurrency = 64;
  const reps = repsOf(o, 5, 2);
  const bound = Math.ceil(n / concurrency) * sleepMs;
  const entries = [
    {
      name: "p-limit + `Promise.all` (hand-written)",
      cmd: `node ${join(REPO, "bench", "fanout", "p-limit-peer.mjs")}`,
    },
    {
      name: "**tributary** `t.map` + `t.run(…, { concurrency })`",
      cmd: `node ${join(REPO, "bench", "child.mjs")} map-async`,
    },
  ];
  const samples = new Map<string, { wallMs: number; res: MapAsyncResult }[]>(
    entries.map((e) => [e.name, []]),
  );
  for (let rep = 0; rep < reps; rep++) {
    progress(`fanout: async map, rep ${rep + 1}/${reps}`);
    for (const e of entries) {
      const r = mustTime(`${e.cmd} ${n} ${sleepMs} ${concurrency}`, REPO, `fanout async map: ${e.name}`);
      const res = JSON.parse(r.stdout) as MapAsyncResult;
      if (!res.ok) throw new Error(`fanout async map: ${e.name} did not return every value`);
      samples.get(e.name)!.push({ wallMs: r.ms, res });
    }
  }
  const wall = (name: string): number => median(samples.get(name)!.map((s) => s.wallMs));
  const run = (name: string): number => median(samples.get(name)!.map((s) => s.res.runMs));
  const [peer, engine] = entries.map((e) => e.name) as [string, string];
  const rows = entries.map((e) => [
    e.name,
    fmt.ms(wall(e.name)),
    fmt.ratio(wall(e.name) / wall(peer)),
    fmt.ms(run(e.name)),
    fmt.ratio(run(e.name) / run(peer)),
    fmt.ratio(run(e.name) / bound),
    fmt.mib(median(samples.get(e.name)!.map((s) => s.res.peakRssKb))),
  ]);
  const runRatio = run(engine) / run(peer);
  const wallRatio = wall(engine) / wall(peer);
  return [
    `#### 3. Map of an async TS function: ${n.toLocaleString("en")} items, sleep ${sleepMs} ms, concurrency ${concurrency}`,
    "",
    `\`t.map("items", list, work)\` run with \`{ concurrency: ${concurrency} }\` on the built engine (bench/child.mjs) beside ` +
      `bench/fanout/p-limit-peer.mjs (\`pLimit(${concurrency})\` + \`Promise.all\`); both plain Node processes, one per tool and ` +
      `rep, median of ${plural(reps, "rep")}. Wall = the whole process (Node start-up and imports: the engine's modules against p-limit's one); ` +
      `run = from building the list of calls to having every value, timed inside the process. ` +
      `Bound: ⌈${n} / ${concurrency}⌉ × ${sleepMs} ms = ${bound} ms.`,
    "",
    table(["tool", "wall", "wall ÷ p-limit", "run", "run ÷ p-limit", "run ÷ bound", "peak RSS MiB"], rows),
    "",
    `Target ≤ 1.1× p-limit: run ${check(runRatio <= 1.1)} (${fmt.ratio(runRatio)}×); whole process ${check(wallRatio <= 1.1)} (${fmt.ratio(wallRatio)}×).`,
  ].join("\n");
}
