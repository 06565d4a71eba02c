import { lstatSync, readlinkSync, realpathSync, type Stats } from "node:fs";
import { basename, dirname, isAbsolute, relative, resolve, sep } from "node:path";

/**
 * The absolute path a project-relative path writes to, after following every symbolic link on the way;
 * undefined when that lands outside the project. A path is checked lexically when it is declared (see
 * projectPath); this catches what only the file system knows: `out/` a symlink to `/etc`, or an output
 * file that is itself a link out (also a dangling one). Writes (a step's declared outputs, a cache
 * restore) go through it; reading inputs from outside the project stays allowed (they are hashed like
 * any other input). `realpathSync.native`: the C library's walk of the path, where Node's own walks it
 * in JavaScript with a call per component (this runs for every output of every step).
 */
export function writablePathInside(root: string, rel: string): string | undefined {
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
