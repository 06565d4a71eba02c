/**
 * Which modules a command loads: runs it once with count-modules.mjs preloaded and returns the URLs
 * (ESM and CommonJS, each once, in load order), sorted into ours, node_modules' and Node's builtins.
 * Shared by bench/startup-profile.mjs and the bench's startup section.
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { URL } from "node:url";

const preload = new URL("./count-modules.mjs", import.meta.url);

export function kindOf(url) {
  if (url.startsWith("node:") || !url.includes(":")) return "builtin";
  return url.includes("/node_modules/") ? "node_modules" : "ours";
}

/** `node` (a path to it) runs `args` in `cwd` with `env`; the command must exit 0. */
export function loadedModules(node, args, cwd = process.cwd(), env = process.env) {
  const dir = mkdtempSync(join(tmpdir(), "tributary-modules-"));
  const log = join(dir, "modules.log");
  try {
    const r = spawnSync(node, ["--import", preload.href, ...args], {
      cwd,
      env: { ...env, TRIBUTARY_MODULE_LOG: log },
      stdio: ["ignore", "pipe", "pipe"],
      encoding: "utf8",
    });
    if (r.error) throw r.error;
    if (r.status !== 0)
      throw new Error(`${[node, ...args].join(" ")} exited ${r.status}: ${r.stderr.slice(0, 1000)}`);
    let lines = [];
    try {
      lines = readFileSync(log, "utf8").trim().split("\n");
    } catch {
      // Nothing loaded beyond the entry point.
    }
    const urls = [...new Set(lines.map((l) => l.slice(4)))].filter((u) => !u.includes("/bench/startup/"));
    const count = (k) => urls.filter((u) => kindOf(u) === k).length;
    return { urls, ours: count("ours"), nodeModules: count("node_modules"), builtins: count("builtin") };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
