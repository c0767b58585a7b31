/**
 * Model-based crash torture for ironwal (issue 3): a {@link Driver} runs
 * appends, batches, transactions, syncs, truncations and reopens against a
 * `Wal` on a {@link FaultyFs}, records every operation in a model, crashes
 * the file system (power loss with torn writes), reopens and checks the
 * durability contract of SPEC §5 against the model:
 *
 * - every entry whose append resolved under a mode that promised it durable
 *   (strict: all; batch-only: batches and commits; interval/async: those
 *   covered by a resolved `wal.sync()`; every mode: those before a clean
 *   `close()`) is present with the same bytes, unless a `truncate` allowed
 *   its segment to go;
 * - each stream is a prefix of its history: ids contiguous from the first
 *   present id to `nextId - 1`, every present entry equal to a value that
 *   was appended with that id;
 * - no batch is partly visible;
 * - no id acknowledged as durable is handed out again (the next append gets
 *   `nextId`, above every durable id);
 * - recovery never throws, with onCorruption "error" or "truncate", and
 *   reports no corruption: a crash alone is never damage.
 *
 * Everything is derived from one seed; a failure names it as
 * `IRONWAL_SEED=<seed>` so it can be replayed (see test/torture.test.ts and
 * scripts/torture.mjs).
 *
 * @module
 */

import { type IdRange, Wal } from "../src/wal.ts";
import { WalError } from "../src/errors.ts";
import type { Compression, OnCorruption, ReadStrategy, SyncMode, WalEvent, WalOptions } from "../src/options.ts";
import { ACTIVE_HINT_NAME, ACTIVE_HINT_SIZE, readActiveHint } from "../src/format/active_hint.ts";
import { encodeStreamName } from "../src/format/stream_name.ts";
import { type CrashOptions, FaultyFs, seededRng } from "../adapters/faulty.ts";

/** The four sync modes. */
export const SYNC_MODES: SyncMode[] = ["strict", "batch-only", "interval", "async"];

/** Thrown when the contract is broken; carries the seed in its message. */
export class ContractError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ContractError";
  }
}

/** Thrown inside a workload when the file system went down (the crash point was reached). */
export class Down extends Error {
  constructor() {
    super("file system is down");
    this.name = "Down";
  }
}

/** A seeded random source with helpers. */
export class Rand {
  readonly next: () => number;
  constructor(seed: number) {
    this.next = seededRng(seed);
  }
  /** Integer in [lo, hi]. */
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.next() * (hi - lo + 1));
  }
  pick<T>(xs: readonly T[]): T {
    return xs[Math.floor(this.next() * xs.length)];
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
}

