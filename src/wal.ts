/**
 * `Wal`: named streams of binary entries with contiguous ids, four sync
 * modes with group commit, reads by id and in order, truncation, and crash
 * recovery at open.
 *
 * Writes are coalesced: an append encodes its frame into its stream's
 * pending buffer and the WAL writes every pending frame of the current
 * turn of the event loop with one positional write per segment, followed
 * (in "strict" mode) by one fdatasync per file, so concurrent appenders
 * share one fsync (group commit). All I/O is synchronous (see src/io.ts);
 * only the resolution of the appends' promises waits.
 *
 * @module
 */

import { ioError, WalError } from "./errors.ts";
import { joinPath, type WalFile, type WalFs, type WalLock } from "./io.ts";
import { type ResolvedOptions, validateOptions, type WalEvent, type WalOptions } from "./options.ts";
import { crc32Implementation, initCrc32, registerNativeCrc32 } from "./format/crc32.ts";
import { decodeStreamName, encodeStreamName } from "./format/stream_name.ts";
import { type EntryReader, Stream, type StreamContext, type StreamRecovery } from "./stream/stream.ts";
import { HandleCache } from "./stream/handles.ts";
import { AsyncEntryIterator, EntryIterator, type IterHost, type IterOptions, type IterRequest, type WalEntry } from "./entry_iterator.ts";
import type { ChunkPolicy } from "./stream/cursor.ts";
import { Lru } from "./stream/lru.ts";

export type { IterOptions, WalEntry } from "./entry_iterator.ts";

/** Ids `start` (inclusive) to `end` (exclusive) of a batch. */
export interface IdRange {
  start: number;
  end: number;
}

/** What `Wal.open` found and repaired (nori-wal's RecoveryInfo). */
export interface RecoveryInfo {
  /** Entries the open-time scan verified (active segments' frames, CRC checked). */
  validRecords: number;
  /** Segment files scanned at open: one per stream, the active one (a crash that left the ACTIVE hint stale may add one). */
  segmentsScanned: number;
  /** Bytes cut off: torn tails, and damage cut under onCorruption "truncate". */
  bytesTruncated: number;
  /** True if damage a crash cannot explain was found (and, with "truncate", cut). */
  corruptionDetected: boolean;
  /** Streams found. */
  streams: number;
  /** What was repaired, one line each (stream, file, offset, bytes). */
  repairs: string[];
  /**
   * Files ignored and other oddities, one line each. Open lists a stream's
   * directory only when its ACTIVE hint cannot be used; otherwise the
   * directory is listed the first time an older segment is needed (a read
   * below the active segment, `firstId`, `truncate`), and what that listing
   * finds is added here then (and emitted as a `warning` event).
   */
  warnings: string[];
  /** Time open took, in milliseconds. */
  durationMs: number;
}

/** Counters of a Wal (Kaelix's WalStats and more). */
export interface WalStats {
  entriesWritten: number;
  entriesRead: number;
  bytesWritten: number;
  /** Mean time from an append's call to its resolution, in microseconds (of one append in 8, from the first). */
  writeLatencyUs: number;
  /** Memory held by indexes, pending buffers and caches. */
  memoryUsageBytes: number;
  /** Streams with an open active segment. */
  activeSegments: number;
  streams: number;
  segmentsCreated: number;
  fsyncs: number;
  openFiles: number;
  cacheHits: number;
  cacheMisses: number;
  cacheBytes: number;
  /** Which CRC-32 implementation is in use: "native", "hash-wasm" or "table", with "+sparse" once spans of 14 KiB and more go through our WebAssembly CRC. */
  crc32: string;
}

/** Pending bytes of one stream that make an append write at once rather than wait for the turn to end. */
const MAX_PENDING = 4 * 1024 * 1024;

/**
 * Runs `fn` in a microtask, as `queueMicrotask` does, through a settled
 * promise: a third of the cost on Node 20 (31 vs 105 ns a hop, measured),
 * and the append path takes a few hops per drain. `fn` must not throw.
 */
const SETTLED = Promise.resolve();
function micro(fn: () => void): void {
  SETTLED.then(fn);
}

/**
 * One append in this many is timed for `writeLatencyUs`: a clock read costs
 * 70-190 ns (Bun, Node, Deno; measured), and the two per append were about a
 * quarter of its own JavaScript on Node (0.25 of 1.0 µs).
 */
const LATENCY_SAMPLE = 8;

let defaultFsFactory: (() => WalFs) | undefined;

/** Sets the adapter used when `options.fs` is absent (done by mod.ts). */
export function setDefaultFs(factory: () => WalFs): void {
  defaultFsFactory = factory;
}

/** A caller waiting for a sync round: an append (a {@link Waiter}) or a call of sync(). */
interface SyncWaiter {
  value: number | IdRange;
  /** When the append was called, for one append in {@link LATENCY_SAMPLE}; -1 for the others. */
  t0: number;
  resolve: (v: never) => void;
  reject: (e: unknown) => void;
}

