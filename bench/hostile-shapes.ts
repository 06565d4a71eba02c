/**
 * Hostile shapes of flow source at a size n: each once made the compiler quadratic (or worse) in some
 * tool. The tests compile each at scale for correctness; `npm run bench` (language section) times n
 * against 8n, which must grow linearly.
 */
/** Hostile shapes at size n. */
export const SHAPES: Record<string, (n: number) => string> = {
  "index chain": (n) => "x = [1]\ny = x" + "[0]".repeat(n),
  parentheses: (n) => "y = " + "(".repeat(n) + "1" + ")".repeat(n),
  "bad characters": (n) => "y = 1 " + "@".repeat(n),
  "NUL bytes": (n) => "\0".repeat(n),
  "bad characters between words": (n) => "@a".repeat(n),
  "${ in a string": (n) => 'y = "' + "${".repeat(n),
  "wide list": (n) => "y = [" + "1, ".repeat(n) + "]",
  "a value using many values": (n) =>
    Array.from({ length: n }, (_, i) => `a${i} = ${i}`).join("\n") +
    `\nx = [${Array.from({ length: n }, (_, i) => `a${i}`).join(", ")}]\nout x`,
  "out of many names": (n) =>
    Array.from({ length: n }, (_, i) => `a${i} = ${i}`).join("\n") +
    `\nout ${Array.from({ length: n }, (_, i) => `a${i}`).join(", ")}`,
  "unknown names among many": (n) =>
    Array.from({ length: n }, (_, i) => `x${i} = sh("\${y${i}}")`).join("\n"),
  "a chain of values": (n) =>
    "v0 = [1]\n" + Array.from({ length: n }, (_, i) => `v${i + 1} = [v${i}, v${i}]`).join("\n"),
  "broken lines": (n) => Array(n).fill("x = (").join("\n"),
  "unterminated strings": (n) => Array(n).fill('x = "abc').join("\n"),
  "sh interpolations in a comment": (n) => 'a = "q"\nx = sh("# ' + "${a} ".repeat(n) + '")',
};
