import { STEP_KINDS, WITH_OPTIONS, kindsText, type StepKind, type WithOption } from "./options.js";

/** The generated reference sits between these lines of docs/language.md. */
export const REFERENCE_START =
  "<!-- with-options: generated from src/graph/options.ts by `npm run docs:options`; edit the table there -->";
export const REFERENCE_END = "<!-- /with-options -->";

const CACHE_KEY: Record<string, string> = {
  false: "no",
  options: "yes",
  code: "yes, as the code version",
  env: "yes, with the variables' values",
};

/** The `with` options reference of docs/language.md, as Markdown. */
export function optionsReference(table: readonly WithOption[] = WITH_OPTIONS): string {
  const kinds = Object.keys(STEP_KINDS) as StepKind[];
  const restricted = table.some((o) => kinds.some((k) => !o.accepts.includes(k)));
  const head = ["Option", "Value", "Effect", ...(restricted ? ["Steps"] : []), "Cache key"];
  const rows = table.map((o) => [
    `\`${o.name}\``,
    o.shape,
    o.doc,
    ...(restricted ? [kindsText(o.accepts)] : []),
    CACHE_KEY[String(o.cacheKey)]!,
  ]);
  const lines = [head, head.map(() => "---"), ...rows].map(
    (cells) => `| ${cells.map((c) => c.replace(/\|/g, "\\|")).join(" | ")} |`,
  );
  if (!restricted) {
    lines.push("", `Every option applies to every kind of step: ${kindsText(kinds)}.`);
  }
  return lines.join("\n");
}

/** `markdown` with the generated reference between its markers; throws when a marker is missing. */
export function withOptionsReference(markdown: string, table?: readonly WithOption[]): string {
  const start = markdown.indexOf(REFERENCE_START);
  const end = markdown.indexOf(REFERENCE_END, start);
  if (start === -1 || end === -1) {
    throw new Error(`the with options reference needs the lines\n${REFERENCE_START}\n${REFERENCE_END}`);
  }
  return (
    markdown.slice(0, start + REFERENCE_START.length) +
    `\n\n${optionsReference(table)}\n\n` +
    markdown.slice(end)
  );
}
