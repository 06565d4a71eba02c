import { createHash, timingSafeEqual } from "node:crypto";

/**
 * Bearer-token authentication. Both sides are hashed first so that timingSafeEqual compares equal
 * lengths, and so that neither the token's content nor its length leaks through timing.
 */
export class BearerAuth {
  private readonly digest: Buffer;

  constructor(token: string) {
    this.digest = sha256(token);
  }

  /** The `Authorization` header carries the token. */
  allows(header: string | undefined): boolean {
    const m = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(header ?? "");
    return m !== null && timingSafeEqual(sha256(m[1]!), this.digest);
  }
}

function sha256(s: string): Buffer {
  return createHash("sha256").update(s, "utf8").digest();
}
