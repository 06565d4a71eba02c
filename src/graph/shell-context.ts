/**
 * Where an interpolated value lands in a `sh` command line, so that it can be quoted for exactly that
 * place: bare, inside the user's own double or single quotes, or in a here-document. A value quoted for
 * the wrong place is code (`"${x}"` with single-quote quoting lets `$(...)` run). Places where no quoting
 * can make a value safe (a comment, backticks, `$'...'`, a here-document with a quoted delimiter) are
 * refused rather than guessed at.
 *
 * This is a scanner of the POSIX shell's quoting, not a parser: it follows quotes, `$(...)` nesting,
 * comments and here-documents, which is all that decides how a word is read.
 */

export type ShellContext =
  | { kind: "bare" }
  | { kind: "double" }
  | { kind: "single" }
  | { kind: "heredoc"; delimiter: string }
  /** `fix`: what the user can write instead. */
  | { kind: "refused"; where: string; fix: string };

type Frame =
  /** `closer`: the `)` of `$(` or the `}` of `${`; `depth`: parentheses opened inside it. */
  | { kind: "bare"; closer?: ")" | "}"; depth: number }
  | { kind: "double" }
  | { kind: "single" }
  | { kind: "ansi" }
  | { kind: "backtick" }
  | { kind: "comment" }
  | { kind: "heredoc"; delimiter: string; quoted: boolean; strip: boolean; line: string };

const WORD_START = /[\s;&|()<>]/;

export class ShellScanner {
  private readonly stack: Frame[] = [{ kind: "bare", depth: 0 }];
  private pending: { delimiter: string; quoted: boolean; strip: boolean }[] = [];
  private prev = "\n";

  /** The place a value inserted now would land in. */
  context(): ShellContext {
    const top = this.top();
    switch (top.kind) {
      case "bare":
        return { kind: "bare" };
      case "double":
        return { kind: "double" };
      case "single":
        return { kind: "single" };
      case "heredoc":
        return top.quoted
          ? {
              kind: "refused",
              where: `a here-document with a quoted delimiter (<<'${top.delimiter}')`,
              fix: `unquote the delimiter (<<${top.delimiter}): the value is then escaped for the here-document`,
            }
          : { kind: "heredoc", delimiter: top.delimiter };
      case "comment":
        return { kind: "refused", where: "a comment", fix: "move it out of the comment" };
      case "backtick":
        return {
          kind: "refused",
          where: "backticks",
          fix: "use $(...) instead of backticks",
        };
      case "ansi":
        return {
          kind: "refused",
          where: "a $'...' string",
          fix: "put it outside the $'...' string, or pass it through an env var: x=${...}; ... \"$x\"",
        };
    }
  }

  /** An interpolated value: to the scanner, one ordinary character of a word. */
  value(): void {
    this.prev = "x";
    const top = this.top();
    if (top.kind === "heredoc") top.line += "x";
  }

  /** Template text, as written by the user. */
  feed(text: string): void {
    for (let i = 0; i < text.length; i++) {
      const c = text[i]!;
      const next = text[i + 1];
      const top = this.top();
      switch (top.kind) {
        case "single":
          if (c === "'") this.stack.pop();
          break;
        case "ansi":
          if (c === "\\") i++;
          else if (c === "'") this.stack.pop();
          break;
        case "backtick":
          if (c === "\\") i++;
          else if (c === "`") this.stack.pop();
          break;
        case "comment":
          if (c === "\n") {
            this.stack.pop();
            this.newline();
          }
          break;
        case "double":
          if (c === "\\") i++;
          else if (c === '"') this.stack.pop();
          else if (c === "`") this.stack.push({ kind: "backtick" });
          else if (c === "$" && next === "(") {
            this.stack.push({ kind: "bare", closer: ")", depth: 0 });
            i++;
          }
          break;
        case "heredoc":
          if (c === "\n") {
            const line = top.strip ? top.line.replace(/^\t+/, "") : top.line;
            top.line = "";
            if (line === top.delimiter) {
              this.stack.pop();
              this.startHeredoc();
            }
          } else top.line += c;
          break;
        case "bare":
          i = this.bare(text, i, top);
          break;
      }
      this.prev = text[i] ?? c;
    }
  }

