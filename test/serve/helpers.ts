import { spawn, type ChildProcess } from "node:child_process";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { BIN, copyExample } from "../helpers/cli.js";
import { eventually } from "../helpers/procs.js";

const FIXTURES = fileURLToPath(new URL(".", import.meta.url));

/** A private copy of test/serve/fixtures (flows, modules.mjs), whose modules find "tributary-flow". */
export function fixtureProject(): string {
  return copyExample("fixtures", FIXTURES);
}

export type LogLine = Record<string, any>;

export interface Served {
  url: string;
  proc: ChildProcess;
  /** Every JSON line the server wrote on stdout so far. */
  logs(): LogLine[];
  stderr(): string;
  /** Resolves with the exit code. */
  exited: Promise<number | null>;
  post(flow: string, body: unknown, init?: RequestInit): Promise<Response>;
  /** The value of a metric without labels, or of one with exactly these labels. */
  metric(name: string): Promise<number | undefined>;
}

const running = new Set<ChildProcess>();

/** Starts `tributary serve ARGS --port 0` in `cwd` (the real CLI) and waits for its "listening" line. */
export async function serve(args: string[], cwd: string): Promise<Served> {
  const proc = spawn(process.execPath, [BIN, "serve", ...args, "--port", "0"], {
    cwd,
    env: { ...process.env, CI: "1", NO_COLOR: "1" },
    stdio: ["ignore", "pipe", "pipe"],
  });
  running.add(proc);
  let out = "";
  let err = "";
  proc.stdout!.on("data", (b: Buffer) => (out += b));
  proc.stderr!.on("data", (b: Buffer) => (err += b));
  const exited = new Promise<number | null>((resolve) =>
    proc.on("exit", (code) => {
      running.delete(proc);
      resolve(code);
    }),
  );
  const logs = () =>
    out
      .split("\n")
      .filter((l) => l.startsWith("{"))
      .map((l) => JSON.parse(l) as LogLine);
  let done = false;
  void exited.then(() => (done = true));
  await eventually(() => done || logs().length > 0, 30_000);
  const first = logs()[0];
  if (first?.msg !== "listening") {
    throw new Error(`tributary serve did not start:\nstdout: ${out}\nstderr: ${err}`);
  }
  const url = first.url as string;
  return {
    url,
    proc,
    logs,
    stderr: () => err,
    exited,
    post: (flow, body, init = {}) =>
      fetch(`${url}/flows/${flow}`, {
        ...init,
        method: "POST",
        headers: { "content-type": "application/json", ...(init.headers as Record<string, string>) },
        body: typeof body === "string" ? body : JSON.stringify(body),
      }),
    metric: async (name) => {
      const text = await (await fetch(`${url}/metrics`)).text();
      const line = text.split("\n").find((l) => l.startsWith(`${name} `));
      return line === undefined ? undefined : Number(line.slice(name.length + 1));
    },
  };
}

/** Kills the servers a test left running (a failed test must not leave processes behind). */
export function killServers(): void {
  for (const p of running) p.kill("SIGKILL");
}

/** The request line logged for a trace id (written as the response ends: it may come just after it). */
export async function logLine(s: Served, traceId: string): Promise<LogLine | undefined> {
  const find = () => s.logs().find((l) => l.traceId === traceId && l.msg === "request");
  await eventually(() => find() !== undefined);
  return find();
}

/** A response's JSON body, read as the untyped data it is. */
export function json(r: Response): Promise<any> {
  return r.json() as Promise<any>;
}

/** Polls an async check until it holds (a hang guard, not a measurement). */
export async function until(check: () => Promise<boolean>, ms = 20_000): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await check()) return true;
    await new Promise((r) => setTimeout(r, 50));
  }
  return check();
}

export { eventually, join };
