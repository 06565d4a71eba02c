import { lstatSync, readlinkSync, realpathSync, type Stats } from "node:fs";
import { basename, dirname, isAbsolute, join, relative, resolve, sep } from "node:path";

/**
 * An absolute path a write to a project-relative path lands at (the path itself when no symbolic link
 * lies between the root and it, else resolved through every link); undefined when that is outside the
 * project. A path is checked lexically when it is declared (see projectPath); this catches what only
 * the file system knows: `out/` a symlink to `/etc`, or an output file that is itself a link out (also
 * a dangling one). Writes (a step's declared outputs, a cache
 * restore) go through it; reading inputs from outside the project stays allowed (they are hashed like
 * any other input).
 *
 * This runs for every output of every step, so the common case is a walk of `lstat`s: when no component
 * between the root and the file is a symbolic link, the write lands at the path itself, inside the root
 * whatever the root's own path resolves to (two `lstat`s for `out/x.txt`, where resolving both paths
 * took a dozen calls). Only a link on the way takes the full resolution below.
 */
export function writablePathInside(root: string, rel: string): string | undefined {
  return outputLanding(root, rel)?.path;
}

/**
 * {@link writablePathInside}, and whether the file's directory is known to exist already (no `mkdir`
 * needed before writing there; false when unknown).
 */
export function outputLanding(root: string, rel: string): { path: string; dirExists: boolean } | undefined {
  const base = resolve(root);
  const abs = resolve(base, rel);
  const parts = relative(base, abs).split(sep);
  if (parts[0] !== "" && parts[0] !== ".." && !isAbsolute(parts[0]!)) {
    const existing = linkFreeDepth(base, parts);
    if (existing !== undefined) return { path: abs, dirExists: existing >= parts.length - 1 };
  }
  const path = resolvedLanding(root, rel);
  return path === undefined ? undefined : { path, dirExists: false };
}

/**
 * How many leading components of `base/parts…` exist (directories, but for the last), when none of
 * them is a symbolic link (undefined when one is). The first missing one ends the walk (the write
 * creates it and what is below); so does one that cannot be looked at (ENOTDIR, EACCES), as the full
 * resolution treats it: the write will say what is wrong.
 */
function linkFreeDepth(base: string, parts: readonly string[]): number | undefined {
  let at = base;
  for (let k = 0; k < parts.length; k++) {
    at = join(at, parts[k]!);
    let st: Stats | undefined;
    try {
      st = lstatSync(at, { throwIfNoEntry: false });
    } catch {
      return k;
    }
    if (st === undefined) return k;
    if (st.isSymbolicLink()) return undefined;
    // A file where a directory should be: the write fails there, inside the project.
    if (k < parts.length - 1 && !st.isDirectory()) return k;
  }
  return parts.length;
}

/**
 * The full resolution: the deepest existing part of the path resolved with `realpathSync.native` (the C
 * library's walk, where Node's own walks it in JavaScript with a call per component), against the
 * root's own real path.
 */
function resolvedLanding(root: string, rel: string): string | undefined {
  const landed = landing(resolve(root, rel), 0);
  if (landed === undefined) return undefined;
  const r = relative(realpathOr(root), landed);
  if (r === "" || isAbsolute(r) || r.split(sep)[0] === "..") return undefined;
  return landed;
}

/** Where a write to `abs` lands: the deepest existing part resolved, the rest appended. */
function landing(abs: string, depth: number): string | undefined {
  if (depth > 40) return undefined; // a loop of links
  let existing = abs;
  const rest: string[] = [];
  for (;;) {
    let st: Stats | undefined;
    try {
      // No exception for a missing file, the common case (an output not written yet): they are slow.
      st = lstatSync(existing, { throwIfNoEntry: false });
    } catch {
      st = undefined; // ENOTDIR, EACCES: as missing; the write itself will say what is wrong
    }
    if (st === undefined) {
      const parent = dirname(existing);
      if (parent === existing) return undefined;
      rest.unshift(basename(existing));
      existing = parent;
      continue;
    }
    const isLink = st.isSymbolicLink();
    try {
      return resolve(realpathSync.native(existing), ...rest);
    } catch {
      // A dangling link: the write creates its target.
      if (!isLink) return undefined;
      return landing(resolve(dirname(existing), readlinkSync(existing), ...rest), depth + 1);
    }
  }
}

function realpathOr(p: string): string {
  try {
    return realpathSync.native(p);
  } catch {
    return resolve(p);
  }
}
