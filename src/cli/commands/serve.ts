import { readFileSync } from "node:fs";
import { dirname, relative, resolve } from "node:path";
import { Option, type Command } from "../commander.js";
import { CliError, EXIT } from "../exit-codes.js";
import { inputOption, jobsOption } from "../options.js";
// Types only: the server (Fastify, prom-client) loads when the command runs, not with every command.
import type { RequestLogMode } from "../../serve/log.js";

interface ServeFlags {
  port: string;
  host: string;
  bodyLimit: string;
  timeout: string;
  maxInFlight: string;
  tokenFile?: string;
  input?: string[];
  jobs?: string;
  cache?: boolean;
  watch?: boolean;
  requestLog: RequestLogMode;
}

export function registerServe(program: Command): void {
  program
    .command("serve")
    .description(
      "serve flows over HTTP: POST /flows/<name> with the flow's inputs as JSON runs it and answers its outputs (see docs/serve.md)",
    )
    .argument("[flows...]", "the flow files to serve (default: pipeline.flow)")
    .option("-p, --port <n>", "the port to listen on (0: a free one, said in the first log line)", "7474")
    .option("--host <host>", "the address to listen on (0.0.0.0 for every interface)", "127.0.0.1")
    .option(
      "--token-file <file>",
      "require Authorization: Bearer <the file's content> on every route but /healthz and /readyz",
    )
    .option("--timeout <duration>", "cancel a run that takes longer and answer 504 (150ms, 30s, 2min)", "30s")
    .option("--max-in-flight <n>", "requests served at once; more are answered 503 with Retry-After", "256")
    .option("--body-limit <size>", "largest request body (answered 413 above it)", "1MiB")
    .addOption(fixedInputOption())
    .addOption(jobsOption("how many steps of one request may run at once"))
    .option("--cache", "reuse step results across requests by content (off by default: see docs/serve.md)")
    .option("-w, --watch", "reload a flow when its file or a module file it uses changes")
    .addOption(
      new Option(
        "--request-log <which>",
        "which requests get a log line: all, errors (answered 5xx) or none (the server's own lines are always written)",
      )
        .choices(["all", "errors", "none"])
        .default("all"),
    )
    .action(async (files: string[], flags: ServeFlags) => {
      process.exitCode = await serveCommand(files, flags);
    });
}

function fixedInputOption(): Option {
  const o = inputOption();
  o.description = "fix an `in` value for every request (requests cannot give it; repeatable)";
  return o;
}

function whole(value: string, flag: string, min: number): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < min)
    throw new CliError(`${flag} needs a whole number of at least ${min}, got "${value}"`);
  return n;
}

/** Serves until SIGINT/SIGTERM: the first drains (in-flight requests finish), a second exits at once. */
async function serveCommand(files: string[], flags: ServeFlags): Promise<number> {
  const [{ parseDuration, parseSize }, { parseInputs, parseJobs }] = await Promise.all([
    import("../../graph/units.js"),
    import("../option-values.js"),
  ]);
  const port = whole(flags.port, "--port", 0);
  if (port > 65535) throw new CliError(`--port needs a port number up to 65535, got "${flags.port}"`);
  const timeoutMs = parseDuration(flags.timeout);
  if (timeoutMs === undefined || timeoutMs <= 0)
    throw new CliError(`--timeout needs a duration such as 30s or 500ms, got "${flags.timeout}"`);
  let bodyLimit: number;
  try {
    bodyLimit = parseSize(flags.bodyLimit);
  } catch (err) {
    throw new CliError(`--body-limit: ${(err as Error).message}`);
  }
  if (bodyLimit < 1) throw new CliError(`--body-limit needs at least 1 byte, got "${flags.bodyLimit}"`);
  const { resolveFlowFile, DEFAULT_FLOW_FILE } = await import("../../project/flow.js");
  const flows = (files.length > 0 ? files : [DEFAULT_FLOW_FILE]).map((f) => resolve(resolveFlowFile(f)));
  const { importOptional, SERVING_FLOWS } = await import("../../engine/optional-dependency.js");
  const { startServer } = await importOptional(SERVING_FLOWS, () => import("../../serve/server.js"));
  // In-process steps see the project root as their working directory, as processes do (and as in
  // `run`), when the flows share one.
  const cwd = process.cwd();
  const roots = new Set(flows.map((f) => dirname(f)));
  if (roots.size === 1) process.chdir([...roots][0]!);
  const server = await withFlowErrorsOf(cwd, () =>
    startServer({
      flows,
      host: flags.host,
      port,
      bodyLimit,
      timeoutMs,
      maxInFlight: whole(flags.maxInFlight, "--max-in-flight", 1),
      token: flags.tokenFile === undefined ? undefined : readToken(flags.tokenFile),
      fixed: parseInputs(flags.input),
      cache: flags.cache === true,
      concurrency: parseJobs(flags.jobs),
      watch: flags.watch === true,
      requestLog: flags.requestLog,
    }),
  );
  await new Promise<void>((done) => {
    let signals = 0;
    const onSignal = () => {
      if (++signals === 1) void server.drain().then(done, done);
      else process.exit(EXIT.interrupted);
    };
    process.on("SIGINT", onSignal);
    process.on("SIGTERM", onSignal);
  });
  return EXIT.ok;
}

/** Runs `fn`; a flow with errors becomes every diagnostic at once, naming the file as the user did. */
async function withFlowErrorsOf<T>(cwd: string, fn: () => Promise<T>): Promise<T> {
  const [{ InvalidFlowError }, { flowErrorsText }] = await Promise.all([
    import("../../project/flow.js"),
    import("../flow-errors.js"),
  ]);
  try {
    return await fn();
  } catch (err) {
    if (!(err instanceof InvalidFlowError)) throw err;
    throw new CliError(await flowErrorsText(relative(cwd, err.file), err), EXIT.invalid);
  }
}

function readToken(file: string): string {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (err) {
    throw new CliError(
      `--token-file ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}: cannot read it`,
    );
  }
  const token = text.trim();
  if (token === "" || /\s/.test(token))
    throw new CliError(
      `--token-file ${file} must hold one token (no spaces), got ${token === "" ? "an empty file" : "several words"}`,
    );
  return token;
}
