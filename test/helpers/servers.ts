/**
 * Real servers for tests and benchmarks: started on a free loopback port with a temporary directory, stopped
 * by PID (never by name), so several test files can run side by side.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createConnection, createServer, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { toolPath } from "./tools.js";

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

/**
 * One server process on a loopback port with its own temp directory: started, waited for until it answers,
 * stopped by PID. Subclasses say how to start it (`launch`) and how to tell it is up.
 */
abstract class LoopbackServer {
  private child: ChildProcess | undefined;
  private exited: Promise<void> = Promise.resolve();
  readonly dir: string;

  protected constructor(
    readonly port: number,
    dirPrefix: string,
  ) {
    this.dir = mkdtempSync(join(tmpdir(), dirPrefix));
  }

  get pid(): number | undefined {
    return this.child?.exitCode === null && this.child.signalCode === null ? this.child.pid : undefined;
  }

  protected abstract launch(): Promise<void>;

  /**
   * Makes a server on `port` (default: a free one) and launches it. Another process may take a free port
   * between freePort() and the bind: then it tries another one, a few times.
   */
  protected static async launchOnPort<S extends LoopbackServer>(
    port: number | undefined,
    make: (port: number) => S,
  ): Promise<S> {
    for (let tries = 0; ; tries++) {
      const server = make(port ?? (await freePort()));
      try {
        await server.launch();
        return server;
      } catch (err) {
        await server.stop();
        if (port !== undefined || tries >= 3) throw err;
      }
    }
  }

