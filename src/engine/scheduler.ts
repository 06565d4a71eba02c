import type { ModuleLimits } from "../graph/ir.js";
import { bottomLevels, layers as layerOf, toposort, type Topology } from "../graph/topology.js";
import { ReadyQueue } from "./ready-queue.js";
import type { ModuleGates } from "./module-gates.js";
import { Capacity, Gate } from "./resources.js";

/**
 * - eager: a step starts as soon as its inputs are done and resources allow; ready steps by priority,
 *   then longest remaining path (bottom level), then declaration order.
 * - fifo: eager, but ready steps in the order they became ready (the naive baseline).
 * - layers: a barrier after every topological layer, as in level-by-level executors (for comparison).
 */
export type ScheduleMode = "eager" | "fifo" | "layers";

/** What the scheduler needs to know about one step. */
export interface StepMeta {
  module: string;
  priority: number;
  cpus: number;
  /** Bytes of memory the step holds while it runs (`memory:`); 0 when it declares none. */
  memory: number;
  pool?: string;
  estimateMs: number;
  /** The estimate is declared or learned, not a placeholder: backfilling may trust it. */
  estimateKnown: boolean;
  /** Receives a failed map's partial value instead of being blocked by it. */
  partial: boolean;
  isMap: boolean;
}

export interface SchedulerOptions {
  concurrency: number;
  /** Bytes of memory the steps that declare `memory:` share (`--memory`). Default: unlimited. */
  memory?: number;
  mode?: ScheduleMode;
  pools?: Record<string, number>;
  limits?: Record<string, ModuleLimits>;
  /** Only these steps run (1 = needed); default all. */
  needed?: Uint8Array;
  /** Time of construction, for rate-limit buckets and for when the first steps became ready. */
  now?: number;
  /**
   * Where module limits live when they must hold across runs; without it they are this scheduler's
   * own (a simulation keeps them private, on its own clock).
   */
  moduleGates?: ModuleGates;
  /**
   * Let later steps use slots a waiting wide step leaves idle when they cannot delay it (see
   * Scheduler.backfill). Default true; false keeps strict order, for comparison in benchmarks.
   */
  backfill?: boolean;
  /**
   * One step at a time, even one that takes no CPU slot (`cpus: 0`), in the order steps became ready
   * (declaration order first): every run of the same flow takes the same path (`--serial`).
   */
  serial?: boolean;
  /**
   * Start ready steps in an order drawn from this seed instead of by priority and path length, to
   * expose dependencies a flow forgot to declare (`--shuffle`); at -j1 a seed gives one order.
   */
  shuffleSeed?: number;
  /** Absolute time of this scheduler's time 0, so shared buckets see one clock across runs. */
  clockOffset?: number;
  /**
   * Called (asynchronously) when another run releases a shared capacity this scheduler has steps
   * parked on: the owner should call {@link Scheduler.next} again.
   */
  wake?: () => void;
}

export type Outcome = "ok" | "failed" | "cancelled";

/** Ready steps behind a waiting wide step that backfilling looks at, at most, per decision. */
const BACKFILL_WINDOW = 64;

/** Shared result of the common case, so finishing a step allocates nothing. */
const NOTHING_BLOCKED: readonly number[] = Object.freeze([]);

export const enum State {
  Waiting = 0,
  Ready = 1,
  Running = 2,
  Ok = 3,
  Failed = 4,
  Blocked = 5,
  Cancelled = 6,
  Skipped = 7,
  /** A map step whose items are running; it becomes ready again, without resources, to collect them. */
  Expanded = 8,
}

/**
 * The ready queue, dependency counting and resource accounting of a run. Purely logical: it never reads
 * a clock, starts anything or awaits anything, so real runs and simulations drive the very same code.
 */
