import { readdirSync, statSync } from "node:fs";
import { resolve } from "node:path";
import { globFiles } from "../graph/glob-files.js";
import type { InputFilesPort } from "../language/index.js";

/**
 * The compiler's questions about input files answered from the disk under `root`, as the run will see
 * them. What cannot be answered (a permission error) counts as there: the run then reports it at the
 * step, with the system's reason.
 */
export function diskInputFiles(root: string): InputFilesPort {
  return {
    kind(path) {
      try {
        const st = statSync(resolve(root, path), { throwIfNoEntry: false });
        if (!st) return undefined;
        return st.isDirectory() ? "directory" : "file";
      } catch {
        return "file";
      }
    },
    list(dir) {
      try {
        return readdirSync(resolve(root, dir));
      } catch {
        return [];
      }
    },
    async globMatches(pattern) {
      try {
        return (await globFiles(pattern, root)).length > 0;
      } catch {
        return true;
      }
    },
  };
}
