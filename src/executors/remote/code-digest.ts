import { ModuleGraph } from "../../graph/module-code.js";

/**
 * The digest of a module's code: its file and every local file it imports, transitively (the same identity
 * the cache keys function steps by). The orchestrator sends it with each function step; a worker whose own
 * checkout gives another digest refuses the step.
 */
export async function moduleCodeDigest(root: string, file: string): Promise<string> {
  return (await new ModuleGraph(root).identity(file)).digest;
}

/**
 * Memoized digests for a stream of steps (2,000 steps of one module hash its files once), refreshed after
 * `ttlMs` so that a long-lived orchestrator notices an edited module.
 */
export class CodeDigests {
  private readonly memo = new Map<string, { at: number; digest: Promise<string> }>();

  constructor(
    private readonly root: string,
    private readonly ttlMs = 2000,
  ) {}

  get(file: string): Promise<string> {
    const now = Date.now();
    const hit = this.memo.get(file);
    if (hit && now - hit.at < this.ttlMs) return hit.digest;
    const digest = moduleCodeDigest(this.root, file);
    this.memo.set(file, { at: now, digest });
    digest.catch(() => this.memo.delete(file));
    return digest;
  }
}
