import { existsSync, statSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import type { CacheSettings } from "../project/cache.js";
import { DEFAULT_FLOW_FILE } from "../project/flow.js";
import type { Project } from "../project/project.js";

/**
 * The project a maintenance command (`cache …`, `explain`) means: the flow file given (a directory: its
 * pipeline.flow, or without one its cache and records); else, as git finds its repository, the nearest
 * directory from here up that holds a `.tributary/` or a pipeline.flow; else the current directory.
 */
export async function projectAt(file: string | undefined, cache: CacheSettings): Promise<Project> {
  const { openProject } = await import("../project/project.js");
  const root = file === undefined ? (nearestProject(process.cwd()) ?? process.cwd()) : resolve(file);
  if (file !== undefined && !isDirectory(root)) return openProject({ flow: file, cache });
  const flow = join(root, DEFAULT_FLOW_FILE);
  return isFile(flow) ? openProject({ flow, cache }) : openProject({ root, cache });
}

/** The nearest directory from `dir` up holding a `.tributary/` directory or a pipeline.flow. */
function nearestProject(dir: string): string | undefined {
  for (let d = resolve(dir); ; d = dirname(d)) {
    if (isDirectory(join(d, ".tributary")) || isFile(join(d, DEFAULT_FLOW_FILE))) return d;
    if (dirname(d) === d) return undefined;
  }
}

function isFile(p: string): boolean {
  return existsSync(p) && statSync(p).isFile();
}

function isDirectory(p: string): boolean {
  return existsSync(p) && statSync(p).isDirectory();
}
