/**
 * Reads the Prometheus text exposition format (version 0.0.4) strictly, checking every line against its
 * grammar. (The one parser on npm, parse-prometheus-text-format, drops the labels of histograms with
 * labels besides `le`, which is every histogram here.)
 */
export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

export interface Family {
  name: string;
  type: string;
  help: string;
  samples: Sample[];
}

const NAME = "[a-zA-Z_:][a-zA-Z0-9_:]*";
const LABEL = `([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\\\\n]|\\\\[\\\\"n])*)"`;
const VALUE = "([+-]?(?:\\d+(?:\\.\\d*)?|\\.\\d+)(?:[eE][+-]?\\d+)?|[+-]Inf|NaN)";
const SAMPLE = new RegExp(`^(${NAME})(?:\\{((?:${LABEL},?)*)\\})? ${VALUE}(?: -?\\d+)?$`);
const TYPES = ["counter", "gauge", "histogram", "summary", "untyped"];

export function parsePrometheus(text: string): Map<string, Family> {
  const families = new Map<string, Family>();
  const lines = text.split("\n");
  if (lines.pop() !== "") throw new Error("the exposition must end with a newline");
  for (const [i, line] of lines.entries()) {
    const where = `line ${i + 1}: ${JSON.stringify(line)}`;
    let m: RegExpExecArray | null;
    if ((m = new RegExp(`^# HELP (${NAME}) (.*)$`).exec(line))) {
      family(families, m[1]!).help = m[2]!;
    } else if ((m = new RegExp(`^# TYPE (${NAME}) (\\w+)$`).exec(line))) {
      if (!TYPES.includes(m[2]!)) throw new Error(`unknown type at ${where}`);
      const f = family(families, m[1]!);
      if (f.type !== "untyped" || f.samples.length > 0) throw new Error(`TYPE after samples at ${where}`);
      f.type = m[2]!;
    } else if (line.startsWith("#") || line === "") {
      continue;
    } else if ((m = SAMPLE.exec(line))) {
      const labels: Record<string, string> = {};
      for (const l of (m[2] ?? "").matchAll(new RegExp(LABEL, "g"))) {
        if (l[1]! in labels) throw new Error(`label ${l[1]} twice at ${where}`);
        labels[l[1]!] = l[2]!.replace(/\\n/g, "\n").replace(/\\(["\\])/g, "$1");
      }
      const name = m[1]!;
      const f = [...families.values()].find((x) => ownedBy(name, x));
      if (!f) throw new Error(`a sample of no declared family at ${where}`);
      if (f.type === "histogram" && name.endsWith("_bucket") && labels.le === undefined)
        throw new Error(`a bucket without le at ${where}`);
      f.samples.push({ name, labels, value: Number(m[m.length - 1]!.replace("Inf", "Infinity")) });
    } else {
      throw new Error(`not the Prometheus text format at ${where}`);
    }
  }
  return families;
}

function family(families: Map<string, Family>, name: string): Family {
  let f = families.get(name);
  if (!f) families.set(name, (f = { name, type: "untyped", help: "", samples: [] }));
  return f;
}

function ownedBy(sample: string, f: Family): boolean {
  if (sample === f.name) return true;
  const suffixes =
    f.type === "histogram" ? ["_bucket", "_sum", "_count"] : f.type === "summary" ? ["_sum", "_count"] : [];
  return suffixes.some((s) => sample === f.name + s);
}
