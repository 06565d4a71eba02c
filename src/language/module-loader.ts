/**
 * Imports a module file (an absolute path) and returns its exports. The language never imports code
 * itself: whoever compiles a flow with `use` lines gives it a loader (the CLI and the package's
 * compileFlow give the executors' one, which loads TypeScript through tsx).
 */
export type ModuleLoader = (absFile: string) => Promise<Record<string, unknown>>;
