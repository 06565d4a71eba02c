/**
 * The architecture, checked by `npm run lint`: no import cycles, and imports point one way —
 * cli -> serve -> project; cli -> project -> (engine, language, executors, cache, reporters) -> graph. Executors and the cache
 * implement ports the engine defines; the language reaches module loading through a port it is given.
 */
const layer = (name, allowed) => ({
  name: `${name}-imports`,
  comment: `src/${name} may import only: ${allowed.join(", ") || "nothing else in src"}`,
  severity: "error",
  from: { path: `^src/${name}/` },
  to: { path: "^src/", pathNot: [`^src/${name}/`, ...allowed.map((a) => `^src/${a}/`)] },
});

module.exports = {
  forbidden: [
    {
      name: "no-circular",
      comment: "an import cycle: the modules cannot be understood (or loaded) one without the other",
      severity: "error",
      from: { path: "^src/" },
      to: { circular: true },
    },
    layer("graph", []),
    layer("language", ["graph"]),
    layer("engine", ["graph"]),
    layer("executors", ["engine", "graph"]),
    layer("cache", ["engine", "graph"]),
    layer("reporters", ["engine", "graph"]),
    layer("api", ["project", "engine", "graph"]),
    layer("project", ["engine", "language", "executors", "cache", "reporters", "graph"]),
    layer("serve", ["project", "engine", "language", "reporters", "graph"]),
    layer("cli", ["project", "engine", "language", "reporters", "graph", "serve"]),
    {
      name: "only-serve-command-imports-serve",
      comment: "the HTTP server is reached through `tributary serve` only: not part of the library API",
      severity: "error",
      from: { path: "^src/", pathNot: ["^src/serve/", "^src/cli/commands/serve\\.ts$"] },
      to: { path: "^src/serve/" },
    },
    {
      name: "nothing-imports-cli",
      comment: "the command line is the top: nothing in src depends on it",
      severity: "error",
      from: { path: "^src/", pathNot: "^src/cli/" },
      to: { path: "^src/cli/" },
    },
  ],
  options: {
    doNotFollow: { path: "node_modules" },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: "tsconfig.json" },
    enhancedResolveOptions: { extensions: [".ts", ".js"] },
  },
};
