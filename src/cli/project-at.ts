import type { CacheSettings } from "../project/cache.js";
import type { Project } from "../project/project.js";

/**
 * The project a maintenance command means: the flow file's (default ./pipeline.flow), as for `run`;
 * without one, the project at the current directory (its cache and records only).
 */
export async function projectAt(file: string | undefined, cache: CacheSettings): Promise<Project> {
  const [{ openProject }, { resolveFlowFile }] = await Promise.all([
    import("../project/project.js"),
    import("../project/flow.js"),
  ]);
  try {
    resolveFlowFile(file);
  } catch {
    return openProject({ root: process.cwd(), cache });
  }
  return openProject({ flow: file, cache });
}
