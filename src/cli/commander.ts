import { createRequire } from "node:module";
import type * as CommanderModule from "commander";

// commander is CommonJS. Importing it as ESM makes Node scan its source for named exports and load an
// ESM wrapper on every start; require() skips both, which is about 15 ms of a null run.
const commander = createRequire(import.meta.url)("commander") as typeof CommanderModule;

export const { Command, CommanderError, Option } = commander;
export type Command = CommanderModule.Command;
export type Option = CommanderModule.Option;
