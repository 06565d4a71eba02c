export type ModuleKind = "ours" | "node_modules" | "builtin";
export function kindOf(url: string): ModuleKind;
export interface LoadedModules {
  /** Every module loaded, once each, in load order. */
  urls: string[];
  ours: number;
  nodeModules: number;
  builtins: number;
}
export function loadedModules(
  node: string,
  args: string[],
  cwd?: string,
  env?: NodeJS.ProcessEnv,
): LoadedModules;