  private bare(text: string, i: number, top: Extract<Frame, { kind: "bare" }>): number {
    const c = text[i]!;
    const next = text[i + 1];
    if (c === "\\") return i + 1;
    if (c === "'") this.stack.push({ kind: "single" });
    else if (c === '"') this.stack.push({ kind: "double" });
    else if (c === "`") this.stack.push({ kind: "backtick" });
    else if (c === "$" && next === "'") {
      this.stack.push({ kind: "ansi" });
      return i + 1;
    } else if (c === "$" && (next === "(" || next === "{")) {
      this.stack.push({ kind: "bare", closer: next === "(" ? ")" : "}", depth: 0 });
      return i + 1;
    } else if (c === "(") top.depth++;
    else if (c === ")" && top.depth > 0) top.depth--;
    else if (top.closer !== undefined && c === top.closer && this.stack.length > 1) this.stack.pop();
    else if (c === "#" && WORD_START.test(this.prev)) this.stack.push({ kind: "comment" });
    else if (c === "<" && next === "<" && text[i + 2] !== "<") return this.heredocOperator(text, i + 2);
    else if (c === "\n") this.newline();
    return i;
  }

  /** `<<[-]WORD`: the delimiter, and whether it was quoted (then the body is not expanded). */
  private heredocOperator(text: string, at: number): number {
    let i = at;
    const strip = text[i] === "-";
    if (strip) i++;
    while (text[i] === " " || text[i] === "\t") i++;
    let delimiter = "";
    let quoted = false;
    for (; i < text.length && !/[\s;&|()<>]/.test(text[i]!); i++) {
      const c = text[i]!;
      if (c === "'" || c === '"') {
        quoted = true;
        const end = text.indexOf(c, i + 1);
        const stop = end < 0 ? text.length : end;
        delimiter += text.slice(i + 1, stop);
        i = stop;
      } else if (c === "\\") {
        quoted = true;
        delimiter += text[++i] ?? "";
      } else delimiter += c;
    }
    if (delimiter !== "") this.pending.push({ delimiter, quoted, strip });
    return i - 1;
  }

  private newline(): void {
    if (this.pending.length > 0) this.startHeredoc();
  }

  private startHeredoc(): void {
    const h = this.pending.shift();
    if (h) this.stack.push({ kind: "heredoc", ...h, line: "" });
  }

  private top(): Frame {
    return this.stack[this.stack.length - 1]!;
  }
}

/**
 * Where each value of a command template lands: `template` is its pieces in order, text as a string and
 * each value as null; the result has the place of each value (undefined for text). The runtime quotes by
 * it and the checker reports refused places from it, so both read the template the same way.
 */
export function templateContexts(template: readonly (string | null)[]): (ShellContext | undefined)[] {
  const scanner = new ShellScanner();
  return template.map((piece) => {
    if (piece !== null) {
      scanner.feed(piece);
      return undefined;
    }
    const here = scanner.context();
    scanner.value();
    return here;
  });
}

/** A value quoted for its place, or why the place is refused and what to write instead (see ShellContext). */
export function quoteFor(context: ShellContext, text: string): string | { refused: string; fix: string } {
  switch (context.kind) {
    case "bare":
      return shellQuote(text);
    case "double":
      // Inside "...", only \ $ ` and " are special: escaped, nothing of the value is read as syntax.
      return text.replace(/[\\$`"]/g, "\\$&");
    case "single":
      // Close the user's quote, add the value quoted on its own, open the quote again: one word.
      return `'${shellQuote(text)}'`;
    case "heredoc":
      if (text.split("\n").some((line) => line === context.delimiter)) {
        return {
          refused: `a here-document that the value would end (it holds the line ${context.delimiter})`,
          fix: `choose a delimiter that no line of the value equals`,
        };
      }
      // In an unquoted here-document, \ $ and ` are special; quotes are plain text.
      return text.replace(/[\\$`]/g, "\\$&");
    case "refused":
      return { refused: context.where, fix: context.fix };
  }
}

/** Quotes a word for /bin/sh so that it is always exactly one argument, whatever it contains. */
export function shellQuote(s: string): string {
  if (s !== "" && /^[A-Za-z0-9_./:=@%+,-]+$/.test(s)) return s;
  return `'${s.replace(/'/g, `'\\''`)}'`;
}
