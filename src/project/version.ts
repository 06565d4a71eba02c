import { readFileSync } from "node:fs";

let version: string | undefined;

/**
 * Tributary's version, from its package.json (two levels up from src/project or dist/project); read
 * once: the CLI asks for it at start and again for the null run's record.
 */
export function tributaryVersion(): string {
  if (version !== undefined) return version;
  try {
    const pkg = JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as {
      version: string;
    };
    version = pkg.version;
  } catch {
    version = "unknown";
  }
  return version;
}
