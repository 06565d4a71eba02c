import { posix } from "node:path";
import { isFileValue, type PathPart } from "./ir.js";

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
