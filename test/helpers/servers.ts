/**
 * Real servers for tests and benchmarks: started on a free loopback port with a temporary directory, stopped
 * by PID (never by name), so several test files can run side by side.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { createConnection, createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";

/** A port the kernel just handed out on 127.0.0.1 (free at the time of the call). */
export function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const addr = srv.address();
      const port = typeof addr === "object" && addr ? addr.port : 0;
      srv.close(() => resolvePort(port));
    });
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Servers still running, killed when this process exits whatever the reason (a test that timed out never
 * reaches its afterAll): no server outlives the test file that started it.
 */
const live = new Set<ChildProcess>();
process.once("exit", () => {
  for (const c of live) {
    try {
      if (c.exitCode === null && c.signalCode === null) process.kill(c.pid!, "SIGKILL");
    } catch {
      // Gone already.
    }
  }
});

export { live as liveServers };

/** Sends one inline command and resolves with the first reply line, or undefined when nothing answers. */
function redisCommand(port: number, command: string, timeoutMs = 500): Promise<string | undefined> {
  return new Promise((resolveReply) => {
    const sock = createConnection({ host: "127.0.0.1", port });
    let data = "";
    const done = (v: string | undefined) => {
      clearTimeout(timer);
      sock.destroy();
      resolveReply(v);
    };
    const timer = setTimeout(() => done(undefined), timeoutMs);
    sock.on("connect", () => sock.write(`${command}\r\n`));
    sock.on("data", (b) => {
      data += b.toString();
      const nl = data.indexOf("\r\n");
      if (nl >= 0) done(data.slice(0, nl));
    });
    sock.on("error", () => done(undefined));
  });
}

export type Persistence = "none" | "aof" | "rdb";

export interface RedisServerOptions {
  /** "none" (default): nothing survives a restart; "aof": appendonly with fsync always; "rdb": a dump on shutdown. */
  persistence?: Persistence;
  port?: number;
}

export class RedisServer {
  private child: ChildProcess | undefined;
  private exited: Promise<void> = Promise.resolve();
  readonly dir: string;

  private constructor(
    readonly port: number,
    private readonly persistence: Persistence,
  ) {
    this.dir = mkdtempSync(join(tmpdir(), "tributary-redis-"));
  }

  static async start(options: RedisServerOptions = {}): Promise<RedisServer> {
    for (let tries = 0; ; tries++) {
      const server = new RedisServer(options.port ?? (await freePort()), options.persistence ?? "none");
      try {
        await server.launch();
        return server;
      } catch (err) {
        await server.stop();
        // Another process may have taken the port between freePort() and the bind: try another one.
        if (options.port !== undefined || tries >= 3) throw err;
      }
    }
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  get pid(): number | undefined {
    return this.child?.exitCode === null && this.child.signalCode === null ? this.child.pid : undefined;
  }

  private args(): string[] {
    const args = ["--port", String(this.port), "--bind", "127.0.0.1", "--dir", this.dir, "--daemonize", "no"];
    args.push("--save", this.persistence === "rdb" ? "3600 1" : "");
    if (this.persistence === "aof") args.push("--appendonly", "yes", "--appendfsync", "always");
    else args.push("--appendonly", "no");
    return args;
  }

  private async launch(): Promise<void> {
    let stderr = "";
    const child = spawn("redis-server", this.args(), { stdio: ["ignore", "ignore", "pipe"] });
    this.child = child;
    live.add(child);
    child.stderr!.on("data", (b: Buffer) => (stderr += b.toString()));
    this.exited = new Promise((res) =>
      child.once("exit", () => {
        live.delete(child);
        res();
      }),
    );
    child.once("error", (err) => (stderr += String(err)));
    const end = Date.now() + 10_000;
    while (Date.now() < end) {
      if (child.exitCode !== null || child.signalCode !== null) break;
      if ((await redisCommand(this.port, "PING")) === "+PONG") {
        // With persistence, Redis answers -LOADING until the data set is back.
        return;
      }
      await sleep(25);
    }
    throw new Error(`redis-server on port ${this.port} did not start: ${stderr.trim() || "no output"}`);
  }

  /** Stops the server (SIGTERM, then SIGKILL); with "rdb" persistence SIGTERM writes the dump first. */
  async shutdown(signal: NodeJS.Signals = "SIGTERM"): Promise<void> {
    const pid = this.pid;
    if (pid === undefined) return;
    process.kill(pid, signal);
    const killer = setTimeout(() => {
      if (this.pid !== undefined) process.kill(pid, "SIGKILL");
    }, 5000);
    await this.exited;
    clearTimeout(killer);
  }

  /** Starts it again on the same port and directory (what persisted comes back). */
  async restart(): Promise<void> {
    await this.shutdown();
    await this.launch();
  }

  /** Stops the server and removes its directory. Safe to call twice. */
  async stop(): Promise<void> {
    await this.shutdown();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

export function startRedis(options?: RedisServerOptions): Promise<RedisServer> {
  return RedisServer.start(options);
}
