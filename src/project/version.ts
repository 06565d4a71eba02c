import { readFileSync } from "node:fs";

/** Tributary's version, from its package.json (two levels up from src/project or dist/project). */
export function tributaryVersion(): string {
  try {
    const pkg = JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as {
      version: string;
    };
    return pkg.version;
  } catch {
    return "unknown";
  }
}
