/**
 * Packages only some features need are optional peer dependencies (see package.json), so that installing
 * Tributary does not bring a Redis client or a TypeScript compiler to everyone. They are imported when a
 * feature first needs them; when one is not installed, the user gets one line naming the feature and the
 * command that fixes it, not a module-resolution stack trace.
 */
import { UserError } from "./user-error.js";

export interface OptionalFeature {
  /** What needs the packages, as the subject of a sentence: "remote execution (--remote, ...)". */
  readonly feature: string;
  readonly packages: readonly string[];
}

export const REMOTE_EXECUTION: OptionalFeature = {
  feature: "remote execution (--remote, tributary worker)",
  packages: ["bullmq", "ioredis"],
};

export const TYPESCRIPT_MODULES: OptionalFeature = {
  feature: "loading a TypeScript module",
  packages: ["tsx"],
};

export const SERVING_FLOWS: OptionalFeature = {
  feature: "serving flows over HTTP (tributary serve)",
  packages: ["fastify", "prom-client"],
};

/** Runs `load` (the feature's dynamic imports); a missing package becomes the one-line error above. */
export async function importOptional<T>(need: OptionalFeature, load: () => Promise<T>): Promise<T> {
  try {
    return await load();
  } catch (err) {
    if (!need.packages.some((name) => isMissingPackage(err, name))) throw err;
    // A UserError: the command line prints the message alone (exit code 2), without a stack trace.
    const { feature, packages } = need;
    throw new UserError(`${feature} needs ${packages.join(" and ")}: npm install ${packages.join(" ")}`);
  }
}

/** Node's error for an import of a package that is not installed (not: one that fails inside it). */
function isMissingPackage(err: unknown, name: string): boolean {
  const e = err as NodeJS.ErrnoException | undefined;
  return e?.code === "ERR_MODULE_NOT_FOUND" && e.message.includes(`Cannot find package '${name}'`);
}
