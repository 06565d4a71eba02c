/**
 * Preloaded by bench/startup-profile.mjs (`node --import ./count-modules.mjs …`): appends the URL of
 * every module the command loads, ESM through a load hook (module.register), CommonJS through
 * Module._load, and a bundle compiled with its code cache (src/project/compiled-code.ts) through vm.Script, one
 * per line to $TRIBUTARY_MODULE_LOG. Not used when timing: the hooks cost time.
 */
import { appendFileSync } from "node:fs";
import Module, { register } from "node:module";
import vm from "node:vm";
import { pathToFileURL } from "node:url";

const log = process.env.TRIBUTARY_MODULE_LOG;
if (log) {
  register("./module-hooks.mjs", import.meta.url, { data: { log } });
  const load = Module._load;
  Module._load = function (request, parent, isMain) {
    const out = load.call(this, request, parent, isMain);
    let url = request;
    try {
      url = request.startsWith("node:")
        ? request
        : pathToFileURL(Module._resolveFilename(request, parent, isMain)).href;
    } catch {
      // A builtin without the node: prefix.
    }
    appendFileSync(log, `cjs ${url}\n`);
    return out;
  };
  vm.Script = class extends vm.Script {
    constructor(code, options) {
      super(code, options);
      const file = typeof options === "string" ? options : options?.filename;
      if (file?.endsWith(".cjs")) appendFileSync(log, `cjs ${pathToFileURL(file).href}\n`);
    }
  };
}
