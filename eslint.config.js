import js from "@eslint/js";
import tseslint from "typescript-eslint";

export default tseslint.config(
  { ignores: ["dist/**", "node_modules/**", "**/.tributary/**", "coverage/**"] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    // The run report's page code runs in the browser (inlined into the report by src/reporters/html/render.ts).
    files: ["src/reporters/html/page/**/*.js"],
    languageOptions: {
      sourceType: "script",
      globals: {
        document: "readonly",
        performance: "readonly",
        MouseEvent: "readonly",
        Node: "readonly",
        dagre: "readonly",
        ResizeObserver: "readonly",
        requestAnimationFrame: "readonly",
      },
    },
  },
  { files: ["**/*.cjs"], languageOptions: { sourceType: "commonjs", globals: { module: "writable" } } },
  {
    // CommonJS (bin/package.json): it loads the fast answer's bundle with require (see the file).
    files: ["bin/tributary.js"],
    languageOptions: { sourceType: "commonjs", globals: { require: "readonly" } },
    rules: { "@typescript-eslint/no-require-imports": "off" },
  },
  {
    languageOptions: {
      globals: { process: "readonly", console: "readonly", setTimeout: "readonly", clearTimeout: "readonly" },
    },
    rules: {
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_" }],
      "@typescript-eslint/no-explicit-any": "off",
      // t.sh("id")`...` adds a step; its handle is often not needed.
      "@typescript-eslint/no-unused-expressions": ["error", { allowTaggedTemplates: true }],
    },
  },
);