export class Scheduler {
  readonly mode: ScheduleMode;
  readonly concurrency: number;
  /** Needed steps that have not reached a final state. */
  remaining = 0;
  private free: number;
  private memFree: number;
  private readonly memTotal: number;
  private runningCount = 0;
  /**
   * Some step takes more than one CPU slot, or memory: a step at the head of the queue may then wait
   * for room while smaller ones could use it (backfilling, see {@link backfill}). Until then none of
   * that bookkeeping is paid for.
   */
  private wide = false;
  /** Some step takes no CPU slot: it may start even when every slot is taken. */
  private zeroCpu = false;
  /** The running steps, kept only when {@link wide}. */
  private readonly runningSet = new Set<number>();
  /** Durations of the steps that finished, for the expected duration of those with no estimate. */
  private measuredMs = 0;
  private measured = 0;
  private size: number;

  state: Uint8Array;
  private pending: Int32Array;
  private prio: Float64Array;
  rank: Float64Array;
  private cpus: Int32Array;
  private mem: Float64Array;
  /** Expected duration; NaN when unknown (see {@link expectedMs}). */
  private est: Float64Array;
  private startAt: Float64Array;
  private poolOf: Int32Array;
  private modOf: Int32Array;
  private layer: Int32Array;
  private seq: Float64Array;
  private flags: Uint8Array; // bit 0 isMap, bit 1 partial, bit 2 collecting
  private parentOf: Int32Array;
  /** When each step last became ready, for how long it queued. */
  private readySince: Float64Array;
  /** The latest time the owner told us; stamps steps made ready. */
  private clock: number;

  private readonly gates: Gate[] = [];
  private readonly poolGate = new Map<string, number>();
  private readonly moduleGate = new Map<string, number>();
  private readonly parkedGates = new Set<Gate>();
  private readonly wake: (() => void) | undefined;
  private readonly queue: ReadyQueue;
  private nextSeq = 0;
  private readonly serial: boolean;
  private readonly backfills: boolean;
  private readonly shuffleSeed: number | undefined;

  private currentLayer = 0;
  private layerRemaining: number[] = [];

  /** `meta(i)` describes step i; it may return the same object each time (it is copied at once). */
  constructor(
    private readonly topo: Topology,
    meta: (i: number) => StepMeta,
    options: SchedulerOptions,
  ) {
    if (!(options.concurrency >= 1)) throw new RangeError(`concurrency must be at least 1`);
    this.mode = options.mode ?? "eager";
    this.serial = options.serial === true;
    this.backfills = options.backfill !== false;
    this.shuffleSeed = options.shuffleSeed;
    this.concurrency = this.serial ? 1 : Math.floor(options.concurrency);
    this.free = this.concurrency;
    this.memTotal = options.memory ?? Infinity;
    if (!(this.memTotal > 0)) throw new RangeError(`memory must be more than 0 bytes`);
    this.memFree = this.memTotal;
    const n = topo.ids.length;
    this.size = n;
    const cap = Math.max(16, n);
    // One buffer for every per-step column: a run of a small graph (a served flow, thousands of times a
    // second) would otherwise allocate a dozen buffers, which the collector pays for per run.
    const columns = new Columns(cap);
    this.prio = columns.f64();
    this.rank = columns.f64();
    this.seq = columns.f64();
    this.readySince = columns.f64();
    this.mem = columns.f64();
    this.est = columns.f64();
    this.startAt = columns.f64();
    this.pending = columns.i32();
    this.cpus = columns.i32();
    this.poolOf = columns.i32();
    this.modOf = columns.i32();
    this.layer = columns.i32();
    this.parentOf = columns.i32().fill(-1);
    this.state = columns.u8();
    this.flags = columns.u8();

    const now = options.now ?? 0;
    this.clock = now;
    this.wake = options.wake;
    for (const [name, capacity] of Object.entries(options.pools ?? {})) {
      if (!(capacity >= 1)) throw new RangeError(`pool "${name}" needs a capacity of at least 1`);
      this.poolGate.set(name, this.gates.length);
      this.gates.push(new Gate(name, new Capacity(capacity, undefined, now)));
    }
    const shared = options.moduleGates;
    for (const [name, lim] of Object.entries(options.limits ?? {})) {
      if (lim.concurrency !== undefined && !(lim.concurrency >= 1)) {
        throw new RangeError(`module "${name}": concurrency must be at least 1`);
      }
      if (lim.concurrency === undefined && lim.rate === undefined) continue;
      this.moduleGate.set(name, this.gates.length);
      this.gates.push(
        shared
          ? new Gate(name, shared.capacityOf(name, lim), options.clockOffset ?? 0)
          : new Gate(name, new Capacity(lim.concurrency ?? Infinity, lim.rate, now)),
      );
    }

    const order = topo.order ?? toposort(topo);
    if (!order) throw new Error("the graph has a cycle");
    const weight = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      const m = meta(i);
      weight[i] = m.estimateMs;
      this.setMeta(i, m);
    }
    this.rank.set(bottomLevels(topo, weight, order));
    if (this.mode === "layers") this.layer.set(layerOf(topo, order));

