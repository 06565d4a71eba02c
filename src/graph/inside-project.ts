import { lstatSync, readlinkSync, realpathSync, type Stats } from "node:fs";
import { basename, dirname, isAbsolute, join, relative, resolve, sep } from "node:path";

/**
 * An absolute path a write to a project-relative path lands at (the path itself when no symbolic link
 * lies between the root and it, else resolved through every link); undefined when that is outside the
 * project. A path is checked lexically when it is declared (see
 * projectPath); this catches what only the file system knows: `out/` a symlink to `/etc`, or an output
 * file that is itself a link out (also a dangling one). Writes (a step's declared outputs, a cache
 * restore) go through it; reading inputs from outside the project stays allowed (they are hashed like
 * any other input).
 *
 * This runs for every output of every step, so the common case is a walk of `lstat`s: when no component
 * between the root and the file is a symbolic link, the write lands at the path itself, inside the root
 * whatever the root's own path resolves to (two `lstat`s for `out/x.txt`, where resolving both paths
 * took a dozen calls). Only a link on the way takes the full resolution below.
 */
export function writablePathInside(root: string, rel: string): string | undefined {
  const base = resolve(root);
  const abs = resolve(base, rel);
  const parts = relative(base, abs).split(sep);
  if (parts[0] !== "" && parts[0] !== ".." && !isAbsolute(parts[0]!) && linkFree(base, parts)) return abs;
  return resolvedLanding(root, rel);
}

/**
 * true when no component of `base/parts…` is a symbolic link: each existing one is looked at, and the
 * first missing one ends the walk (the write creates it and what is below). A component that cannot be
 * looked at (ENOTDIR, EACCES) ends it too, as the full resolution treats it: the write will say what is
 * wrong.
 */
function linkFree(base: string, parts: readonly string[]): boolean {
  let at = base;
  for (const part of parts) {
    at = join(at, part);
    let st: Stats | undefined;
    try {
      st = lstatSync(at, { throwIfNoEntry: false });
    } catch {
      return true;
    }
    if (st === undefined) return true;
    if (st.isSymbolicLink()) return false;
  }
  return true;
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
