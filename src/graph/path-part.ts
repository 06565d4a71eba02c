import { posix } from "node:path";
import { isFileValue, PATH_PARTS, type PathPart } from "./ir.js";

/** Thrown for a value that has no path; eval.ts turns it into the step's input error. */
export class NotAPath extends Error {}

/** A part of a path (see {@link PathPart}); `v` is a file or a path string. */
export function pathPartOf(v: unknown, part: PathPart): string {
  const path = isFileValue(v) ? v.$file : typeof v === "string" ? v : undefined;
  if (path === undefined) throw new NotAPath(`.${part} needs a file or a path`);
  switch (part) {
    case "path":
      return path;
    case "name":
      return posix.basename(path);
    case "ext":
      return posix.extname(path);
    case "stem": {
      const name = posix.basename(path);
      return name.slice(0, name.length - posix.extname(name).length);
    }
    case "dir":
      return posix.dirname(path);
  }
}

/**
 * `.stem` and the like of a value whose type was not known before the run (a module's `Any` result):
 * a path part when the value is a file or a string, else undefined (then it is a field, or missing).
 */
export function pathPartField(v: unknown, key: string | number): string | undefined {
  if (typeof key !== "string" || !(PATH_PARTS as readonly string[]).includes(key)) return undefined;
  if (typeof v !== "string" && !isFileValue(v)) return undefined;
  return pathPartOf(v, key as PathPart);
}