    const needed = options.needed;
    for (let i = 0; i < n; i++) {
      if (needed && !needed[i]) {
        this.state[i] = State.Skipped;
        continue;
      }
      this.remaining++;
      if (this.mode === "layers") {
        const l = this.layer[i]!;
        while (this.layerRemaining.length <= l) this.layerRemaining.push(0);
        this.layerRemaining[l]!++;
      }
      this.pending[i] = topo.depStart[i + 1]! - topo.depStart[i]!;
    }
    this.advanceLayer();
    this.queue = new ReadyQueue(this.comparator());
    for (let i = 0; i < n; i++)
      if (this.state[i] === State.Waiting && this.pending[i] === 0) this.makeReady(i);
  }

  get running(): number {
    return this.runningCount;
  }

  get stepCount(): number {
    return this.size;
  }

  isMapCollecting(i: number): boolean {
    return (this.flags[i]! & 4) !== 0;
  }

  /**
   * The next step to start now, with its resources taken, or -1 when nothing can start until a step
   * finishes or time passes (see {@link wakeAt}).
   */
  next(now: number): number {
    this.clock = now;
    if (this.parkedGates.size > 0) this.unparkGates(now);
    const q = this.queue;
    for (;;) {
      const i = q.peek();
      if (i < 0) return -1;
      if (this.mode === "layers" && this.layer[i]! > this.currentLayer) return -1;
      const c = this.cpus[i]!;
      // The head waits for room rather than being overtaken forever; what cannot delay it may go first.
      if (c > this.free || this.mem[i]! > this.memFree) {
        return this.wide && this.backfills ? this.backfill(i, now) : -1;
      }
      const p = this.poolOf[i]!;
      if (p >= 0 && this.gates[p]!.full) {
        this.park(q.pop(), this.gates[p]!);
        continue;
      }
      const m = this.modOf[i]!;
      if (m >= 0) {
        const g = this.gates[m]!;
        if (g.full || !g.tryTake(now)) {
          this.park(q.pop(), g);
          continue;
        }
      }
      q.pop();
      return this.take(i, now);
    }
  }

  /** Starts step i: takes its slots, memory, pool slot and module slot (its rate token is taken). */
  private take(i: number, now: number): number {
    this.free -= this.cpus[i]!;
    this.memFree -= this.mem[i]!;
    const p = this.poolOf[i]!;
    if (p >= 0) this.gates[p]!.capacity.used++;
    const m = this.modOf[i]!;
    if (m >= 0) this.gates[m]!.capacity.used++;
    this.state[i] = State.Running;
    this.runningCount++;
    if (this.wide) {
      this.startAt[i] = now;
      this.runningSet.add(i);
    }
    return i;
  }

  /**
   * The ready step `head` needs more CPU slots or memory than are free. Backfilling (EASY, as batch
   * schedulers do): a later ready step may start now if it cannot delay the head — it is expected to end
   * before the head's shadow time (when enough running steps are expected to have ended for the head
   * to fit), or it fits in what will still be spare then. Expected durations are the step's estimate,
   * else the average of the steps that finished in this run (a guess); with neither, a step is only
   * taken when it fits in the spare room, so before anything finished nothing pushes the head back.
   */
  private backfill(head: number, now: number): number {
    if (this.free <= 0 && !this.zeroCpu) return -1;
    const shadow = this.shadowOf(head, now);
    const q = this.queue;
    const skipped: number[] = [q.pop()];
    let found = -1;
    for (let seen = 0; seen < BACKFILL_WINDOW && q.size > 0; seen++) {
      const j = q.pop();
      skipped.push(j);
      const c = this.cpus[j]!;
      const mem = this.mem[j]!;
      if (c > this.free || mem > this.memFree) continue;
      const spare = c <= shadow.cpus && mem <= shadow.memory;
      if (!spare && !(now + this.expectedMs(j) <= shadow.at)) continue;
      if (this.mode === "layers" && this.layer[j]! > this.currentLayer) continue;
      const p = this.poolOf[j]!;
      if (p >= 0 && this.gates[p]!.full) continue;
      const m = this.modOf[j]!;
      if (m >= 0 && (this.gates[m]!.full || !this.gates[m]!.tryTake(now))) continue;
      skipped.pop();
      found = j;
      break;
    }
    for (const k of skipped) q.push(k);
    return found < 0 ? -1 : this.take(found, now);
  }

  /**
   * When `head` is expected to fit (running steps end at their start plus expected duration; one that
   * overran may end any moment), and the CPU slots and memory that will be spare beside it then. With
   * a running step of unknown duration in the way, the time is unknown (-Infinity) and nothing is
   * spare: only a step that takes neither slots nor memory may go first.
   */
  private shadowOf(head: number, now: number): { at: number; cpus: number; memory: number } {
    const ends: number[] = [];
    for (const r of this.runningSet) ends.push(r);
    // Unknown ends sort last (Infinity); reaching one makes the shadow time unknown.
    const endOf = (r: number) => {
      const e = this.startAt[r]! + this.expectedMs(r);
      return Number.isNaN(e) ? Infinity : Math.max(now, e);
    };
    ends.sort((a, b) => endOf(a) - endOf(b));
    let cpus = this.free;
    let memory = this.memFree;
    let at = now;
    let k = 0;
    const needC = this.cpus[head]!;
    const needM = this.mem[head]!;
    while ((cpus < needC || memory < needM) && k < ends.length) {
      const r = ends[k++]!;
      at = endOf(r);
      cpus += this.cpus[r]!;
      memory += this.mem[r]!;
    }
    // Which steps end first is not known: nothing may rely on a time, nor on a slot being spare.
    if (at === Infinity || cpus < needC || memory < needM) return { at: -Infinity, cpus: 0, memory: 0 };
    return { at, cpus: cpus - needC, memory: memory - needM };
  }

  /** A step's expected duration: its estimate, else the average of those that finished, else NaN. */
  private expectedMs(i: number): number {
    const e = this.est[i]!;
    if (!Number.isNaN(e)) return e;
    return this.measured > 0 ? this.measuredMs / this.measured : NaN;
  }

  /** Whether some ready step waits for a pool, a module limit or a rate (so time may matter). */
  get waitingForGates(): boolean {
    return this.parkedGates.size > 0;
  }

  /** Earliest time a rate-limited step may start; Infinity when none is waiting on a rate. */
  wakeAt(now: number): number {
    let t = Infinity;
    for (const g of this.parkedGates) if (g.rated && !g.full) t = Math.min(t, g.readyAt(now));
    return t;
  }

  /** CPU slots step i holds while it runs: its `cpus`, at most the run's concurrency. */
  slotsOf(i: number): number {
    return this.cpus[i]!;
  }

  /** When step i last became ready (on the owner's clock), to measure how long it queued. */
  readyTime(i: number): number {
    return this.readySince[i]!;
  }

  /**
   * A running step reached a final state: releases its resources and readies (or blocks) its
   * dependents. Returns the steps blocked by this failure, for the caller to record.
   */
  finish(i: number, outcome: Outcome, now = this.clock): readonly number[] {
    this.clock = now;
    this.release(i);
    this.state[i] = outcome === "ok" ? State.Ok : outcome === "failed" ? State.Failed : State.Cancelled;
    this.settle(i);
    const isMap = (this.flags[i]! & 1) !== 0;
    let blocked = NOTHING_BLOCKED;
    const t = this.topo;
    if (i < t.ids.length) {
      for (let k = t.succStart[i]!; k < t.succStart[i + 1]!; k++) {
        const s = t.succList[k]!;
        if (this.state[s] !== State.Waiting) continue;
        if (outcome === "ok" || (isMap && outcome === "failed" && (this.flags[s]! & 2) !== 0)) {
          if (--this.pending[s]! === 0) this.makeReady(s);
        } else {
          if (blocked === NOTHING_BLOCKED) blocked = [];
          this.block(s, blocked as number[]);
        }
      }
    }
    const parent = this.parentOf[i]!;
    // An item's failure is recorded by its map, which always collects every item.
    if (parent >= 0 && --this.pending[parent]! === 0 && this.state[parent] === State.Expanded) {
      this.state[parent] = State.Waiting;
      this.makeReady(parent);
    }
    return blocked;
  }

  /**
   * A running map step learned its list: it gives back its resources and waits for `items` new steps,
   * which start ready. Returns their indices. With zero items the map is ready to collect at once.
   */
  expand(mapIndex: number, items: readonly StepMeta[], now = this.clock): number[] {
    this.clock = now;
    this.release(mapIndex);
    this.flags[mapIndex] = this.flags[mapIndex]! | 4;
    // Collecting takes no resources: the items did the work.
    this.cpus[mapIndex] = 0;
    this.mem[mapIndex] = 0;
    this.poolOf[mapIndex] = -1;
    this.modOf[mapIndex] = -1;
    const first = this.size;
    const added: number[] = [];
    this.ensureCapacity(first + items.length);
    // An item's remaining path is the map's: what follows the map follows every item.
    const tail = this.rank[mapIndex]!;
    for (let k = 0; k < items.length; k++) {
      const c = first + k;
      this.setMeta(c, items[k]!);
      this.rank[c] = tail;
      this.parentOf[c] = mapIndex;
      this.layer[c] = this.layer[mapIndex]!;
      this.remaining++;
      if (this.mode === "layers") this.layerRemaining[this.layer[c]!]!++;
      added.push(c);
    }
    this.size = first + items.length;
    this.pending[mapIndex] = items.length;
    this.state[mapIndex] = State.Expanded;
    for (const c of added) this.makeReady(c);
    if (items.length === 0) {
      this.state[mapIndex] = State.Waiting;
      this.makeReady(mapIndex);
    }
    return added;
  }

  /** A running step waits (a retry's backoff) without holding resources; {@link resume} requeues it. */
  suspend(i: number): void {
    this.release(i);
    this.state[i] = State.Waiting;
  }

  resume(i: number, now = this.clock): void {
    this.clock = now;
    if (this.state[i] === State.Waiting) this.makeReady(i);
  }

  /** Cancels every step that has not started; returns them. Running steps are the caller's to stop. */
  cancelPending(): number[] {
    const out: number[] = [];
    for (let i = 0; i < this.size; i++) {
      const s = this.state[i];
      // An expanded map is cancelled with its unstarted items; its running items still finish.
      if (s === State.Waiting || s === State.Ready || s === State.Expanded) {
        this.state[i] = State.Cancelled;
        this.settle(i);
        out.push(i);
      }
    }
    this.queue.drain();
    this.detach();
    return out;
  }

  /** Forgets every parked step and stops listening to shared capacities (the run is over). */
  detach(): void {
    for (const g of this.parkedGates) {
      g.parked.length = 0;
      if (this.wake) g.capacity.unlisten(this.wake);
    }
    this.parkedGates.clear();
  }

  private comparator(): (a: number, b: number) => boolean {
    const prio = this.prio;
    const seed = this.shuffleSeed;
    if (seed !== undefined) {
      // Priorities are ignored too: a missing dependency hides behind them as well as behind path length.
      const layer = this.layer;
      const layered = this.mode === "layers";
      return (a, b) => {
        if (layered && layer[a] !== layer[b]) return layer[a]! < layer[b]!;
        const ka = shuffleKey(seed, a);
        const kb = shuffleKey(seed, b);
        return ka !== kb ? ka < kb : a < b;
      };
    }
    if (this.serial) {
      const seq = this.seq;
      return (a, b) => (prio[a] !== prio[b] ? prio[a]! > prio[b]! : seq[a]! < seq[b]!);
    }
    switch (this.mode) {
      case "fifo": {
        const seq = this.seq;
        return (a, b) => (prio[a] !== prio[b] ? prio[a]! > prio[b]! : seq[a]! < seq[b]!);
      }
      case "layers": {
        const layer = this.layer;
        const rank = this.rank;
        return (a, b) =>
          layer[a] !== layer[b]
            ? layer[a]! < layer[b]!
            : prio[a] !== prio[b]
              ? prio[a]! > prio[b]!
              : rank[a] !== rank[b]
                ? rank[a]! > rank[b]!
                : a < b;
      }
      default: {
        const rank = this.rank;
        return (a, b) =>
          prio[a] !== prio[b] ? prio[a]! > prio[b]! : rank[a] !== rank[b] ? rank[a]! > rank[b]! : a < b;
      }
    }
  }

  private setMeta(i: number, m: StepMeta): void {
    this.prio[i] = m.priority;
    this.cpus[i] = this.serial ? 1 : Math.max(0, Math.min(this.concurrency, Math.floor(m.cpus)));
    // A step that asks for more memory than there is gets all of it: it runs, alone in memory.
    this.mem[i] = Math.max(0, Math.min(this.memTotal, m.memory));
    this.est[i] = m.estimateKnown ? m.estimateMs : NaN;
    const zero = this.cpus[i] === 0 && !m.isMap;
    if (zero) this.zeroCpu = true;
    if (!this.wide && !this.serial && (this.cpus[i]! > 1 || this.mem[i]! > 0 || zero)) this.wide = true;
    this.poolOf[i] = m.pool === undefined ? -1 : this.gateIndex(m.pool);
    // A map step only lists its items; the module's limits apply to the items, not to it.
    this.modOf[i] = this.moduleGate.size === 0 || m.isMap ? -1 : (this.moduleGate.get(m.module) ?? -1);
    this.flags[i] = (m.isMap ? 1 : 0) | (m.partial ? 2 : 0);
  }

  private gateIndex(pool: string): number {
    const g = this.poolGate.get(pool);
    if (g === undefined) throw new RangeError(`unknown pool "${pool}": declare it with a capacity`);
    return g;
  }

  private makeReady(i: number): void {
    this.state[i] = State.Ready;
    this.readySince[i] = this.clock;
    this.seq[i] = this.nextSeq++;
    this.queue.push(i);
  }

  private park(i: number, g: Gate): void {
    g.parked.push(i);
    if (this.parkedGates.has(g)) return;
    this.parkedGates.add(g);
    if (this.wake) g.capacity.listen(this.wake);
  }

  private release(i: number): void {
    if (this.state[i] !== State.Running) return;
    this.runningCount--;
    this.free += this.cpus[i]!;
    this.memFree += this.mem[i]!;
    if (this.wide && this.runningSet.delete(i)) {
      this.measuredMs += Math.max(0, this.clock - this.startAt[i]!);
      this.measured++;
    }
    const p = this.poolOf[i]!;
    if (p >= 0) this.gates[p]!.capacity.release(this.wake);
    const m = this.modOf[i]!;
    if (m >= 0) this.gates[m]!.capacity.release(this.wake);
  }

  /**
   * Parked steps go back to the queue to compete by priority again, as many as the gate has room and
   * tokens for: the rest would only park again.
   */
  private unparkGates(now: number): void {
    for (const g of this.parkedGates) {
      if (g.full) continue;
      const n = Math.min(g.room, g.available(now));
      if (n >= 1) this.unpark(g, n);
    }
  }

  private unpark(g: Gate, count: number): void {
    // Parked in priority order, since they were popped from the queue in that order.
    const take = g.parked.splice(0, Math.min(count, g.parked.length));
    for (const i of take) if (this.state[i] === State.Ready) this.queue.push(i);
    if (g.parked.length === 0) {
      this.parkedGates.delete(g);
      if (this.wake) g.capacity.unlisten(this.wake);
    }
  }

  private block(s: number, out: number[]): void {
    const stack = [s];
    const t = this.topo;
    while (stack.length > 0) {
      const v = stack.pop()!;
      if (this.state[v] !== State.Waiting) continue;
      this.state[v] = State.Blocked;
      this.settle(v);
      out.push(v);
      if (v < t.ids.length) {
        for (let k = t.succStart[v]!; k < t.succStart[v + 1]!; k++) stack.push(t.succList[k]!);
      }
    }
  }

  /** Bookkeeping for a step that reached a final state. */
  private settle(i: number): void {
    this.remaining--;
    if (this.mode !== "layers") return;
    this.layerRemaining[this.layer[i]!]!--;
    this.advanceLayer();
  }

  private advanceLayer(): void {
    while (
      this.currentLayer < this.layerRemaining.length - 1 &&
      this.layerRemaining[this.currentLayer] === 0
    ) {
      this.currentLayer++;
    }
  }

  private ensureCapacity(n: number): void {
    if (n <= this.state.length) return;
    const cap = Math.max(n, this.state.length * 2);
    const grow = <T extends Uint8Array | Int32Array | Float64Array>(a: T, fill = 0): T => {
      const b = new (a.constructor as new (n: number) => T)(cap);
      b.set(a);
      if (fill !== 0) b.fill(fill, a.length);
      return b;
    };
    this.state = grow(this.state);
    this.pending = grow(this.pending);
    this.prio = grow(this.prio);
    this.rank = grow(this.rank);
    this.cpus = grow(this.cpus);
    this.mem = grow(this.mem);
    this.est = grow(this.est);
    this.startAt = grow(this.startAt);
    this.poolOf = grow(this.poolOf);
    this.modOf = grow(this.modOf);
    this.layer = grow(this.layer);
    this.seq = grow(this.seq);
    this.flags = grow(this.flags);
    this.parentOf = grow(this.parentOf, -1);
    this.readySince = grow(this.readySince);
  }
}