interface Waiter extends SyncWaiter {
  stream: Stream;
  /** Index of its frame among the stream's pending frames. */
  frame: number;
  /** Needs an fsync before resolving. */
  sync: boolean;
}

/** The value of a sync() waiter: no entries. */
const NOTHING: IdRange = { start: 0, end: 0 };

function checkBytes(data: unknown, what: string): Uint8Array {
  if (!(data instanceof Uint8Array)) {
    throw new WalError("CONFIG", `${what} must be a Uint8Array, got ${data === null ? "null" : typeof data}`);
  }
  return data;
}

function checkId(id: unknown, what: string): number {
  if (typeof id !== "number" || !Number.isSafeInteger(id) || id < 0) {
    throw new WalError("CONFIG", `${what} must be a non-negative safe integer, got ${String(id)}`);
  }
  return id;
}

/**
 * The cheap half of a stream key's validation, for reads: a key that is not
 * a non-empty string is a caller's bug (CONFIG), not a stream that does not
 * exist. Keys that could never be written (too long) simply are not found.
 */
function checkKey(stream: unknown, what: string): void {
  if (typeof stream !== "string" || stream.length === 0) {
    const shown = typeof stream === "string" ? '""' : String(stream);
    throw new WalError("CONFIG", `${what}: stream key must be a non-empty string, got ${shown}`);
  }
}

function parentOf(path: string): string {
  const trimmed = path.replace(/\/+$/, "");
  const i = trimmed.lastIndexOf("/");
  if (i < 0) return ".";
  return i === 0 ? "/" : trimmed.slice(0, i);
}

/**
 * A write-ahead log of named streams.
 *
 * @example
 * ```ts
 * import { Wal } from "../mod.ts";
 * import { MemoryFs } from "../adapters/memory.ts";
 * const wal = await Wal.open({ root: "/wal", fs: new MemoryFs() });
 * const id = await wal.append("logs", new TextEncoder().encode("hello"));
 * console.log(new TextDecoder().decode(await wal.get("logs", id)));
 * await wal.close();
 * ```
 */
