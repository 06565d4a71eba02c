/** Rewrites the `with` options reference of docs/language.md from the option table (`npm run docs:options`). */
import { readFileSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { withOptionsReference } from "../src/graph/options-doc.js";

const file = fileURLToPath(new URL("../docs/language.md", import.meta.url));
const before = readFileSync(file, "utf8");
const after = withOptionsReference(before);
if (after !== before) writeFileSync(file, after);
console.log(`${file}: the with options reference ${after === before ? "is up to date" : "was rewritten"}`);