  /** Spawns `command` and resolves once `answers()` does; rejects with its stderr (and `log()`) if it never does. */
  protected async spawnAndWait(
    command: string,
    args: string[],
    answers: () => Promise<boolean>,
    log: () => string = () => "",
  ): Promise<void> {
    let stderr = "";
    const child = spawn(command, args, { stdio: ["ignore", "ignore", "pipe"] });
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
      if (await answers()) return;
      await sleep(25);
    }
    const why = (stderr + log()).trim() || "no output";
    throw new Error(`${command} on port ${this.port} did not start: ${why}`);
  }

  /** Stops the server (`signal`, then SIGKILL after 5 s): the port refuses connections afterwards. */
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

  /** Starts it again on the same port and directory (what it persisted there comes back). */
  async restart(): Promise<void> {
    await this.shutdown();
    await this.launch();
  }

  /** Stops the server and removes its directory (data included). Safe to call twice. */
  async stop(): Promise<void> {
    await this.shutdown();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

export type Persistence = "none" | "aof" | "rdb";

export interface RedisServerOptions {
  /** "none" (default): nothing survives a restart; "aof": appendonly with fsync always; "rdb": a dump on shutdown. */
  persistence?: Persistence;
  port?: number;
}

export class RedisServer extends LoopbackServer {
  private constructor(
    port: number,
    private readonly persistence: Persistence,
  ) {
    super(port, "tributary-redis-");
  }

  static start(options: RedisServerOptions = {}): Promise<RedisServer> {
    return LoopbackServer.launchOnPort(
      options.port,
      (port) => new RedisServer(port, options.persistence ?? "none"),
    );
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  private args(): string[] {
    const args = ["--port", String(this.port), "--bind", "127.0.0.1", "--dir", this.dir, "--daemonize", "no"];
    args.push("--save", this.persistence === "rdb" ? "3600 1" : "");
    if (this.persistence === "aof") args.push("--appendonly", "yes", "--appendfsync", "always");
    else args.push("--appendonly", "no");
    return args;
  }

  protected launch(): Promise<void> {
    // With persistence, Redis answers -LOADING (not +PONG) until the data set is back.
    return this.spawnAndWait(
      toolPath("redis-server"),
      this.args(),
      async () => (await redisCommand(this.port, "PING")) === "+PONG",
    );
  }
}

export function startRedis(options?: RedisServerOptions): Promise<RedisServer> {
  return RedisServer.start(options);
}

/** Sends one HTTP request line and resolves with the status code, or undefined when nothing answers. */
function httpStatus(port: number, path: string, timeoutMs = 500): Promise<number | undefined> {
  return new Promise((resolveStatus) => {
    const sock = createConnection({ host: "127.0.0.1", port });
    let data = "";
    const done = (v: number | undefined) => {
      clearTimeout(timer);
      sock.destroy();
      resolveStatus(v);
    };
    const timer = setTimeout(() => done(undefined), timeoutMs);
    sock.on("connect", () =>
      sock.write(`HEAD ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n`),
    );
    sock.on("data", (b) => {
      data += b.toString();
      const m = /^HTTP\/1\.[01] (\d{3})/.exec(data);
      if (m) done(Number(m[1]));
    });
    sock.on("error", () => done(undefined));
  });
}

/**
 * A loopback TCP listener that misbehaves on purpose and counts the connections it gets: "reset" answers
 * each one with a TCP reset (a server going down), "silent" accepts and never answers (a hung server).
 * Counting connections shows retries and give-ups without measuring time.
 */
export interface BrokenServer {
  port: number;
  url: string;
  connections(): number;
  close(): Promise<void>;
}

export async function startBrokenServer(behaviour: "reset" | "silent"): Promise<BrokenServer> {
  let connections = 0;
  const held: Socket[] = [];
  const srv = createServer((socket) => {
    connections++;
    if (behaviour === "reset") socket.resetAndDestroy();
    else held.push(socket);
  });
  await new Promise<void>((resolveListen) => srv.listen(0, "127.0.0.1", resolveListen));
  const port = (srv.address() as { port: number }).port;
  return {
    port,
    url: `http://127.0.0.1:${port}`,
    connections: () => connections,
    close: () => {
      for (const socket of held) socket.destroy();
      return new Promise((resolveClose) => srv.close(() => resolveClose()));
    },
  };
}

export interface NginxOptions {
  port?: number;
  /** Require this user and password (HTTP basic auth) for every request. */
  basicAuth?: { user: string; password: string };
}

/**
 * nginx as a WebDAV server: what a team would put in front of a shared disk as a Bazel-protocol HTTP
 * cache. `GET/HEAD/PUT/DELETE` on files under `data` (the cache's root), every other path (pid, logs, temp
 * files) inside its own temp dir, one process (`master_process off`: nothing is left behind when it is
 * killed, and it writes `data` as the user that started it, root included).
 */
export class NginxServer extends LoopbackServer {
  /** Where PUT bodies land: `<data>/<path>`. */
  readonly data: string;

  private constructor(
    port: number,
    private readonly options: NginxOptions,
  ) {
    super(port, "tributary-nginx-");
    this.data = join(this.dir, "data");
  }

  static start(options: NginxOptions = {}): Promise<NginxServer> {
    return LoopbackServer.launchOnPort(options.port, (port) => new NginxServer(port, options));
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  private config(): string {
    const d = this.dir;
    const auth = this.options.basicAuth
      ? `auth_basic "cache"; auth_basic_user_file ${join(d, "htpasswd")};`
      : "";
    return `
daemon off;
master_process off;
worker_processes 1;
pid ${join(d, "nginx.pid")};
error_log ${join(d, "error.log")} warn;
events { worker_connections 512; }
http {
  access_log off;
  log_not_found off;
  client_body_temp_path ${join(d, "tmp", "body")};
  proxy_temp_path ${join(d, "tmp", "proxy")};
  fastcgi_temp_path ${join(d, "tmp", "fastcgi")};
  uwsgi_temp_path ${join(d, "tmp", "uwsgi")};
  scgi_temp_path ${join(d, "tmp", "scgi")};
  keepalive_requests 100000;
  server {
    listen 127.0.0.1:${this.port};
    root ${this.data};
    client_max_body_size 0;
    location / {
      ${auth}
      dav_methods PUT DELETE;
      create_full_put_path on;
      dav_access user:rw group:r all:r;
    }
  }
}
`;
  }

  protected async launch(): Promise<void> {
    mkdirSync(join(this.dir, "tmp"), { recursive: true });
    mkdirSync(this.data, { recursive: true });
    if (this.options.basicAuth) {
      const { user, password } = this.options.basicAuth;
      // {PLAIN} is one of nginx's own password schemes: fine for a test server on loopback.
      writeFileSync(join(this.dir, "htpasswd"), `${user}:{PLAIN}${password}\n`);
    }
    const conf = join(this.dir, "nginx.conf");
    writeFileSync(conf, this.config());
    const errorLog = () => {
      try {
        return readFileSync(join(this.dir, "error.log"), "utf8");
      } catch {
        return "";
      }
    };
    await this.spawnAndWait(
      toolPath("nginx"),
      ["-c", conf, "-p", `${this.dir}/`, "-e", join(this.dir, "error.log")],
      async () => (await httpStatus(this.port, "/")) !== undefined,
      errorLog,
    );
  }
}

export function startNginx(options?: NginxOptions): Promise<NginxServer> {
  return NginxServer.start(options);
}
