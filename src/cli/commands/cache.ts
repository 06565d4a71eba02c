import type { Command } from "commander";

export function registerCache(program: Command): void {
  program.command("cache").description("inspect and trim the cache: stats, gc, clean");
}