function eq(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function hex(b: Uint8Array): string {
  const s = Array.from(b.subarray(0, 12), (x) => x.toString(16).padStart(2, "0")).join("");
  return `${b.length}B:${s}${b.length > 12 ? "…" : ""}`;
}

/** What the model knows of one stream. */
class StreamModel {
  /** Every value appended with each id since the last recovery (ids can be reused after a failed write). */
  cand = new Map<number, Uint8Array[]>();
  /** Entries that must survive any crash (unless truncate allowed their segment to go). */
  durable = new Map<number, Uint8Array>();
  /** Entries acknowledged since the last recovery (must survive a clean close). */
  acked = new Map<number, Uint8Array>();
  /** Batches appended since the last recovery. */
  batches: { start: number; end: number; first: Uint8Array }[] = [];
  /** Largest safeId ever passed to truncate. */
  truncFloor = 0;
}

/** One append / batch / commit issued. */
interface OpRec {
  stream: string;
  start: number;
  values: Uint8Array[];
  acked: boolean;
}

/** Options of a {@link Driver}. */
export interface DriverOptions {
  syncMode: SyncMode;
  maxSegmentSize: number;
  maxEntriesPerSegment: number;
  maxOpenSegments: number;
  blockCacheSize: number;
  syncIntervalMs: number;
  compression: Compression;
  minCompressionSize: number;
  readStrategy: ReadStrategy;
}

/** Counters of what a driver did. */
export interface DriverStats {
  /** Crashes followed by a successful, verified recovery. */
  crashes: number;
  /** Crashes that hit recovery itself (the open was interrupted). */
  recoveryCrashes: number;
  /** Clean close + reopen cycles verified. */
  reopens: number;
  /** Entries appended (acknowledged or not). */
  appends: number;
  /** Segment seals whose fsync was deferred (modes async and interval). */
  deferredSeals: number;
  /** Crashes after which some stream's ACTIVE hint carried the deferred flag (open scanned its unsynced tail). */
  deferredCrashes: number;
  /** Recoveries that ended a log at a torn segment before the last one and removed the later segments. */
  middleCuts: number;
  /** Kills (kill -9 at a random operation, no power loss) followed by a verified reopen. */
  kills: number;
}

/**
 * Runs operations on a Wal over a FaultyFs and keeps the model. Operations
 * throw {@link Down} when the file system is down; call {@link recover}.
 */
export class Driver {
  readonly fs: FaultyFs;
  readonly root = "/wal";
  readonly opts: DriverOptions;
  readonly tag: string;
  wal!: Wal;
  readonly models = new Map<string, StreamModel>();
  readonly stats: DriverStats = { crashes: 0, recoveryCrashes: 0, reopens: 0, appends: 0, deferredSeals: 0, deferredCrashes: 0, middleCuts: 0, kills: 0 };
  readonly log: string[] = [];
  #unsynced: OpRec[] = [];
  #counter = 0;

  /** `tag` goes into every failure message (e.g. `IRONWAL_SEED=42`). */
  constructor(opts: DriverOptions, tag: string, fs: FaultyFs = new FaultyFs()) {
    this.opts = opts;
    this.tag = tag;
    this.fs = fs;
  }

  walOptions(onCorruption: OnCorruption): WalOptions {
    const meter = (e: WalEvent) => {
      if (e.type === "segmentRoll" && e.deferred) this.stats.deferredSeals++;
    };
    return { root: this.root, fs: this.fs, onCorruption, meter, ...this.opts };
  }

  /**
   * The Wal's own durability claim: ids below `syncedId` are durable, so the
   * acknowledged ones among them must survive the crash (this covers the
   * interval timer's syncs and the LRU's, which the model does not see).
   */
  #claimSynced(): void {
    const wal = this.wal;
    if (wal === undefined) return;
    for (const [s, m] of this.models) {
      const sid = wal.syncedId(s);
      for (const [id, v] of m.acked) if (id < sid) m.durable.set(id, v);
    }
  }

  /** True if some stream's hint on disk carries the deferred flag. */
  #deferredOnDisk(): boolean {
    for (const s of this.models.keys()) {
      const path = `${this.root}/${encodeStreamName(s)}/${ACTIVE_HINT_NAME}`;
      try {
        if (this.fs.stat(path)?.isFile !== true) continue;
        const f = this.fs.open(path, "read");
        const b = new Uint8Array(ACTIVE_HINT_SIZE + 1);
        const n = f.read(b, 0);
        f.close();
        if (readActiveHint(b.subarray(0, n))?.deferred === true) return true;
      } catch {
        // Not readable: not deferred.
      }
    }
    return false;
  }

  note(s: string): void {
    this.log.push(s);
    if ((globalThis as { process?: { env?: Record<string, string | undefined> } }).process?.env?.TORTURE_TRACE) console.log("  .", s);
    if (this.log.length > 40) this.log.shift();
  }

  fail(msg: string): never {
    throw new ContractError(
      `${msg}\n  replay: ${this.tag}\n  options: ${JSON.stringify(this.opts)}\n  last operations:\n    ${this.log.join("\n    ")}`,
    );
  }

  model(s: string): StreamModel {
    let m = this.models.get(s);
    if (m === undefined) {
      m = new StreamModel();
      this.models.set(s, m);
    }
    return m;
  }

  /** Fails with Down if the file system went down. */
  check(): void {
    if (this.fs.crashed) throw new Down();
  }

  /** First open of a fresh file system. */
  async start(): Promise<void> {
    try {
      this.wal = await Wal.open(this.walOptions("error"));
    } catch (e) {
      if (this.fs.crashed) throw new Down();
      throw e;
    }
  }

  /** A unique entry: the first bytes hold a counter, the rest is random or repetitive. */
  entry(r: Rand): Uint8Array {
    const roll = r.next();
    const len = roll < 0.05 ? 0 : roll < 0.75 ? r.int(1, 40) : roll < 0.96 ? r.int(41, 300) : r.int(301, 2500);
    const b = new Uint8Array(len);
    const n = ++this.#counter;
    const repetitive = r.chance(0.4);
    for (let i = 0; i < len; i++) b[i] = repetitive ? (i % 7) + 97 : (r.next() * 256) | 0;
    for (let i = 0; i < 4 && i < len; i++) b[i] = (n >>> (8 * i)) & 0xff;
    return b;
  }

  #issue(s: string, values: Uint8Array[], kind: "append" | "batch" | "commit", p: () => Promise<number | IdRange>): Promise<void> {
    const m = this.model(s);
    const start = this.wal.nextId(s);
    for (let i = 0; i < values.length; i++) {
      const c = m.cand.get(start + i);
      if (c === undefined) m.cand.set(start + i, [values[i]]);
      else c.push(values[i]);
    }
    if (kind !== "append" && values.length > 0) m.batches.push({ start, end: start + values.length, first: values[0] });
    this.stats.appends += values.length;
    const rec: OpRec = { stream: s, start, values, acked: false };
    this.#unsynced.push(rec);
    this.note(`${kind} ${JSON.stringify(s)} ids ${start}..${start + values.length - 1} [${values.map((v) => v.length).join(",")}]`);
    const promisesDurable = this.opts.syncMode === "strict" ||
      (this.opts.syncMode === "batch-only" && kind !== "append");
    return p().then(
      (v) => {
        const got = typeof v === "number" ? v : v.start;
        if (got !== start) this.fail(`${kind} to ${JSON.stringify(s)} resolved with id ${got}, expected ${start} (ids must be handed out in call order)`);
        if (typeof v !== "number" && v.end !== start + values.length) this.fail(`${kind} range end ${v.end}, expected ${start + values.length}`);
        rec.acked = true;
        for (let i = 0; i < values.length; i++) {
          m.acked.set(start + i, values[i]);
          if (promisesDurable) m.durable.set(start + i, values[i]);
        }
      },
      (e) => {
        if (!this.fs.crashed) this.fail(`${kind} to ${JSON.stringify(s)} rejected without a crash: ${describe(e)}`);
        if (!(e instanceof WalError)) this.fail(`${kind} rejected with a non-WalError: ${describe(e)}`);
      },
    );
  }

  append(s: string, data: Uint8Array): Promise<void> {
    return this.#issue(s, [data], "append", () => this.wal.append(s, data));
  }

  appendBatch(s: string, entries: Uint8Array[]): Promise<void> {
    return this.#issue(s, entries, "batch", () => this.wal.appendBatch(s, entries));
  }

  commit(s: string, entries: Uint8Array[]): Promise<void> {
    const w = this.wal.writer(s);
    for (const e of entries) w.add(e);
    return this.#issue(s, entries, "commit", () => w.commit());
  }

  /** `wal.sync()`: on success everything acknowledged before it is durable. */
  sync(): Promise<void> {
    const snapshot = this.#unsynced;
    this.#unsynced = [];
    this.note("sync");
    return this.wal.sync().then(
      () => {
        for (const rec of snapshot) {
          if (!rec.acked) continue;
          const m = this.model(rec.stream);
          for (let i = 0; i < rec.values.length; i++) m.durable.set(rec.start + i, rec.values[i]);
        }
      },
      (e) => {
        this.#unsynced.push(...snapshot);
        if (!this.fs.crashed) this.fail(`sync rejected without a crash: ${describe(e)}`);
      },
    );
  }

  async truncate(s: string, safeId: number): Promise<void> {
    const m = this.model(s);
    m.truncFloor = Math.max(m.truncFloor, safeId);
    this.note(`truncate ${JSON.stringify(s)} ${safeId}`);
    try {
      await this.wal.truncate(s, safeId);
    } catch (e) {
      if (!this.fs.crashed) this.fail(`truncate rejected without a crash: ${describe(e)}`);
    }
    this.check();
  }

  /** Reads back an acknowledged entry (readable as soon as its append resolved). */
  readCheck(r: Rand): void {
    for (const [s, m] of this.models) {
      if (m.acked.size === 0) continue;
      const ids = [...m.acked.keys()];
      const id = r.pick(ids);
      if (id < this.wal.firstId(s)) continue;
      let got: Uint8Array | undefined;
      try {
        got = this.wal.getSync(s, id);
      } catch (e) {
        if (this.fs.crashed) throw new Down();
        this.fail(`get(${JSON.stringify(s)}, ${id}) threw ${describe(e)}`);
      }
      if (got === undefined || !eq(got, m.acked.get(id)!)) {
        this.fail(`get(${JSON.stringify(s)}, ${id}) gave ${got === undefined ? "undefined" : hex(got)}, acknowledged ${hex(m.acked.get(id)!)}`);
      }
    }
  }

  /** Clean close and reopen: everything acknowledged must be back. */
  async reopen(onCorruption: OnCorruption): Promise<void> {
    this.note(`close + reopen (${onCorruption})`);
    try {
      await this.wal.close();
    } catch (e) {
      if (this.fs.crashed) throw new Down();
      this.fail(`close threw ${describe(e)}`);
    }
    if (this.fs.crashed) throw new Down();
    for (const m of this.models.values()) for (const [id, v] of m.acked) m.durable.set(id, v);
    this.#unsynced = [];
    try {
      this.wal = await Wal.open(this.walOptions(onCorruption));
    } catch (e) {
      if (this.fs.crashed) throw new Down();
      this.fail(`reopen after a clean close threw ${describe(e)}`);
    }
    await this.verify("clean");
    this.stats.reopens++;
  }

  /** Takes the file system down now (power cut between operations). */
  powerCut(): void {
    if (this.fs.crashed) return;
    this.fs.crashAfterOp(0);
    try {
      this.fs.mkdir("/__power_cut__");
    } catch {
      // Down now.
    }
  }

  /**
   * After the file system went down: abandons the Wal, reboots the file
   * system with torn writes, reopens (possibly crashing again inside
   * recovery) and verifies the contract.
   */
  async recover(r: Rand, crashDuringRecovery = 0, crashOptions?: CrashOptions): Promise<void> {
    this.#claimSynced();
    this.powerCut();
    // Neutralise the dead instance (every call fails while the fs is down; this stops its timer).
    await this.wal?.close().catch(() => {});
    for (let attempt = 0;; attempt++) {
      const opts: CrashOptions = attempt === 0 && crashOptions !== undefined
        ? crashOptions
        : { torn: r.pick(["none", "prefix", "pages"] as const), rng: r.next };
      this.note(`crash (torn ${opts.torn ?? "none"})`);
      this.fs.crash(opts);
      if (attempt === 0 && this.#deferredOnDisk()) this.stats.deferredCrashes++;
      const onCorruption: OnCorruption = r.chance(0.5) ? "error" : "truncate";
      const interrupt = attempt < 3 && r.chance(crashDuringRecovery);
      if (interrupt) this.fs.crashAfterOp(r.int(0, 3));
      this.note(`open (${onCorruption})${interrupt ? " with a crash armed" : ""}`);
      try {
        this.wal = await Wal.open(this.walOptions(onCorruption));
      } catch (e) {
        if (this.fs.crashed) {
          this.stats.recoveryCrashes++;
          continue;
        }
        this.fail(`recovery after a crash threw (onCorruption ${onCorruption}): ${describe(e)}`);
      }
      if (this.fs.crashed) {
        // The crash point fell on the open's last operation but open still succeeded.
        await this.wal.close().catch(() => {});
        this.stats.recoveryCrashes++;
        continue;
      }
      break;
    }
    // Disarm a crash point that open did not reach (verify's reads may write index files).
    this.fs.crashAfterOp(Number.MAX_SAFE_INTEGER - this.fs.opCount);
    this.#unsynced = [];
    if (this.wal.recovery.repairs.some((x) => x.includes("later segment(s)"))) this.stats.middleCuts++;
    await this.verify("crash");
    this.stats.crashes++;
  }

  /**
   * After the file system went down: the process was killed there (kill -9)
   * instead of the machine losing power. Nothing written is forgotten
   * ({@link FaultyFs.kill}), so every acknowledged entry must be back, and
   * nothing became durable by it: the model's durable entries stay as they
   * were, and the next power loss checks that the reopened Wal counted
   * nothing durable (`syncedId`) that was only in the page cache.
   */
  async killRecover(r: Rand): Promise<void> {
    this.#claimSynced();
    this.powerCut();
    await this.wal?.close().catch(() => {});
    this.note("kill -9");
    this.fs.kill();
    const onCorruption: OnCorruption = r.chance(0.5) ? "error" : "truncate";
    this.note(`open (${onCorruption})`);
    try {
      this.wal = await Wal.open(this.walOptions(onCorruption));
    } catch (e) {
      this.fail(`reopen after a kill threw (onCorruption ${onCorruption}): ${describe(e)}`);
    }
    this.#unsynced = [];
    await this.verify("kill");
    this.stats.kills++;
  }

  /** Checks the contract on the freshly opened Wal and resets the model to what is present. */
  async verify(after: "crash" | "clean" | "kill"): Promise<void> {
    const wal = this.wal;
    const rec = wal.recovery;
    if (rec.corruptionDetected) this.fail(`recovery after a ${after} reported corruption: ${rec.repairs.join("; ")}`);
    if (after === "clean" && (rec.bytesTruncated !== 0 || rec.repairs.length !== 0)) {
      this.fail(`recovery after a clean close repaired something: ${rec.repairs.join("; ")}`);
    }
    const names = new Set(wal.streams());
    for (const [s, m] of this.models) {
      const first = wal.firstId(s);
      const next = wal.nextId(s);
      const present = new Map<number, Uint8Array>();
      let expect = first;
      try {
        for (const { id, data } of wal.iterSync(s, 0)) {
          if (id !== expect) this.fail(`stream ${JSON.stringify(s)}: iter gave id ${id} after ${expect - 1} (ids not contiguous)`);
          const c = m.cand.get(id) ?? (m.durable.has(id) ? [m.durable.get(id)!] : undefined);
          if (c === undefined || !c.some((v) => eq(v, data))) {
            this.fail(
              `stream ${JSON.stringify(s)}: id ${id} reads back ${hex(data)}, which was never appended with that id` +
                ` (appended: ${c === undefined ? "nothing" : c.map(hex).join(" | ")})`,
            );
          }
          present.set(id, data.slice());
          expect++;
        }
      } catch (e) {
        if (e instanceof ContractError) throw e;
        this.fail(`stream ${JSON.stringify(s)}: reading back after a ${after} threw ${describe(e)}`);
      }
      if (expect !== next) this.fail(`stream ${JSON.stringify(s)}: iter ended at ${expect}, nextId is ${next} (first ${first})`);
      // A kill loses nothing written: every acknowledged entry is as durable as it gets.
      for (const [id, v] of after === "kill" ? [...m.durable, ...m.acked] : m.durable) {
        if (id < m.truncFloor && id < first) continue;
        const got = present.get(id);
        if (got === undefined) {
          this.fail(
            `stream ${JSON.stringify(s)}: durable id ${id} is missing after a ${after} ` +
              `(present ${first}..${next - 1}, stream ${names.has(s) ? "exists" : "missing"}, truncFloor ${m.truncFloor})`,
          );
        }
        if (!eq(got, v)) this.fail(`stream ${JSON.stringify(s)}: durable id ${id} reads ${hex(got)}, was ${hex(v)}`);
      }
      for (const b of m.batches) {
        if (b.start < next && next < b.end && present.has(b.start) && eq(present.get(b.start)!, b.first)) {
          this.fail(`stream ${JSON.stringify(s)}: batch ${b.start}..${b.end - 1} is partly visible (nextId ${next})`);
        }
      }
      // Spot-check get() against iter.
      for (const id of [first, next - 1, (first + next) >> 1]) {
        if (id < first || id >= next) continue;
        let g: Uint8Array | undefined;
        try {
          g = wal.getSync(s, id);
        } catch (e) {
          this.fail(`stream ${JSON.stringify(s)}: get(${id}) threw ${describe(e)}`);
        }
        if (g === undefined || !eq(g, present.get(id)!)) this.fail(`stream ${JSON.stringify(s)}: get(${id}) differs from iter`);
      }
      if (wal.getSync(s, next) !== undefined) this.fail(`stream ${JSON.stringify(s)}: get(nextId) is not undefined`);
      // The async iterator (its own read path: reads through readAsync, waits) agrees with iterSync.
      const reuseBuffer = ((first + next) & 1) === 1;
      let k = first;
      try {
        for await (const { id, data } of wal.iter(s, 0, { reuseBuffer })) {
          const want = present.get(k);
          if (id !== k || want === undefined || !eq(data, want)) {
            this.fail(`stream ${JSON.stringify(s)}: iter (reuseBuffer ${reuseBuffer}) gave id ${id} ${hex(data)} where iterSync gave ${want === undefined ? `nothing (it ended at ${next})` : `id ${k} ${hex(want)}`}`);
          }
          k++;
        }
      } catch (e) {
        if (e instanceof ContractError) throw e;
        this.fail(`stream ${JSON.stringify(s)}: iter after a ${after} threw ${describe(e)}`);
      }
      if (k !== next) this.fail(`stream ${JSON.stringify(s)}: iter ended at ${k}, iterSync at ${next}`);
      // After a power loss what is present is on disk: the new durable baseline. After a
      // kill it may still be only in the page cache: the durable entries stay those known.
      m.cand = new Map([...present].map(([id, v]) => [id, [v]]));
      if (after !== "kill") m.durable = new Map(present);
      m.acked = new Map(present);
      m.batches = [];
    }
  }
}