export class Wal {
  /** What open found and repaired. */
  readonly recovery: RecoveryInfo;
  readonly #opts: ResolvedOptions;
  readonly #fs: WalFs;
  readonly #lock: WalLock;
  readonly #ctx: StreamContext;
  readonly #streams = new Map<string, Stream>();
  #closed = false;
  readonly #failureBox: { error: WalError | undefined };
  get #failure(): WalError | undefined {
    return this.#failureBox.error;
  }
  set #failure(e: WalError | undefined) {
    this.#failureBox.error = e;
  }

  #waiters: Waiter[] = [];
  /** Written appends waiting for the next sync round (see #syncRound). */
  #awaitingSync: SyncWaiter[] = [];
  /** True while a sync round's background fsyncs run. */
  #syncing = false;
  /** The clock read shared by the appends settled together (-1: not read yet). */
  #latencyNow = -1;
  /** True while appends come one at a time (a caller awaiting each): they are written at once. */
  #solo = false;
  /** True from an at-once write to the next microtask: another append before then is a burst. */
  #soloTurn = false;
  readonly #endSoloTurn = (): void => {
    this.#soloTurn = false;
  };
  #pendingStreams: Stream[] = [];
  #drainScheduled = false;
  #draining = false;
  #arrivals = 0;
  #spins = 0;
  #timer: ReturnType<typeof setTimeout> | undefined;
  /** True during the microtask burst that follows a drain (see #enqueue). */
  #chained = false;
  /** True if some append can wait for an fsync ("strict", "batch-only"): only then does #chained matter. */
  readonly #syncWaits: boolean;
  #chainHops = 0;
  /** "interval": when the oldest data not yet fsynced was written (undefined: all synced). */
  #unsyncedSince: number | undefined;

  /** Shared by every iterator of this Wal (see IterHost on why not one per iterator). */
  readonly #iterHost: IterHost = {
    start: (req) => this.#iterStart(req),
    closed: () => this.#closed,
    closedError: () => new WalError("CLOSED", `the WAL at ${this.#opts.root} was closed during iteration`),
  };
  #detachPolicy: ChunkPolicy | undefined;
  #freshPolicy: ChunkPolicy | undefined;

  #entriesWritten = 0;
  #latencySumUs = 0;
  #latencyCount = 0;
  /** Appends enqueued; every {@link LATENCY_SAMPLE}th, from the first, is timed. */
  #latencySeq = 0;
  #fsyncs = 0;

  private constructor(
    opts: ResolvedOptions,
    fs: WalFs,
    lock: WalLock,
    recovery: RecoveryInfo,
    ctx: StreamContext,
    failure: { error: WalError | undefined },
  ) {
    this.#failureBox = failure;
    this.#opts = opts;
    this.#syncWaits = opts.syncMode === "strict" || opts.syncMode === "batch-only";
    this.#fs = fs;
    this.#lock = lock;
    this.recovery = recovery;
    this.#ctx = ctx;
  }

  /**
   * Opens (creating if needed) the WAL at `options.root`, takes its lock and
   * recovers every stream: the active segment of each is scanned and a torn
   * tail cut off (see {@link RecoveryInfo}).
   *
   * @throws {WalError} `CONFIG` for a bad option, `LOCKED` if another
   *   instance holds the root, `CORRUPTION` for damage a crash cannot explain
   *   (with onCorruption "error"), `IO` for file system errors.
   */
  static async open(options: WalOptions = {}): Promise<Wal> {
    const t0 = performance.now();
    const opts = validateOptions(options);
    const fs = opts.fs ?? defaultFsFactory?.();
    if (fs === undefined) {
      throw new WalError("CONFIG", "no file system adapter: pass options.fs (e.g. MemoryFs) or import ironwal from mod.ts");
    }
    // Any CRC-32 gives the same sums: keep a native one already registered (mod.ts registers the runtime's).
    if (fs.crc32 !== undefined && !crc32Implementation().startsWith("native")) registerNativeCrc32(fs.crc32.bind(fs));
    await initCrc32();
    const root = opts.root;
    try {
      const st = fs.stat(root);
      if (st === undefined) {
        fs.mkdir(root);
        try {
          fs.syncDir(parentOf(root));
        } catch {
          // The parent may not be ours to open; the root's own entries are synced below.
        }
      } else if (!st.isDirectory) {
        throw new WalError("CONFIG", `root ${root} exists and is not a directory; choose another path`);
      }
    } catch (e) {
      throw e instanceof WalError ? e : ioError(`cannot create the WAL root ${root}`, e);
    }
    const lock = fs.lock(root);
    const emit = opts.meter === undefined ? () => {} : (e: WalEvent) => {
      try {
        opts.meter!(e);
      } catch {
        // A meter must not break the log.
      }
    };
    const handles = new HandleCache(fs, opts.maxOpenSegments);
    // Shared with the instance: a failed fsync anywhere makes every later write fail.
    const failure: { error: WalError | undefined } = { error: undefined };
    const rec: StreamRecovery & { streams: number } = {
      validRecords: 0,
      segmentsScanned: 0,
      bytesTruncated: 0,
      corruptionDetected: false,
      repairs: [],
      warnings: [],
      streams: 0,
    };
    // Warnings found during open are emitted when it ends; later ones (a stream
    // directory listed lazily) join wal.recovery.warnings and are emitted at once.
    let opened = false;
    const ctx: StreamContext = {
      fs,
      opts,
      handles,
      indexes: new Lru(Math.max(8, opts.maxOpenSegments)),
      blocks: opts.blockCacheSize > 0 ? new Lru(opts.blockCacheSize) : undefined,
      views: opts.readStrategy === "mmap" ? new Lru(fs.map !== undefined ? opts.maxOpenSegments : 256 * 1024 * 1024) : undefined,
      emit,
      warn: (message) => {
        rec.warnings.push(message);
        if (opened) emit({ type: "warning", message });
      },
      syncFailed: (path, cause) => {
        const err = ioError(`fsync of ${path} failed; data written since the last good sync may be lost`, cause);
        failure.error ??= err;
        return failure.error;
      },
      counters: { bytesWritten: 0, entriesRead: 0, segmentsCreated: 0, cacheHits: 0, cacheMisses: 0 },
    };
    const streams: Stream[] = [];
    try {
      for (const e of fs.readDir(root)) {
        // LOCK and its helper files (LOCK.*) belong to the adapter's lock; upper case never names a stream.
        if (e.name === "LOCK" || e.name.startsWith("LOCK.")) continue;
        const key = e.isDirectory ? decodeStreamName(e.name) : undefined;
        if (key === undefined) {
          rec.warnings.push(`ignored ${JSON.stringify(e.name)} in ${root}: not a stream directory`);
          continue;
        }
        const twin = streams.find((t) => t.key === key);
        if (twin !== undefined) {
          // Only by hand: an older ironwal named a few keys (e.g. "lock") plainly, this one escapes them.
          throw new WalError(
            "CORRUPTION",
            `stream ${JSON.stringify(key)} has two directories in ${root}: ${twin.dir} and ${joinPath(root, e.name)}; ` +
              `keep one (move the other out of the root) and open again`,
          );
        }
        const s = new Stream(ctx, key, joinPath(root, e.name));
        s.recover(rec);
        streams.push(s);
      }
      if (streams.length > 0) {
        // A process killed between making a stream's directory and syncing the root
        // leaves an entry that is not durable; appends must not go where a power loss can undo.
        try {
          fs.syncDir(root);
        } catch (e) {
          throw ctx.syncFailed(root, e);
        }
      }
    } catch (e) {
      try {
        handles.closeAll();
      } catch {
        // Already failing.
      }
      lock.release();
      if (e instanceof WalError) throw e;
      throw ioError(`recovery of ${root} failed`, e);
    }
    rec.streams = streams.length;
    for (const w of rec.warnings) emit({ type: "warning", message: w });
    opened = true;
    const recovery: RecoveryInfo = { ...rec, durationMs: performance.now() - t0 };
    const wal = new Wal(opts, fs, lock, recovery, ctx, failure);
    handles.onEvict = (path, file) => wal.#syncEvicted(path, file);
    for (const s of streams) wal.#streams.set(s.key, s);
    return wal;
  }

  // ------------------------------------------------------------------ writes

  /**
   * Appends one entry to `stream` and resolves with its id once the entry is
   * as durable as the sync mode promises (see README, "Sync modes").
   *
   * @throws {WalError} `CONFIG` for a bad argument, `CLOSED`, `IO`.
   */
  append(stream: string, data: Uint8Array): Promise<number> {
    try {
      const s = this.#writable(stream);
      checkBytes(data, "append: data");
      const id = s.encode(data, undefined);
      this.#streams.set(stream, s);
      return this.#enqueue(s, this.#opts.syncMode === "strict", id);
    } catch (e) {
      return Promise.reject(e);
    }
  }

  /**
   * Appends `entries` to `stream` as one atomic frame: after any crash either
   * all of them are present or none. Resolves with their id range.
   */
  appendBatch(stream: string, entries: Uint8Array[]): Promise<IdRange> {
    try {
      const s = this.#writable(stream);
      if (!Array.isArray(entries)) throw new WalError("CONFIG", `appendBatch: entries must be an array of Uint8Array`);
      for (let i = 0; i < entries.length; i++) checkBytes(entries[i], `appendBatch: entries[${i}]`);
      if (entries.length === 0) return Promise.resolve({ start: s.nextId, end: s.nextId });
      const start = s.encode(undefined, entries);
      this.#streams.set(stream, s);
      return this.#enqueue(s, this.#opts.syncMode !== "async" && this.#opts.syncMode !== "interval", {
        start,
        end: start + entries.length,
      });
    } catch (e) {
      return Promise.reject(e);
    }
  }

  /** A transaction writer: entries added to it are committed as one atomic batch. */
  writer(stream: string): TxnWriter {
    encodeStreamName(stream);
    return new TxnWriter(this, stream);
  }

  #writable(stream: string): Stream {
    if (this.#closed) throw new WalError("CLOSED", `the WAL at ${this.#opts.root} is closed; open it again to write`);
    if (this.#failure !== undefined) {
      throw new WalError(
        "IO",
        `the WAL at ${this.#opts.root} refuses writes after a failed fsync (${this.#failure.message}); ` +
          `data written since the last good sync may be lost: close and reopen to recover`,
        { cause: this.#failure },
      );
    }
    let s = this.#streams.get(stream);
    if (s === undefined) {
      // Registered by the caller once its entry is encoded: a rejected append makes no stream.
      const dir = joinPath(this.#opts.root, encodeStreamName(stream));
      s = new Stream(this.#ctx, stream, dir);
    }
    return s;
  }

  #enqueue<T extends number | IdRange>(s: Stream, sync: boolean, value: T): Promise<T> {
    let resolve!: (v: T) => void;
    let reject!: (e: unknown) => void;
    const p = new Promise<T>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    const frame = s.pendingFrames - 1;
    if (frame === 0) this.#pendingStreams.push(s);
    this.#waiters.push({ stream: s, frame, sync, value, t0: this.#latencySeq++ % LATENCY_SAMPLE === 0 ? performance.now() : -1, resolve: resolve as (v: never) => void, reject });
    this.#arrivals++;
    if (this.#soloTurn) this.#solo = false;
    if (!sync && this.#solo && this.#waiters.length === 1 && !this.#draining && !this.#drainScheduled) {
      // A caller awaiting each append it makes: nothing would share the write, so write
      // now rather than a few microtasks later (the promise settles as it would have).
      // A second append in this same turn shows a burst, which goes back to sharing writes.
      this.#soloTurn = true;
      micro(this.#endSoloTurn);
      this.#drain();
      this.#solo = true;
    } else if (s.pendingBytes >= MAX_PENDING && !this.#draining) {
      // Bound the memory of a burst: write what is pending now.
      this.#drain();
    } else if (!this.#drainScheduled) {
      this.#drainScheduled = true;
      this.#arrivals = 0;
      // Appends made by the callers a drain just resolved (a writer awaiting in a loop) drain
      // after the microtask burst: nothing else can join before it. Any other append waits
      // for the rest of the event-loop turn, so appends from other I/O callbacks share the fsync.
      const defer = sync && !this.#chained ? this.#fs.defer : undefined;
      if (defer !== undefined) {
        // Wait for the rest of this event-loop turn, so appends from other I/O callbacks share the fsync.
        this.#spins = Infinity;
        defer.call(this.#fs, this.#drainTask);
      } else {
        this.#spins = 0;
        micro(this.#drainTask);
      }
    }
    return p;
  }

  /**
   * Runs once the current burst of appends is over: while new appends keep
   * arriving in the microtasks that follow (awaiting callers issuing their
   * next append), it waits a little longer, so they share the write and
   * the fsync.
   */
  readonly #drainTask = (): void => {
    if (this.#arrivals > 0 && this.#spins < 3 && !this.#closed) {
      this.#arrivals = 0;
      this.#spins++;
      micro(this.#drainTask);
      return;
    }
    this.#drainScheduled = false;
    this.#drain();
  };

  /** Writes every pending frame, fsyncs as the mode asks, settles the waiters. */
  #drain(): void {
    if (this.#draining) return;
    this.#draining = true;
    try {
      const waiters = this.#waiters;
      const streams = this.#pendingStreams;
      this.#solo = waiters.length === 1;
      this.#waiters = [];
      this.#pendingStreams = [];
      // Each stream's outcome is in its lastWrite until the next drain.
      for (const s of streams) s.writePending();
      let needSync = this.#opts.syncMode === "strict";
      if (!needSync && this.#opts.syncMode === "batch-only") {
        for (const w of waiters) if (w.sync) needSync = true;
      }
      if (this.#opts.syncMode === "interval") {
        // Appends that await each other chain through microtasks and starve the timer:
        // once the oldest unsynced data is a window old, sync here instead.
        const t = performance.now();
        if (this.#unsyncedSince !== undefined && t - this.#unsyncedSince >= this.#opts.syncIntervalMs) needSync = true;
        else this.#unsyncedSince ??= t;
      }
      // Where appends wait for their fsync, it is done by a sync round (#syncRound), which
      // syncs the files of several streams at once; "interval"'s catch-up sync is done here.
      const round = needSync && this.#syncWaits;
      let syncError: WalError | undefined;
      if (needSync && !round) syncError = this.#syncAll();
      for (const w of waiters) {
        const r = w.stream.lastWrite;
        if (w.frame < r.written) r.entries += typeof w.value === "number" ? 1 : w.value.end - w.value.start;
        if (w.frame >= r.written) {
          w.reject(r.error);
        } else if (w.sync && round) {
          this.#awaitingSync.push(w);
        } else if (w.sync && (syncError !== undefined || this.#failure !== undefined)) {
          w.reject(syncError ?? this.#failure);
        } else {
          this.#resolve(w);
        }
      }
      this.#latencyNow = -1;
      if (this.#ctx.emit !== undefined && this.#opts.meter !== undefined) {
        for (const s of streams) {
          // Entries and frame bytes (headers included) this drain wrote to the OS for the stream.
          const r = s.lastWrite;
          if (r.entries > 0) this.#ctx.emit({ type: "append", stream: s.key, entries: r.entries, bytes: r.bytes });
        }
      }
      if (this.#opts.syncMode === "interval" && this.#timer === undefined && !needSync) {
        this.#timer = setTimeout(this.#intervalSync, this.#opts.syncIntervalMs);
      }
    } finally {
      this.#draining = false;
    }
    // A round already running leaves these to the next one, which it starts when it ends:
    // the bytes it syncs may not include theirs.
    if (this.#awaitingSync.length > 0 && !this.#syncing) this.#syncRound();
    // Restart the count on every drain; start the ticking only if it is not running, and
    // only where an append can wait for an fsync (#chained matters to nothing else).
    this.#chainHops = 0;
    if (!this.#chained && this.#syncWaits) {
      this.#chained = true;
      micro(this.#chainTick);
    }
  }

  /** Keeps #chained true for a few microtask hops after a drain, long enough for awaiting callers to append again. */
  readonly #chainTick = (): void => {
    if (++this.#chainHops < 8) micro(this.#chainTick);
    else this.#chained = false;
  };

  readonly #intervalSync = (): void => {
    this.#timer = undefined;
    if (this.#closed) return;
    // A round running now may not cover what was written since it began: sync here then.
    if (this.#syncing) this.#syncAll();
    else this.#syncRound();
  };

  /** Resolves a written append whose fsync, if it needs one, is done. */
  #resolve(w: SyncWaiter): void {
    const v = w.value;
    this.#entriesWritten += typeof v === "number" ? 1 : v.end - v.start;
    if (w.t0 >= 0) {
      if (this.#latencyNow < 0) this.#latencyNow = performance.now();
      this.#latencySumUs += (this.#latencyNow - w.t0) * 1000;
      this.#latencyCount++;
    }
    w.resolve(v as never);
  }

  /**
   * Makes every written append in {@link #awaitingSync} durable, then settles it.
   * One dirty stream is fdatasynced here and now, as {@link #syncAll} does;
   * several are synced at once, each on the runtime's I/O threads where the
   * stream allows it ({@link Stream.syncAsync}), and the appends settle when
   * the last sync ends. Appends written meanwhile wait for the next round,
   * which starts then: rounds never overlap, so appends settle in the order
   * they were written, and a round's fsyncs follow every write it covers.
   */
  #syncRound(): void {
    const batch = this.#awaitingSync;
    this.#awaitingSync = [];
    let dirty = 0;
    if (!this.#closed && this.#failure === undefined) {
      for (const s of this.#streams.values()) if (s.needsSync && ++dirty > 1) break;
    }
    if (dirty < 2) {
      // After close (which synced everything it wrote, or failed), nothing is left to sync.
      this.#settle(batch, this.#closed ? this.#failure : this.#syncAll());
      return;
    }
    this.#syncing = true;
    // Whatever is written from now on is not covered by this round (see #drain's "interval").
    this.#unsyncedSince = undefined;
    const t0 = performance.now();
    let files = 0;
    let running = 1;
    let error: WalError | undefined;
    const end = (): void => {
      if (--running > 0) return;
      this.#syncing = false;
      this.#countFsyncs(files, t0);
      this.#settle(batch, error ?? this.#failure);
      if (this.#awaitingSync.length > 0) this.#syncRound();
    };
    for (const s of this.#streams.values()) {
      if (!s.needsSync) continue;
      try {
        const p = s.syncAsync();
        if (p === undefined) {
          files += s.sync();
          continue;
        }
        running++;
        p.then((n) => {
          files += n;
          end();
        }, (e) => {
          error ??= this.#syncFailure(s, e);
          end();
        });
      } catch (e) {
        error ??= this.#syncFailure(s, e);
        break;
      }
    }
    end();
  }

  /** Settles appends waiting for a sync round: resolved, or rejected with the round's (or an earlier) failure. */
  #settle(batch: SyncWaiter[], error: WalError | undefined): void {
    for (const w of batch) {
      if (error !== undefined) w.reject(error);
      else this.#resolve(w);
    }
    this.#latencyNow = -1;
  }

  /** Counts the segment files one sync fdatasynced (started at `t0`) and tells the meter. */
  #countFsyncs(files: number, t0: number): void {
    if (files === 0) return;
    this.#fsyncs += files;
    this.#ctx.emit({ type: "fsync", files, durationUs: (performance.now() - t0) * 1000 });
  }

  /** Records a failed sync of `s` as the sticky failure (unless one came first); returns the failure. */
  #syncFailure(s: Stream, e: unknown): WalError {
    this.#failure ??= ioError(`fsync of ${s.activePath()} (stream ${JSON.stringify(s.key)}) failed`, e);
    return this.#failure;
  }

  /** fdatasyncs every dirty stream. A failure is sticky. */
  #syncAll(): WalError | undefined {
    if (this.#failure !== undefined) return this.#failure;
    let files = 0;
    const t0 = performance.now();
    for (const s of this.#streams.values()) {
      if (!s.needsSync) continue;
      try {
        // Sealed segments whose fsync was deferred first, oldest first, then the active one.
        files += s.sync();
      } catch (e) {
        return this.#syncFailure(s, e);
      }
    }
    this.#countFsyncs(files, t0);
    this.#unsyncedSince = undefined;
    return undefined;
  }

  /**
   * A dirty handle (an active segment, or a sealed one whose fsync was
   * deferred) about to be closed by the LRU is synced first, so no fsync
   * error is lost.
   */
  #syncEvicted(path: string, file: WalFile): void {
    for (const s of this.#streams.values()) {
      if (!s.dirty) continue;
      try {
        // Through the handle being closed: looking it up in the cache would reopen it
        // (or, from closeAll, move it to the end of the map being iterated, forever).
        if (s.syncHandle(path, file)) this.#fsyncs++;
      } catch (e) {
        this.#failure ??= ioError(`fsync of ${path} before closing it failed`, e);
      }
    }
  }

  /** Writes everything pending now (used by sync and close). */
  #flushNow(): void {
    if (this.#waiters.length > 0 || this.#pendingStreams.length > 0) this.#drain();
  }

  /**
   * Makes every entry appended so far durable (fsync), whatever the sync mode.
   * @throws {WalError} `IO` if an fsync failed now or before.
   */
  sync(): Promise<void> {
    try {
      this.#open();
      this.#flushNow();
      return new Promise<void>((resolve, reject) => {
        // Settled by the sync round that starts now, or by the one after the round running.
        this.#awaitingSync.push({ value: NOTHING, t0: -1, resolve: resolve as (v: never) => void, reject });
        if (!this.#syncing) this.#syncRound();
      });
    } catch (e) {
      return Promise.reject(e);
    }
  }

  /** Writes and fsyncs everything pending, closes every file and releases the lock. Idempotent. */
  close(): Promise<void> {
    if (this.#closed) return Promise.resolve();
    let err: unknown;
    try {
      this.#flushNow();
      err = this.#syncAll();
    } catch (e) {
      err = e;
    }
    this.#closed = true;
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    try {
      this.#ctx.handles.closeAll();
    } catch (e) {
      err ??= ioError("closing segment files failed", e);
    }
    this.#ctx.views?.clear();
    this.#ctx.blocks?.clear();
    this.#ctx.indexes.clear();
    this.#lock.release();
    return err === undefined ? Promise.resolve() : Promise.reject(err);
  }

  #open(): void {
    if (this.#closed) throw new WalError("CLOSED", `the WAL at ${this.#opts.root} is closed; open it again`);
  }

  // ------------------------------------------------------------------- reads

  /**
   * The entry `id` of `stream`, or `undefined` if it was never written or was
   * truncated away.
   * @throws {WalError} `CRC_MISMATCH` for a damaged frame (with stream, file and offset).
   */
  get(stream: string, id: number): Promise<Uint8Array | undefined> {
    try {
      return Promise.resolve(this.getSync(stream, id));
    } catch (e) {
      return Promise.reject(e);
    }
  }

  /** Synchronous twin of {@link get}. */
  getSync(stream: string, id: number): Uint8Array | undefined {
    this.#open();
    checkKey(stream, "get");
    checkId(id, "get: id");
    const s = this.#streams.get(stream);
    if (s === undefined) return undefined;
    try {
      return s.get(id);
    } catch (e) {
      throw e instanceof WalError ? e : ioError(`read of stream ${JSON.stringify(stream)} id ${id} failed`, e);
    }
  }

  /**
   * Entries of `stream` from `startId` on, in id order, across segment files,
   * up to the last entry written when the iteration reaches it. Starting
   * below the first stored id starts at the first stored id; a stream that
   * does not exist yields nothing.
   *
   * Each entry's `data` is a view into the chunk of the file it was read
   * with (or into a mapped file): the caller may keep it, and keeping it
   * keeps that chunk (up to 1 MiB) in memory; copy it (`data.slice()`) to
   * keep a small entry alone. With `{ reuseBuffer: true }` one buffer serves
   * every chunk, which is faster, and `data` is then valid only until the
   * next step (see {@link IterOptions}).
   *
   * @throws {WalError} `CRC_MISMATCH` or `CORRUPTION` at a damaged frame
   *   (with stream, file and offset); `CLOSED` if the Wal is closed while
   *   iterating.
   * @example
   * ```ts
   * import { Wal } from "../mod.ts";
   * const wal = await Wal.open({ root: await Deno.makeTempDir() });
   * await wal.append("logs", new TextEncoder().encode("hello"));
   * for await (const { id, data } of wal.iter("logs", 0)) {
   *   console.log(id, new TextDecoder().decode(data)); // 0 hello
   * }
   * await wal.close();
   * ```
   */
  iter(stream: string, startId = 0, options: IterOptions = {}): AsyncIterableIterator<WalEntry> {
    return new AsyncEntryIterator(this.#iterHost, { name: stream, startId, options, what: "iter" });
  }

  /** Synchronous twin of {@link iter}, with the same rules for `data`. */
  iterSync(stream: string, startId = 0, options: IterOptions = {}): IterableIterator<WalEntry> {
    return new EntryIterator(this.#iterHost, { name: stream, startId, options, what: "iterSync" });
  }

  /** Checks an iteration's arguments at its first step and makes its reader (see IterHost.start). */
  #iterStart(req: IterRequest): { stream: Stream; reader: EntryReader } | undefined {
    const { name, startId, options, what } = req;
    this.#open();
    checkKey(name, what);
    checkId(startId, `${what}: startId`);
    const reuse = options?.reuseBuffer;
    if (reuse !== undefined && typeof reuse !== "boolean") {
      throw new WalError("CONFIG", `${what}: options.reuseBuffer must be a boolean, got ${typeof reuse}`);
    }
    const s = this.#streams.get(name);
    if (s === undefined) return undefined;
    // The async iterator reads each next chunk in the background while it checks this one.
    return { stream: s, reader: s.reader(startId, Infinity, this.#chunkPolicy(reuse === true), what === "iter") };
  }

  /**
   * How an iterator's chunk buffers are got: with `reuse`, one buffer
   * detached before each reuse (only where the adapter can detach);
   * otherwise fresh buffers, from the adapter's uninitialized memory where
   * it has some. Made once per Wal, so every iterator calls the same
   * functions (see IterHost).
   */
  #chunkPolicy(reuse: boolean): ChunkPolicy {
    const fs = this.#fs;
    if (reuse && fs.detach !== undefined) return this.#detachPolicy ??= fs.detach.bind(fs);
    if (fs.alloc !== undefined) return this.#freshPolicy ??= { fresh: fs.alloc.bind(fs) };
    return "fresh";
  }

  /** Entries `start` (inclusive) to `end` (exclusive) of `stream`, copied. */
  readRange(stream: string, start: number, end: number): Promise<WalEntry[]> {
    try {
      this.#open();
      checkKey(stream, "readRange");
      checkId(start, "readRange: start");
      checkId(end, "readRange: end");
      const out: WalEntry[] = [];
      const s = this.#streams.get(stream);
      if (s === undefined || end <= start) return Promise.resolve(out);
      // Every entry is copied out, so one buffer serves every chunk.
      const r = s.reader(start, end, "reuse");
      while (s.readNext(r)) out.push({ id: r.id, data: r.data.slice() });
      return Promise.resolve(out);
    } catch (e) {
      return Promise.reject(e instanceof WalError ? e : ioError(`readRange of stream ${JSON.stringify(stream)} failed`, e));
    }
  }

  // ------------------------------------------------------------- maintenance

  /**
   * Deletes the segment files of `stream` whose entries all have ids below
   * `safeId`. The active segment is never deleted. Resolves with the number
   * of files deleted.
   * @throws {WalError} `STREAM_NOT_FOUND` for a stream that does not exist.
   */
  truncate(stream: string, safeId: number): Promise<number> {
    try {
      this.#open();
      checkKey(stream, "truncate");
      checkId(safeId, "truncate: safeId");
      const s = this.#streams.get(stream);
      if (s === undefined) {
        throw new WalError("STREAM_NOT_FOUND", `truncate: stream ${JSON.stringify(stream)} does not exist in ${this.#opts.root}`);
      }
      this.#flushNow();
      // The stream drops the cached frames of the segments it deletes.
      return Promise.resolve(s.truncate(safeId));
    } catch (e) {
      return Promise.reject(e instanceof WalError ? e : ioError(`truncate of stream ${JSON.stringify(stream)} failed`, e));
    }
  }

  /** Names of every stream, sorted. */
  streams(): string[] {
    return [...this.#streams.keys()].sort();
  }

  /** The id the next append to `stream` will get (0 for a new stream). */
  nextId(stream: string): number {
    checkKey(stream, "nextId");
    return this.#streams.get(stream)?.nextId ?? 0;
  }

  /**
   * The id below which every entry of `stream` is durable (fsynced), 0 for
   * a stream that does not exist. It never splits a batch. After
   * `await wal.sync()` it is at least the `nextId` seen when sync was
   * called: ShardedWal reads it to take a consistent, durable cut.
   */
  syncedId(stream: string): number {
    checkKey(stream, "syncedId");
    return this.#streams.get(stream)?.syncedId ?? 0;
  }

  /** The first id still stored in `stream` (after truncation). */
  firstId(stream: string): number {
    this.#open();
    checkKey(stream, "firstId");
    return this.#streams.get(stream)?.firstId() ?? 0;
  }

  /** Counters and gauges; see {@link WalStats}. Still answers after close() (the final figures). */
  stats(): WalStats {
    const c = this.#ctx.counters;
    let mem = 0;
    let active = 0;
    for (const s of this.#streams.values()) {
      mem += s.memoryBytes();
      if (s.activePath() !== undefined) active++;
    }
    const cacheBytes = this.#ctx.blocks?.weight ?? 0;
    mem += cacheBytes;
    return {
      entriesWritten: this.#entriesWritten,
      entriesRead: c.entriesRead,
      bytesWritten: c.bytesWritten,
      writeLatencyUs: this.#latencyCount === 0 ? 0 : this.#latencySumUs / this.#latencyCount,
      memoryUsageBytes: mem,
      activeSegments: active,
      streams: this.#streams.size,
      segmentsCreated: c.segmentsCreated,
      fsyncs: this.#fsyncs,
      openFiles: this.#ctx.handles.size,
      cacheHits: c.cacheHits,
      cacheMisses: c.cacheMisses,
      cacheBytes,
      crc32: crc32Implementation(),
    };
  }

  /** The resolved options this WAL runs with. */
  get options(): Readonly<ResolvedOptions> {
    return this.#opts;
  }

  /** The file system adapter in use. */
  get fs(): WalFs {
    return this.#fs;
  }
}

/**
 * Accumulates entries in memory and commits them as one atomic batch
 * (IronWal's TxnWriter).
 *
 * @example
 * ```ts
 * import { Wal } from "../mod.ts";
 * import { MemoryFs } from "../adapters/memory.ts";
 * const wal = await Wal.open({ root: "/w", fs: new MemoryFs() });
 * const txn = wal.writer("tx");
 * txn.add(new Uint8Array([1])).add(new Uint8Array([2]));
 * const { start, end } = await txn.commit(); // 0, 2
 * await wal.close();
 * ```
 */
export class TxnWriter {
  readonly #wal: Wal;
  readonly #stream: string;
  #entries: Uint8Array[] = [];

  constructor(wal: Wal, stream: string) {
    this.#wal = wal;
    this.#stream = stream;
  }

  /** Adds an entry (copied at commit). */
  add(data: Uint8Array): this {
    this.#entries.push(checkBytes(data, "TxnWriter.add: data"));
    return this;
  }

  /** Entries added and not yet committed. */
  get length(): number {
    return this.#entries.length;
  }

  /** Commits the added entries atomically and empties the writer. */
  commit(): Promise<IdRange> {
    const e = this.#entries;
    this.#entries = [];
    return this.#wal.appendBatch(this.#stream, e);
  }

  /** Drops the added entries. */
  discard(): void {
    this.#entries = [];
  }
}

