/**
 * The programs the tests run for real, where they are looked for, and how to install them: the one place
 * that decides it. `npm test` checks them first (scripts/check-test-deps.mjs), vitest again before any test
 * file (test/helpers/global-setup.ts), and the server helpers start them from the paths found here. A
 * missing tool stops the whole run with one message; no test skips because of it.
 */
import { accessSync, constants, statSync } from "node:fs";
import { delimiter, join } from "node:path";

export interface TestTool {
  /** The command the tests run. */
  command: string;
  /** The Debian/Ubuntu package that provides it. */
  aptPackage: string;
  /** What needs it, for the message. */
  usedBy: string;
  /**
   * The code under test runs it by name (a step's `exec("cc", ...)`), so it must be on PATH. Otherwise a test
   * helper starts it by its full path, which may also be in an sbin directory a non-root PATH lacks (nginx).
   */
  byName: boolean;
  /** An environment variable that names the program instead. */
  override?: string;
}

export const TEST_TOOLS: readonly TestTool[] = [
  {
    command: "redis-server",
    aptPackage: "redis-server",
    usedBy: "Redis for the distributed workers (test/distributed, test/remote-cache)",
    byName: false,
  },
  {
    command: "nginx",
    aptPackage: "nginx",
    usedBy: "a WebDAV server for the remote cache (test/remote-cache)",
    byName: false,
    override: "TRIBUTARY_NGINX",
  },
  {
    command: "cc",
    aptPackage: "gcc",
    usedBy: "a C compiler for the make example (test/language, test/e2e)",
    byName: true,
  },
  {
    command: "python3",
    aptPackage: "python3-minimal",
    usedBy:
      "the job server that starts step processes (test/executors conformance runs every case through it)",
    byName: false,
  },
  {
    command: "chromium",
    aptPackage: "chromium",
    usedBy:
      "a browser that opens the HTML run report (test/report, driven by playwright-core; no browser download)",
    byName: false,
    override: "TRIBUTARY_CHROMIUM",
  },
  {
    command: "make",
    aptPackage: "make",
    usedBy:
      "make as a peer tool (test/bench/peers.test.ts) and GNU make 4.3+ for the jobserver (test/e2e/jobserver.test.ts)",
    byName: true,
  },
];

/** Where Debian and Ubuntu install programs, searched after PATH for tools started by full path. */
const SYSTEM_DIRS = ["/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin"];

function isExecutableFile(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return statSync(path).isFile();
  } catch {
    return false;
  }
}

function toolOf(command: string): TestTool {
  const tool = TEST_TOOLS.find((t) => t.command === command);
  if (!tool) throw new Error(`${command} is not one of the test tools in test/helpers/tools.ts`);
  return tool;
}

/** The full path of a test tool, or undefined when it is not installed where it is looked for. */
export function findTool(command: string): string | undefined {
  const tool = toolOf(command);
  const override = tool.override && process.env[tool.override];
  if (override) return isExecutableFile(override) ? override : undefined;
  const pathDirs = (process.env.PATH ?? "").split(delimiter).filter(Boolean);
  const dirs = tool.byName ? pathDirs : [...pathDirs, ...SYSTEM_DIRS];
  for (const dir of dirs) {
    const candidate = join(dir, command);
    if (isExecutableFile(candidate)) return candidate;
  }
  return undefined;
}

/** The full path of a test tool; throws the install message when it is missing. */
export function toolPath(command: string): string {
  const found = findTool(command);
  if (!found) throw new Error(missingToolsMessage([toolOf(command)]));
  return found;
}

export function missingTools(): TestTool[] {
  return TEST_TOOLS.filter((t) => findTool(t.command) === undefined);
}

/** The install command for some tools, with sudo unless we are root. */
export function installCommand(tools: readonly TestTool[]): string {
  const sudo = process.getuid?.() === 0 ? "" : "sudo ";
  const packages = tools.map((t) => t.aptPackage).join(" ");
  return `${sudo}apt-get update && ${sudo}apt-get install -y ${packages}`;
}

export function missingToolsMessage(missing: readonly TestTool[]): string {
  const lines = [
    `The tests run real servers and tools, and ${missing.length === 1 ? "this one is" : "these are"} not installed:`,
    ...missing.map((t) => {
      const where = t.byName ? "not on PATH" : `not on PATH nor in ${SYSTEM_DIRS.join(", ")}`;
      const override = t.override ? `; or set ${t.override} to its path` : "";
      return `  - ${t.command}: ${t.usedBy}; ${where}${override}`;
    }),
    "Install with (Debian/Ubuntu):",
    `  ${installCommand(missing)}`,
  ];
  return lines.join("\n");
}

/** The message for what is missing, or undefined when every tool is there. */
export function missingToolsReport(): string | undefined {
  const missing = missingTools();
  return missing.length > 0 ? missingToolsMessage(missing) : undefined;
}