function describe(e: unknown): string {
  if (e instanceof WalError) return `WalError ${e.code}: ${e.message}`;
  if (e instanceof Error) return `${e.name}: ${e.message}\n${e.stack ?? ""}`;
  return String(e);
}

/** Picks a Driver configuration from the seed (mode can be forced). */
export function randomOptions(r: Rand, syncMode?: SyncMode): DriverOptions {
  return {
    syncMode: syncMode ?? r.pick(SYNC_MODES),
    maxSegmentSize: r.int(256, 2048),
    maxEntriesPerSegment: r.chance(0.5) ? Infinity : r.int(1, 12),
    maxOpenSegments: r.chance(0.3) ? r.int(1, 4) : 128,
    blockCacheSize: r.chance(0.3) ? r.int(1, 8192) : 0,
    syncIntervalMs: r.int(1, 4),
    compression: r.pick(["none", "none", "lz4", "deflate"] as const),
    minCompressionSize: r.int(0, 200),
    readStrategy: r.chance(0.3) ? "mmap" : "standard",
  };
}

const STREAMS = ["a", "b", "tx", "we/ird\u00e9 key"];

/** Result of one seed. */
export interface SeedResult extends DriverStats {
  seed: number;
  syncMode: SyncMode;
}

/**
 * One torture run: a random workload of `steps` steps over several streams
 * with crashes at random operations. Throws {@link ContractError} (naming
 * the seed) if the contract breaks.
 */
