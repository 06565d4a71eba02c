/**
 * Content-digest throughput: which hash the cache should address files by.
 *
 *     node_modules/.bin/tsx bench/hashing.ts [--mb 1024] [--dir /tmp]
 *
 * Writes `--mb` megabytes (default 1024, in 64 MiB files) of random data to a temp directory, hashes
 * every file with each candidate (read in 4 MiB chunks from the page cache, so it measures the hash,
 * not the disk; each algorithm's best of two passes), prints MB/s, then deletes the files.
 * Also hashes 4,000 small files (4 kB), where per-file overhead dominates, with SHA-256.
 *
 * The lead's bench runner calls {@link hashingBench}.
 */
import { createHash, getHashes, randomFillSync } from "node:crypto";
import { mkdtemp, open, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { parseArgs } from "node:util";
import { createBLAKE3, createSHA256, createXXHash128 } from "hash-wasm";

export interface Row {
  /** What was hashed: `1024 MB in 16 files` or `4000 files of 4 kB`. */
  data: string;
  algorithm: string;
  implementation: "node:crypto (OpenSSL)" | "hash-wasm (WebAssembly)";
  mbPerSec: number;
  seconds: number;
  bytes: number;
  /** Digest length in bits. */
  bits: number;
}

export interface HashingBenchOptions {
  /** Megabytes of large files (default 1024). */
  mb?: number;
  /** Where to put the temp directory (default the OS temp dir). */
  dir?: string;
  /** Small files to hash for the per-file overhead row (default 4000; 0 to skip). */
  smallFiles?: number;
  onProgress?: (message: string) => void;
}

/** A streaming hasher: the interface hash-wasm and node:crypto have in common (after wrapping). */
interface Hasher {
  update(data: Uint8Array): void;
  digest(): string;
}

interface Candidate {
  algorithm: string;
  implementation: Row["implementation"];
  bits: number;
  /** Sets the algorithm up once (a WebAssembly instance), then gives a fresh hasher per file. */
  setup: () => Promise<() => Hasher>;
}

function nodeHash(algorithm: string, name: string, bits: number): Candidate | undefined {
  if (!getHashes().includes(algorithm)) return undefined;
  return {
    algorithm: name,
    implementation: "node:crypto (OpenSSL)",
    bits,
    setup: async () => () => {
      const h = createHash(algorithm);
      return { update: (d) => h.update(d), digest: () => h.digest("hex") };
    },
  };
}

function wasmHash(
  name: string,
  bits: number,
  make: () => Promise<{ init(): unknown; update(d: Uint8Array): unknown; digest(): string }>,
): Candidate {
  return {
    algorithm: name,
    implementation: "hash-wasm (WebAssembly)",
    bits,
    setup: async () => {
      const h = await make();
      return () => {
        h.init();
        return { update: (d) => void h.update(d), digest: () => h.digest() };
      };
    },
  };
}

function candidates(): Candidate[] {
  return [
    nodeHash("sha256", "SHA-256", 256),
    nodeHash("sha1", "SHA-1", 160),
    nodeHash("sha512", "SHA-512", 512),
    nodeHash("blake2b512", "BLAKE2b-512", 512),
    nodeHash("md5", "MD5", 128),
    wasmHash("SHA-256", 256, createSHA256),
    wasmHash("BLAKE3", 256, () => createBLAKE3()),
    wasmHash("XXH128", 128, createXXHash128),
  ].filter((c): c is Candidate => c !== undefined);
}

const CHUNK = 4 * 1024 * 1024;

async function hashFiles(
  files: string[],
  c: Candidate,
  buf: Buffer,
): Promise<{ seconds: number; bytes: number }> {
  const create = await c.setup();
  const t0 = performance.now();
  let bytes = 0;
  for (const f of files) {
    const h = create();
    const fh = await open(f, "r");
    try {
      for (;;) {
        const { bytesRead } = await fh.read(buf, 0, buf.length, null);
        if (bytesRead === 0) break;
        h.update(buf.subarray(0, bytesRead));
        bytes += bytesRead;
      }
    } finally {
      await fh.close();
    }
    h.digest();
  }
  return { seconds: (performance.now() - t0) / 1000, bytes };
}

/** Runs the benchmark; rows are sorted fastest first within each data set. */
export async function hashingBench(options: HashingBenchOptions = {}): Promise<Row[]> {
  const mb = options.mb ?? 1024;
  const say = options.onProgress ?? (() => {});
  const dir = await mkdtemp(join(options.dir ?? tmpdir(), "tributary-hashing-"));
  const rows: Row[] = [];
  try {
    // Large files: 64 MiB each of random data (one random block, varied per file so no two are equal).
    const fileBytes = Math.min(64, mb) * 1024 * 1024;
    const count = Math.max(1, Math.round((mb * 1024 * 1024) / fileBytes));
    const block = randomFillSync(Buffer.alloc(fileBytes));
    const files: string[] = [];
    say(`writing ${count} files of ${fileBytes >> 20} MiB to ${dir}`);
    for (let i = 0; i < count; i++) {
      block.writeUInt32LE(i, 0);
      const f = join(dir, `big-${i}.bin`);
      await writeFile(f, block);
      files.push(f);
    }
    const buf = Buffer.alloc(CHUNK);
    const label = `${Math.round((count * fileBytes) / 1e6)} MB in ${count} files`;
    for (const c of candidates()) {
      let best = Infinity;
      let bytes = 0;
      for (let pass = 0; pass < 2; pass++) {
        const r = await hashFiles(files, c, buf);
        best = Math.min(best, r.seconds);
        bytes = r.bytes;
      }
      const mbPerSec = bytes / 1e6 / best;
      say(`${c.algorithm} (${c.implementation}): ${mbPerSec.toFixed(0)} MB/s`);
      rows.push({
        data: label,
        algorithm: c.algorithm,
        implementation: c.implementation,
        mbPerSec,
        seconds: best,
        bytes,
        bits: c.bits,
      });
    }

    // Small files: per-file overhead (open, stat, read, close) against the hash itself.
    const small = options.smallFiles ?? 4000;
    if (small > 0) {
      const smallFiles: string[] = [];
      const content = randomFillSync(Buffer.alloc(4096));
      for (let i = 0; i < small; i++) {
        content.writeUInt32LE(i, 0);
        const f = join(dir, `small-${i}.bin`);
        await writeFile(f, content);
        smallFiles.push(f);
      }
      for (const c of candidates().filter((x) => x.algorithm === "SHA-256" || x.algorithm === "XXH128")) {
        let best = Infinity;
        let bytes = 0;
        for (let pass = 0; pass < 2; pass++) {
          const r = await hashFiles(smallFiles, c, buf);
          best = Math.min(best, r.seconds);
          bytes = r.bytes;
        }
        rows.push({
          data: `${small} files of 4 kB`,
          algorithm: c.algorithm,
          implementation: c.implementation,
          mbPerSec: bytes / 1e6 / best,
          seconds: best,
          bytes,
          bits: c.bits,
        });
      }
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
  return rows.sort((a, b) => (a.data === b.data ? b.mbPerSec - a.mbPerSec : 0));
}

/** A markdown table of the rows. */
export function formatRows(rows: Row[]): string {
  const lines = [
    "| data | algorithm | implementation | bits | MB/s | µs per file or s |",
    "|---|---|---|---|---|---|",
  ];
  for (const r of rows) {
    const perFile = r.data.includes("files of")
      ? `${((r.seconds * 1e6) / Number(r.data.split(" ")[0])).toFixed(0)} µs/file`
      : `${r.seconds.toFixed(2)} s`;
    lines.push(
      `| ${r.data} | ${r.algorithm} | ${r.implementation} | ${r.bits} | ${r.mbPerSec.toFixed(0)} | ${perFile} |`,
    );
  }
  return lines.join("\n");
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) {
  const { values } = parseArgs({
    options: { mb: { type: "string" }, dir: { type: "string" }, small: { type: "string" } },
  });
  const rows = await hashingBench({
    mb: values.mb ? Number(values.mb) : undefined,
    dir: values.dir,
    smallFiles: values.small ? Number(values.small) : undefined,
    onProgress: (m) => process.stderr.write(`${m}\n`),
  });
  process.stdout.write(formatRows(rows) + "\n");
}
