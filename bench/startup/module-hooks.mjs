/** The ESM half of count-modules.mjs: runs in Node's hooks thread, logs every module loaded. */
import { appendFileSync } from "node:fs";

let log;

export function initialize(data) {
  log = data.log;
}

export async function load(url, context, next) {
  appendFileSync(log, `esm ${url}\n`);
  return next(url, context);
}
