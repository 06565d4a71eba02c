import type { FSWatcher } from "chokidar";
import type { FastifyBaseLogger } from "fastify";
import { InvalidFlowError, loadFlow, type LoadFlowOptions, type RunnableFlow } from "../project/index.js";

/** One loaded version of a flow and the requests still running on it. */
interface Version {
  flow: RunnableFlow;
  users: number;
  retired: boolean;
  /** Settles once the version is closed (after its last request). */
  closed: Promise<void>;
  close(): void;
}

function version(flow: RunnableFlow): Version {
  let close!: () => void;
  const closed = new Promise<void>((resolve) => (close = resolve))
    .then(() => flow.close())
    // close() settles every part it closes; nothing is left to report.
    .catch(() => {});
  return { flow, users: 0, retired: false, closed, close };
}

/** A loaded flow lent to one request: release it when the request is done with it. */
export interface Lease {
  flow: RunnableFlow;
  release(): void;
}

export interface ServedFlowOptions {
  load: LoadFlowOptions;
  /** Reload when the flow file or a module file it uses changes. */
  watch: boolean;
  log: FastifyBaseLogger;
  /** Called after a new version was swapped in. */
  onReload?: () => void;
}

/**
 * A flow file served under its name: the version requests run, and hot reload. A new version is swapped
 * in only once it loaded; requests that started on the old one finish on it, which is closed after the
 * last of them. A file edited into an invalid state leaves the last good version serving.
 */
export class ServedFlow {
  private current: Version;
  private readonly retired = new Set<Version>();
  private watcher: FSWatcher | undefined;
  private reloading: Promise<void> | undefined;
  private again = false;
  private timer: NodeJS.Timeout | undefined;
  private closing = false;

  private constructor(
    readonly file: string,
    flow: RunnableFlow,
    private readonly options: ServedFlowOptions,
  ) {
    this.current = version(flow);
  }

  static async load(file: string, options: ServedFlowOptions): Promise<ServedFlow> {
    const served = new ServedFlow(file, await loadFlow(file, options.load), options);
    if (options.watch) await served.startWatching();
    return served;
  }

  get name(): string {
    return this.current.flow.name;
  }

  /** The version new requests get (for listings and the API description). */
  get flow(): RunnableFlow {
    return this.current.flow;
  }

  acquire(): Lease {
    const v = this.current;
    v.users++;
    let released = false;
    return {
      flow: v.flow,
      release: () => {
        if (released) return;
        released = true;
        v.users--;
        if (v.retired && v.users === 0) this.closeVersion(v);
      },
    };
  }

  /** Stops watching and closes every version, once the requests on it are done. */
  async close(): Promise<void> {
    this.closing = true;
    clearTimeout(this.timer);
    await this.watcher?.close();
    await this.reloading;
    this.retire(this.current);
    await Promise.all([...this.retired].map((v) => v.closed));
  }

  private async startWatching(): Promise<void> {
    const { watch } = await import("chokidar");
    this.watcher = watch(this.watched(), { ignoreInitial: true });
    this.watcher.on("all", (event) => {
      if (event === "addDir" || event === "unlinkDir") return;
      // Editors write a file in several steps: one reload for the burst.
      clearTimeout(this.timer);
      this.timer = setTimeout(() => this.reloadSoon(), 50);
    });
    await new Promise<void>((resolve) => this.watcher!.once("ready", () => resolve()));
  }

  private watched(): string[] {
    return [this.file, ...this.current.flow.modules];
  }

  private reloadSoon(): void {
    if (this.closing) return;
    if (this.reloading) {
      this.again = true;
      return;
    }
    this.reloading = this.reload().finally(() => {
      this.reloading = undefined;
      if (this.again) {
        this.again = false;
        this.reloadSoon();
      }
    });
  }

  private async reload(): Promise<void> {
    const log = this.options.log;
    let flow: RunnableFlow;
    try {
      flow = await loadFlow(this.file, { ...this.options.load, freshModules: true });
    } catch (err) {
      log.error(
        { flow: this.name, file: this.file, diagnostics: oneLine(err) },
        "reload failed: still serving the last good version",
      );
      return;
    }
    if (this.closing) {
      await flow.close();
      return;
    }
    const before = this.watched();
    const old = this.current;
    this.current = version(flow);
    this.retire(old);
    const after = this.watched();
    this.watcher?.unwatch(before.filter((f) => !after.includes(f)));
    this.watcher?.add(after.filter((f) => !before.includes(f)));
    log.info({ flow: this.name, file: this.file }, "reloaded");
    this.options.onReload?.();
  }

  private retire(v: Version): void {
    if (v.retired) return;
    v.retired = true;
    this.retired.add(v);
    if (v.users === 0) this.closeVersion(v);
  }

  private closeVersion(v: Version): void {
    v.close();
    void v.closed.finally(() => this.retired.delete(v));
  }
}

/** What is wrong with a flow that failed to load, on one line: `file:line:col: message` for each error. */
export function oneLine(err: unknown): string {
  if (err instanceof InvalidFlowError) {
    return err.diagnostics
      .filter((d) => d.severity === "error")
      .map((d) => `${d.file}:${d.line}:${d.col}: ${d.message}${d.hint ? ` (${d.hint})` : ""}`)
      .join("; ");
  }
  return String((err as Error)?.message ?? err).replace(/\s*\n\s*/g, "; ");
}