/** Typed-array columns of `n` entries cut from one buffer; 8-byte columns first, so each is aligned. */
class Columns {
  private readonly buffer: ArrayBuffer;
  private offset = 0;

  constructor(private readonly n: number) {
    this.buffer = new ArrayBuffer(n * (7 * 8 + 6 * 4 + 2));
  }

  f64(): Float64Array {
    return this.take((o) => new Float64Array(this.buffer, o, this.n), 8);
  }

  i32(): Int32Array {
    return this.take((o) => new Int32Array(this.buffer, o, this.n), 4);
  }

  u8(): Uint8Array {
    return this.take((o) => new Uint8Array(this.buffer, o, this.n), 1);
  }

  private take<T>(make: (offset: number) => T, bytes: number): T {
    const a = make(this.offset);
    this.offset += this.n * bytes;
    return a;
  }
}

/** A step's place in a shuffled order: a 32-bit mix (splitmix32's finaliser) of the seed and its index. */
export function shuffleKey(seed: number, i: number): number {
  let x = (Math.imul(i + 1, 0x9e3779b9) ^ seed) | 0;
  x = Math.imul(x ^ (x >>> 16), 0x85ebca6b);
  x = Math.imul(x ^ (x >>> 13), 0xc2b2ae35);
  return (x ^ (x >>> 16)) >>> 0;
}
