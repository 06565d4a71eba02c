import type { Redis } from "./bullmq-ioredis.js";
import { withDeadline, type OutputMessage } from "./protocol.js";

const OUTPUT_FLUSH_MS = 50;
const OUTPUT_FLUSH_BYTES = 64 * 1024;

/**
 * Publishes a step's output on `channel` as it happens, batched into messages of up to 64 KiB, at most
 * every 50 ms per stream. `end` sends what is left and resolves with the number of messages once Redis
 * has them all (the orchestrator waits for that many).
 */
export function outputPublisher(
  pub: Redis,
  jobId: string,
  channel: string,
): { write(stream: "stdout" | "stderr", chunk: string): void; end(): Promise<number> } {
  const buffers: Record<"stdout" | "stderr", string> = { stdout: "", stderr: "" };
  let timer: NodeJS.Timeout | undefined;
  let sent = 0;
  let last: Promise<unknown> = Promise.resolve();
  const flush = () => {
    if (timer) clearTimeout(timer);
    timer = undefined;
    for (const s of ["stdout", "stderr"] as const) {
      if (buffers[s] === "") continue;
      const msg: OutputMessage = { j: jobId, s, c: buffers[s] };
      buffers[s] = "";
      sent++;
      last = pub.publish(channel, JSON.stringify(msg)).catch(() => {});
    }
  };
  const write = (stream: "stdout" | "stderr", chunk: string) => {
    buffers[stream] += chunk;
    if (buffers[stream].length >= OUTPUT_FLUSH_BYTES) flush();
    else timer ??= setTimeout(flush, OUTPUT_FLUSH_MS);
  };
  const end = async () => {
    flush();
    await withDeadline(last, 2000).catch(() => {});
    return sent;
  };
  return { write, end };
}