export async function tortureSeed(seed: number, steps = 120, syncMode?: SyncMode): Promise<SeedResult> {
  const r = new Rand(seed);
  const opts = randomOptions(r, syncMode ?? SYNC_MODES[seed % 4]);
  const d = new Driver(opts, `IRONWAL_SEED=${seed}`);
  const streams = STREAMS.slice(0, r.int(1, STREAMS.length));
  await d.start();
  let armed = false;
  for (let step = 0; step < steps; step++) {
    try {
      if (!armed && r.chance(0.12)) {
        d.fs.crashAfterOp(r.int(0, 40));
        armed = true;
      }
      const roll = r.next();
      d.note(`step ${step} roll ${roll.toFixed(3)}`);
      if (roll < 0.62) {
        const n = r.int(1, 6);
        const ps: Promise<void>[] = [];
        for (let k = 0; k < n; k++) {
          const s = r.pick(streams);
          const kind = r.next();
          if (kind < 0.55) ps.push(d.append(s, d.entry(r)));
          else {
            const entries = Array.from({ length: r.int(kind < 0.6 ? 0 : 1, 6) }, () => d.entry(r));
            ps.push(kind < 0.8 ? d.appendBatch(s, entries) : d.commit(s, entries));
          }
          if (r.chance(0.08)) ps.push(d.sync());
        }
        await Promise.all(ps);
      } else if (roll < 0.72) {
        await d.sync();
      } else if (roll < 0.78) {
        const s = r.pick(streams);
        if (d.wal.streams().includes(s)) {
          const first = d.wal.firstId(s);
          await d.truncate(s, r.int(first, d.wal.nextId(s)));
        }
      } else if (roll < 0.81) {
        await d.reopen(r.chance(0.5) ? "error" : "truncate");
      } else if (roll < 0.85) {
        d.powerCut();
      } else if (roll < 0.92) {
        d.readCheck(r);
      } else if (roll < 0.93 && opts.syncMode === "interval") {
        await new Promise((res) => setTimeout(res, opts.syncIntervalMs + 2));
      }
      d.check();
    } catch (e) {
      if (!(e instanceof Down)) throw e;
    }
    if (d.fs.crashed) {
      if (r.chance(0.3)) await d.killRecover(r);
      else await d.recover(r, 0.15);
      armed = false;
    }
  }
  // A final power cut and a final clean close.
  d.powerCut();
  await d.recover(r, 0.15);
  await d.reopen("error");
  await d.wal.close();
  return { seed, syncMode: opts.syncMode, ...d.stats };
}

