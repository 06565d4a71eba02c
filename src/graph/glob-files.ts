/**
 * What `glob(pattern)` matches: files only, names starting with a dot only where the pattern writes the
 * dot, relative to the project root, sorted. The rule for everyone who needs to know what a glob sees
 * besides the run itself (evalAsync in eval.ts, which must agree): the cache key, the check before a
 * run (an empty glob is an error) and the watcher of `run --watch`.
 */
export async function globFiles(pattern: string, root: string): Promise<string[]> {
  // Loaded on first use: most runs never glob, and start-up time is paid on every run.
  const { glob } = await import("tinyglobby");
  const found = await glob(pattern, { cwd: root, ...GLOB_OPTIONS });
  return found.sort();
}

/** tinyglobby's options for {@link globFiles}, for the one caller that must glob synchronously. */
export const GLOB_OPTIONS = { onlyFiles: true, dot: false } as const;

/**
 * The directory all of a pattern's matches are under (its segments before the first with a wildcard,
 * "" for the root) and how many levels below it they can be (undefined with `**`: any).
 */
export function globBase(pattern: string): { base: string; depth: number | undefined } {
  const segments = pattern.split("/");
  let i = 0;
  while (i < segments.length - 1 && !/[*?[\]{}()!+@\\]/.test(segments[i]!)) i++;
  const rest = segments.slice(i);
  const base = segments.slice(0, i).join("/");
  // "/*.c": the file system's root, not the project's.
  return {
    base: base === "" && i > 0 ? "/" : base,
    depth: rest.includes("**") ? undefined : rest.length - 1,
  };
}
