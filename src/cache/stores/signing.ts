/**
 * Signed action-cache entries. Whoever can write to a shared cache could otherwise publish any result under
 * any step's key; with a shared secret (`--cache-key-file`, `TRIBUTARY_CACHE_KEY`) every action-cache entry
 * uploaded to the remote travels in an envelope carrying an HMAC-SHA256, and readers refuse entries whose
 * signature is missing or wrong. CAS blobs need no signature: they are addressed by their SHA-256, which a
 * signed entry names, and every download is checked against it.
 *
 * The envelope (JSON, one line):
 *
 *     {"tributary":"signed-ac","v":1,"alg":"HMAC-SHA256","kid":"<key id>","key":"<action key>",
 *      "sig":"<hex>","body":"tributary-ac 1 <sha256>\n{manifest}"}
 *
 * `sig` = HMAC-SHA256(secret, "tributary-ac-sig 1\n" + action key + "\n" + body). The action key is part of
 * what is signed, so a validly signed entry copied under another key (another step's) does not verify.
 * `kid` (the first 16 hex digits of SHA-256("tributary-cache-key-id\0" + secret)) only tells "signed with
 * another key" apart from "tampered" in warnings; it reveals nothing usable about the secret.
 */
import { createHmac, timingSafeEqual } from "node:crypto";
import { readFileSync } from "node:fs";
import { digestBytes } from "../../graph/digest.js";

const ENVELOPE_TAG = "signed-ac";
const SIG_CONTEXT = "tributary-ac-sig 1\n";
/** Shorter secrets are refused: an HMAC is only as strong as its key. */
export const MIN_KEY_BYTES = 16;

interface Envelope {
  tributary: typeof ENVELOPE_TAG;
  v: 1;
  alg: "HMAC-SHA256";
  kid: string;
  key: string;
  sig: string;
  body: string;
}

export class AcSigner {
  /** Names the key in envelopes and warnings (not secret). */
  readonly keyId: string;
  private readonly secret: Buffer;

  constructor(secret: Uint8Array | string) {
    const bytes = typeof secret === "string" ? Buffer.from(secret, "utf8") : Buffer.from(secret);
    if (bytes.length < MIN_KEY_BYTES) {
      throw new Error(
        `the cache key is too short (${bytes.length} bytes; at least ${MIN_KEY_BYTES}): generate one with \`openssl rand -hex 32\``,
      );
    }
    this.secret = bytes;
    this.keyId = digestBytes(Buffer.concat([Buffer.from("tributary-cache-key-id\0"), bytes])).slice(0, 16);
  }

  private mac(key: string, body: Buffer): Buffer {
    return createHmac("sha256", this.secret).update(`${SIG_CONTEXT}${key}\n`).update(body).digest();
  }

  /** Wraps an action-cache entry (its bytes as the local cache writes them) for upload under `key`. */
  seal(key: string, entry: Uint8Array): Buffer {
    const body = Buffer.from(entry).toString("utf8");
    const envelope: Envelope = {
      tributary: ENVELOPE_TAG,
      v: 1,
      alg: "HMAC-SHA256",
      kid: this.keyId,
      key,
      sig: this.mac(key, Buffer.from(body, "utf8")).toString("hex"),
      body,
    };
    return Buffer.from(JSON.stringify(envelope));
  }

  /** True when `sig` (hex) is this key's signature of `body` under `key` (constant-time comparison). */
  verify(key: string, body: string, sig: string): boolean {
    if (!/^[0-9a-f]{64}$/.test(sig)) return false;
    return timingSafeEqual(this.mac(key, Buffer.from(body, "utf8")), Buffer.from(sig, "hex"));
  }
}

/**
 * The action-cache entry inside what a remote store returned for `key`, or why it is refused. With a
 * signer, only envelopes it signed for this very key are accepted; without one, envelopes are unwrapped
 * unverified (a reader without the key trusts the server) and plain entries pass through. `foreign`: signed
 * with another key — refused here, but perhaps valid for its signer's readers, so not to be replaced.
 */
export function openAcEntry(
  key: string,
  data: Buffer,
  signer: AcSigner | undefined,
): { entry: Buffer; signed: boolean } | { error: string; foreign?: boolean } {
  if (data[0] !== 0x7b /* { */) {
    if (signer) return { error: "not signed, and a cache key is set: unsigned entries are refused" };
    return { entry: data, signed: false };
  }
  let env: Partial<Envelope>;
  try {
    env = JSON.parse(data.toString("utf8")) as Partial<Envelope>;
  } catch {
    return { error: "not a tributary action-cache entry (unreadable JSON)" };
  }
  if (
    env === null ||
    typeof env !== "object" ||
    env.tributary !== ENVELOPE_TAG ||
    typeof env.body !== "string" ||
    typeof env.sig !== "string"
  ) {
    return { error: "not a tributary action-cache entry" };
  }
  if (env.v !== 1 || env.alg !== "HMAC-SHA256") {
    return { error: `signed in an unknown format (v ${String(env.v)}, ${String(env.alg)})` };
  }
  if (signer) {
    if (env.kid !== signer.keyId) {
      return {
        error: `signed with another key (id ${String(env.kid).slice(0, 16)}, ours ${signer.keyId})`,
        foreign: true,
      };
    }
    if (!signer.verify(key, env.body, env.sig)) {
      return { error: "its signature does not match (tampered with, or signed for another step)" };
    }
  }
  return { entry: Buffer.from(env.body, "utf8"), signed: true };
}

/**
 * The shared secret for signing: `--cache-key-file` (the file's bytes, without a trailing newline), else
 * `TRIBUTARY_CACHE_KEY` (the text itself), else none.
 */
export function loadCacheKey(options: { file?: string; env?: NodeJS.ProcessEnv }): AcSigner | undefined {
  if (options.file) {
    let bytes: Buffer;
    try {
      bytes = readFileSync(options.file);
    } catch (err) {
      throw new Error(`cannot read the cache key file ${options.file}: ${(err as Error).message}`);
    }
    let end = bytes.length;
    while (end > 0 && (bytes[end - 1] === 0x0a || bytes[end - 1] === 0x0d)) end--;
    return new AcSigner(bytes.subarray(0, end));
  }
  const fromEnv = (options.env ?? process.env).TRIBUTARY_CACHE_KEY;
  if (fromEnv) return new AcSigner(fromEnv);
  return undefined;
}