/** Runs seeds from `firstSeed` on until `minCrashes` crash points are verified or `maxMs` passes. */
export async function tortureRun(
  firstSeed: number,
  minCrashes: number,
  maxMs: number,
  steps = 120,
  onSeed?: (r: SeedResult) => void,
): Promise<
  { seeds: number; crashes: number; recoveryCrashes: number; reopens: number; appends: number; deferredSeals: number; deferredCrashes: number; middleCuts: number; kills: number; ms: number }
> {
  const t0 = Date.now();
  const total = { seeds: 0, crashes: 0, recoveryCrashes: 0, reopens: 0, appends: 0, deferredSeals: 0, deferredCrashes: 0, middleCuts: 0, kills: 0, ms: 0 };
  for (let seed = firstSeed; total.crashes < minCrashes && Date.now() - t0 < maxMs; seed++) {
    const res = await tortureSeed(seed, steps);
    total.seeds++;
    total.crashes += res.crashes;
    total.recoveryCrashes += res.recoveryCrashes;
    total.reopens += res.reopens;
    total.appends += res.appends;
    total.deferredSeals += res.deferredSeals;
    total.deferredCrashes += res.deferredCrashes;
    total.middleCuts += res.middleCuts;
    total.kills += res.kills;
    onSeed?.(res);
    // Let timers and I/O of the runtime breathe between seeds.
    await new Promise((res) => setTimeout(res, 0));
  }
  total.ms = Date.now() - t0;
  return total;
}
