import { posix } from "node:path";

/** Why an output path is not allowed, or undefined when it is fine. */
export function outputPathProblem(path: string): string | undefined {
  if (path === "") return "is empty";
  const c0 = path.charCodeAt(0);
  if (c0 === 47 || c0 === 92 || /^[A-Za-z]:[\\/]/.test(path)) return "is absolute";
  // Walk the segments without splitting: this runs once per output of 10,000-step flows.
  let depth = 0;
  let segStart = 0;
  for (let i = 0; i <= path.length; i++) {
    const c = i === path.length ? 47 : path.charCodeAt(i);
    if (c !== 47 && c !== 92) continue;
    const len = i - segStart;
    if (len === 2 && path.charCodeAt(segStart) === 46 && path.charCodeAt(segStart + 1) === 46) {
      if (--depth < 0) return "escapes the project directory";
    } else if (len > 0 && !(len === 1 && path.charCodeAt(segStart) === 46)) depth++;
    segStart = i + 1;
  }
  if (depth === 0) return "names the project directory itself";
  return undefined;
}

const PLAIN_PATH = /^(?!\.\.?\/)(?:[^/\\.]|\.(?!\.?(?:\/|$)))*(?:\/(?:[^/\\.]|\.(?!\.?(?:\/|$)))+)*$/;

/** `./a//b/../c` -> `a/c`; the common already-normal path is returned as is. */
export function normalizePath(p: string): string {
  if (PLAIN_PATH.test(p)) return p;
  return posix.normalize(p.replace(/\\/g, "/")).replace(/^\.\//, "");
}
