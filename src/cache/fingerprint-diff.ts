import { unescapeKey } from "../graph/canonical.js";
import { digestBytes } from "../graph/digest.js";

/** One difference between two fingerprints of a step (the one before and the one now). */
export type Change =
  | { kind: "input-file"; path: string; from?: string; to?: string }
  | { kind: "input-value"; label: string; from?: string; to?: string }
  | { kind: "command"; field: "argv" | "shell" | "env" | "cwd"; from?: string; to?: string }
  | { kind: "code"; file: string; from?: string; to?: string }
  | { kind: "env"; name: string; from?: string | null; to?: string | null }
  | { kind: "option"; name: string; from?: string; to?: string }
  | { kind: "other"; what: string; from?: string; to?: string };

/** Fingerprint components as parsed back from their canonical JSON. */
export type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

/** What changed between two parsed fingerprints (canonical JSON of fingerprint.ts's Components). */
export function diffComponents(a: Record<string, Json>, b: Record<string, Json>): Change[] {
  const changes: Change[] = [];
  for (const what of ["format", "platform", "executor"]) {
    if (show(a[what]) !== show(b[what]))
      changes.push({ kind: "other", what, from: show(a[what]), to: show(b[what]) });
  }
  // Code: a declared version, or the files of the module graph.
  const ca = (a.code ?? {}) as Record<string, Json>;
  const cb = (b.code ?? {}) as Record<string, Json>;
  if (show(ca.version) !== show(cb.version))
    changes.push({ kind: "code", file: "(declared version)", from: opt(ca.version), to: opt(cb.version) });
  if (show(ca.export) !== show(cb.export))
    changes.push({ kind: "code", file: "(export name)", from: opt(ca.export), to: opt(cb.export) });
  const fa = (ca.files ?? {}) as Record<string, string>;
  const fb = (cb.files ?? {}) as Record<string, string>;
  for (const f of union(Object.keys(fa), Object.keys(fb))) {
    if (fa[f] !== fb[f]) changes.push({ kind: "code", file: f, from: fa[f], to: fb[f] });
  }
  if (show(ca.unresolved) !== show(cb.unresolved))
    changes.push({
      kind: "code",
      file: "(unresolved imports)",
      from: opt(ca.unresolved),
      to: opt(cb.unresolved),
    });
  // Command.
  const ma = (a.command ?? {}) as Record<string, Json>;
  const mb = (b.command ?? {}) as Record<string, Json>;
  if (show(ma.argv) !== show(mb.argv))
    changes.push({ kind: "command", field: "argv", from: argvText(ma.argv), to: argvText(mb.argv) });
  for (const field of ["shell", "env", "cwd"] as const) {
    if (show(ma[field]) !== show(mb[field]))
      changes.push({ kind: "command", field, from: opt(ma[field]), to: opt(mb[field]) });
  }
  // Inputs: files by path, other values by position.
  const la = leaves((a.inputs ?? []) as Json[]);
  const lb = leaves((b.inputs ?? []) as Json[]);
  for (const p of union([...la.files.keys()], [...lb.files.keys()])) {
    if (la.files.get(p) !== lb.files.get(p))
      changes.push({ kind: "input-file", path: p, from: la.files.get(p), to: lb.files.get(p) });
  }
  for (const l of union([...la.values.keys()], [...lb.values.keys()])) {
    if (la.values.get(l) !== lb.values.get(l))
      changes.push({ kind: "input-value", label: l, from: la.values.get(l), to: lb.values.get(l) });
  }
  // Env and options.
  const ea = (a.env ?? {}) as Record<string, string | null>;
  const eb = (b.env ?? {}) as Record<string, string | null>;
  for (const n of union(Object.keys(ea), Object.keys(eb))) {
    if (ea[n] !== eb[n]) changes.push({ kind: "env", name: n, from: ea[n], to: eb[n] });
  }
  const oa = (a.options ?? {}) as Record<string, Json>;
  const ob = (b.options ?? {}) as Record<string, Json>;
  for (const n of union(Object.keys(oa), Object.keys(ob))) {
    if (show(oa[n]) !== show(ob[n]))
      changes.push({ kind: "option", name: unescapeKey(n), from: opt(oa[n]), to: opt(ob[n]) });
  }
  if (show(a.outputs) !== show(b.outputs))
    changes.push({ kind: "other", what: "declared outputs", from: show(a.outputs), to: show(b.outputs) });
  return changes;
}

function leaves(inputs: Json[]): { files: Map<string, string>; values: Map<string, string> } {
  const files = new Map<string, string>();
  const values = new Map<string, string>();
  const walk = (v: Json, label: string): void => {
    if (v !== null && typeof v === "object" && !Array.isArray(v)) {
      if (typeof v.$$file === "string" && typeof v.digest === "string" && Object.keys(v).length === 2) {
        files.set(v.$$file, v.digest);
        return;
      }
      if ("$raw" in v && Object.keys(v).length === 1) {
        walk(v.$raw!, label);
        return;
      }
      const c = v.$concat as { parts?: Json[] } | undefined;
      if (c && Object.keys(v).length === 1 && Array.isArray(c.parts)) {
        c.parts.forEach((p, j) => walk(p, `${label} part ${j}`));
        return;
      }
      for (const k of Object.keys(v)) walk(v[k]!, `${label}.${unescapeKey(k)}`);
      return;
    }
    if (Array.isArray(v)) {
      v.forEach((x, i) => walk(x, `${label}[${i}]`));
      return;
    }
    values.set(label, show(v));
  };
  inputs.forEach((v, i) => walk(v, `input ${i}`));
  return { files, values };
}

function union(a: string[], b: string[]): string[] {
  return [...new Set([...a, ...b])].sort();
}

function show(v: Json | undefined): string {
  if (v === undefined) return "";
  const s = JSON.stringify(v);
  return s.length > 200
    ? `${s.slice(0, 120)}… (${s.length} chars, sha256 ${digestBytes(s).slice(0, 12)})`
    : s;
}

function opt(v: Json | undefined): string | undefined {
  return v === undefined ? undefined : show(v);
}

/** A command line as a user would type it: a /bin/sh line as is, argv words quoted where needed. */
function argvText(v: Json | undefined): string | undefined {
  if (!Array.isArray(v)) return undefined;
  if (v.length === 1 && typeof v[0] === "string") return v[0];
  return v
    .map((x) => {
      const w = typeof x === "string" ? x : JSON.stringify(x);
      return /^[A-Za-z0-9_./:=@%+,-]+$/.test(w) ? w : `'${w.replace(/'/g, `'\\''`)}'`;
    })
    .join(" ");
}
