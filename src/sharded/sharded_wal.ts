/**
 * `ShardedWal`: keys routed over a fixed number of shards, each shard a
 * stream of one {@link Wal} over the same root, with crash-safe checkpoints
 * (consistent cuts over every shard) in `checkpoints.log` and `HEAD`.
 *
 * Layout of the root (FORMAT.md §7-§8):
 *
 * ```
 * root/
 *   LOCK              the Wal's lock: one process holds the whole root
 *   SHARDS            shard count and routing algorithm (CRC-protected)
 *   HEAD              names the newest checkpoint record
 *   checkpoints.log   append-only checkpoint records
 *   shard-0000/       shard 0: an ordinary stream directory of segments
 *   shard-0001/ ...
 * ```
 *
 * All shards share one Wal, so one drain writes every shard's pending
 * frames and fsyncs each dirty shard file once: concurrent appends to a
 * shard share its fsync (group commit per shard).
 *
 * @module
 */

import { WalError } from "../errors.ts";
import { joinPath, type WalFs } from "../io.ts";
import type { WalOptions } from "../options.ts";
import { type IterOptions, type RecoveryInfo, Wal, type WalEntry, type WalStats } from "../wal.ts";
import { decodeShardMeta, encodeShardMeta, MAX_CHECKPOINT_ID, META_SIZE } from "../format/checkpoint.ts";
import { checkShardCount, parseShardStreamName, shardOfKey, shardStreamName, toBytes } from "./routing.ts";
import { type Checkpoint, CheckpointLog, type CheckpointRecovery, HEAD_NAME, LOG_NAME, showId } from "./checkpoint_log.ts";
import { readWholeFile, removeIfExists, writeFileAtomic } from "./_atomic_file.ts";

/** File name of the shard meta file inside the root. */
export const META_NAME = "SHARDS";

/** Where an appended entry went. */
export interface ShardedAppendResult {
  /** The shard the key routed to. */
  shardId: number;
  /** The entry's id within that shard. */
  seqId: number;
}

/** What {@link ShardedWal.pruneBeforeCheckpoint} did. */
export interface PruneResult {
  /** Segment files deleted, over all shards. */
  segmentsDeleted: number;
  /** Shards that lost at least one segment file. */
  shardsPruned: number;
}

/** What {@link ShardedWal.compactCheckpoints} did. */
export interface CompactResult {
  /** Checkpoints (distinct ids) before. */
  checkpointsBefore: number;
  /** Checkpoints kept. */
  checkpointsAfter: number;
  /** Bytes the checkpoint log shrank by. */
  bytesReclaimed: number;
}

/** What {@link ShardedWal.open} found and repaired. */
export interface ShardedRecovery {
  /** The Wal's report over the shard streams. */
  wal: RecoveryInfo;
  /** The checkpoint log's and HEAD's report. */
  checkpoints: CheckpointRecovery;
  /** Repairs of the SHARDS meta file and oddities of the root, one line each. */
  repairs: string[];
  /** Things ignored, one line each. */
  warnings: string[];
}

/** Counters of a ShardedWal: the Wal's, and the shards' and checkpoints'. */
export interface ShardedWalStats extends WalStats {
  shardCount: number;
  /** The next id of each shard. */
  shardNextIds: number[];
  /** Checkpoints stored (distinct ids). */
  checkpoints: number;
  /** Records in checkpoints.log, superseded ones included. */
  checkpointRecords: number;
  /** Size of checkpoints.log in bytes. */
  checkpointLogBytes: number;
}

const OUR_FILES = new Set([META_NAME, HEAD_NAME, LOG_NAME, META_NAME + ".tmp", HEAD_NAME + ".tmp", LOG_NAME + ".tmp"]);

function checkpointId(id: unknown): Uint8Array {
  const b = toBytes(id, "checkpoint id");
  if (b.length < 1 || b.length > MAX_CHECKPOINT_ID) {
    throw new WalError("CONFIG", `checkpoint id must be 1 to ${MAX_CHECKPOINT_ID} bytes, got ${b.length}`);
  }
  return b.slice();
}

/**
 * A write-ahead log sharded by key, with checkpoints.
 *
 * @example
 * ```ts
 * import { ShardedWal } from "../../mod.ts";
 * import { MemoryFs } from "../../adapters/memory.ts";
 * const sw = await ShardedWal.open({ root: "/data", fs: new MemoryFs() }, 4);
 * const { shardId, seqId } = await sw.append("user_123", new TextEncoder().encode("profile"));
 * await sw.createCheckpoint("snap-1");
 * const cp = await sw.loadCheckpoint("snap-1");
 * console.log(shardId, seqId, cp.offsets[shardId]); // 2 0 1
 * await sw.close();
 * ```
 */
export class ShardedWal {
  /** The number of shards, fixed when the root was created. */
  readonly shardCount: number;
  /** What open found and repaired. */
  readonly recovery: ShardedRecovery;
  readonly #wal: Wal;
  readonly #log: CheckpointLog;
  readonly #names: string[];
  #chain: Promise<unknown> = Promise.resolve();
  #closed = false;

  private constructor(wal: Wal, log: CheckpointLog, shardCount: number, recovery: ShardedRecovery) {
    this.#wal = wal;
    this.#log = log;
    this.shardCount = shardCount;
    this.recovery = recovery;
    this.#names = Array.from({ length: shardCount }, (_, i) => shardStreamName(i));
  }

  /**
   * Opens (creating if needed) a sharded WAL of `shardCount` shards at
   * `options.root`. Every option of {@link Wal.open} applies to every shard.
   *
   * @param options the Wal options (root, fs, syncMode, ...)
   * @param shardCount 1 to 65536; must equal the count the root was created with
   * @throws {WalError} `SHARD_COUNT_MISMATCH` if the root was created with
   *   another shard count, `CORRUPTION` for damage of checkpoints.log that a
   *   crash cannot explain (with onCorruption "error"), and every error of
   *   {@link Wal.open}.
   */
  static async open(options: WalOptions, shardCount: number): Promise<ShardedWal> {
    checkShardCount(shardCount);
    const wal = await Wal.open(options);
    let log: CheckpointLog | undefined;
    try {
      const fs = wal.fs;
      const root = wal.options.root;
      const repairs: string[] = [];
      const warnings: string[] = [];
      const metaPath = joinPath(root, META_NAME);
      if (removeIfExists(fs, metaPath + ".tmp")) repairs.push(`removed ${META_NAME}.tmp left by an interrupted write`);
      const metaBytes = readWholeFile(fs, metaPath, META_SIZE + 1);
      const meta = metaBytes === undefined ? "missing" : decodeShardMeta(metaBytes);
      if (typeof meta !== "string" && meta.shardCount !== shardCount) {
        throw new WalError(
          "SHARD_COUNT_MISMATCH",
          `${root} was created with ${meta.shardCount} shards (${metaPath}), not ${shardCount}: keys would route to other shards. ` +
            `Open it with shardCount ${meta.shardCount}, or migrate the data into a new root`,
        );
      }
      const opened = CheckpointLog.open(fs, root, wal.options.onCorruption);
      log = opened.log;
      const shardDirs: number[] = [];
      for (const name of wal.streams()) {
        const i = parseShardStreamName(name);
        if (i < 0) warnings.push(`stream ${JSON.stringify(name)} in ${root} is not a shard; ignored`);
        else shardDirs.push(i);
      }
      const maxShard = shardDirs.length === 0 ? -1 : Math.max(...shardDirs);
      for (const c of opened.shardCounts) {
        if (c === shardCount) continue;
        if (typeof meta !== "string") {
          throw new WalError(
            "CORRUPTION",
            `${joinPath(root, LOG_NAME)} holds a valid checkpoint record of ${c} shards in a root of ${shardCount} shards: ` +
              `the file belongs to another ShardedWal; restore the right one from a backup`,
          );
        }
        throw new WalError(
          "SHARD_COUNT_MISMATCH",
          `${metaPath} is ${meta} and its checkpoints say the root has ${c} shards, not ${shardCount}: open it with shardCount ${c}`,
        );
      }
      if (maxShard >= shardCount) {
        if (typeof meta === "string") {
          throw new WalError(
            "SHARD_COUNT_MISMATCH",
            `${metaPath} is ${meta} and ${root} holds shard ${maxShard}, so it has more than ${shardCount} shards: open it with the count it was created with`,
          );
        }
        warnings.push(`${root} holds shard directories up to ${shardStreamName(maxShard)} beyond shard count ${shardCount}; ignored`);
      }
      if (typeof meta === "string") {
        writeFileAtomic(fs, root, META_NAME, encodeShardMeta(shardCount));
        if (metaBytes !== undefined || shardDirs.length > 0 || opened.shardCounts.size > 0) {
          repairs.push(`rewrote ${metaPath} (${meta}) with shard count ${shardCount}, which the shards and checkpoints agree with`);
        }
      }
      const walRecovery: RecoveryInfo = {
        ...wal.recovery,
        warnings: wal.recovery.warnings.filter((w) => ![...OUR_FILES].some((f) => w.startsWith(`ignored ${JSON.stringify(f)} in `))),
      };
      return new ShardedWal(wal, log, shardCount, { wal: walRecovery, checkpoints: opened.recovery, repairs, warnings });
    } catch (e) {
      try {
        log?.close();
      } catch {
        // Already failing.
      }
      try {
        await wal.close();
      } catch {
        // Already failing.
      }
      throw e;
    }
  }

  // ------------------------------------------------------------------ writes

  /**
   * The shard `key` routes to: xxHash32 (seed 0) of its bytes (UTF-8 for a
   * string) modulo {@link shardCount} (FORMAT.md §7).
   * @throws {WalError} `CONFIG` if `key` is neither a string nor a Uint8Array
   */
  shardFor(key: Uint8Array | string): number {
    return shardOfKey(key, this.shardCount);
  }

  /**
   * Appends `value` to the shard of `key` (the key routes; only the value is
   * stored). Resolves as {@link Wal.append} does for the sync mode.
   */
  append(key: Uint8Array | string, value: Uint8Array): Promise<ShardedAppendResult> {
    try {
      this.#checkOpen();
      const shardId = this.shardFor(key);
      return this.#wal.append(this.#names[shardId], value).then((seqId) => ({ shardId, seqId }));
    } catch (e) {
      return Promise.reject(e);
    }
  }

  /**
   * Appends `[key, value]` pairs, grouped by shard: each shard's part is one
   * atomic batch (one frame); the whole is not atomic across shards. Resolves
   * with one result per pair, in input order, once every shard's part is
   * settled; rejects with the first error if any part failed (the other
   * parts may be stored).
   */
  async appendBatch(pairs: Array<[Uint8Array | string, Uint8Array]>): Promise<ShardedAppendResult[]> {
    this.#checkOpen();
    if (!Array.isArray(pairs)) throw new WalError("CONFIG", "appendBatch: pairs must be an array of [key, value]");
    const groups = new Map<number, { values: Uint8Array[]; index: number[] }>();
    for (let i = 0; i < pairs.length; i++) {
      const p = pairs[i];
      if (!Array.isArray(p) || p.length !== 2) throw new WalError("CONFIG", `appendBatch: pairs[${i}] must be a [key, value] pair`);
      const shardId = this.shardFor(p[0]);
      if (!(p[1] instanceof Uint8Array)) throw new WalError("CONFIG", `appendBatch: pairs[${i}] value must be a Uint8Array`);
      let g = groups.get(shardId);
      if (g === undefined) groups.set(shardId, g = { values: [], index: [] });
      g.values.push(p[1]);
      g.index.push(i);
    }
    const results = new Array<ShardedAppendResult>(pairs.length);
    const parts: Promise<void>[] = [];
    for (const [shardId, g] of groups) {
      parts.push(this.#wal.appendBatch(this.#names[shardId], g.values).then((r) => {
        for (let j = 0; j < g.index.length; j++) results[g.index[j]] = { shardId, seqId: r.start + j };
      }));
    }
    const settled = await Promise.allSettled(parts);
    for (const s of settled) if (s.status === "rejected") throw s.reason;
    return results;
  }

  /** Makes every entry appended so far durable, whatever the sync mode. */
  sync(): Promise<void> {
    return this.#wal.sync();
  }

  // ------------------------------------------------------------------- reads

  /**
   * Entries of shard `shardId` from `offset` on, in id order (for replay
   * from a checkpoint: `iterShard(i, cp.offsets[i])`), with the options of
   * `Wal.iter`.
   * @throws {WalError} `CONFIG` for a shard id out of range
   */
  iterShard(shardId: number, offset = 0, options: IterOptions = {}): AsyncIterableIterator<WalEntry> {
    this.#checkOpen();
    return this.#wal.iter(this.#names[this.#checkShard(shardId)], offset, options);
  }

  /** The id the next append to shard `shardId` will get. */
  nextId(shardId: number): number {
    return this.#wal.nextId(this.#names[this.#checkShard(shardId)]);
  }

  // ------------------------------------------------------------- checkpoints

  /**
   * Takes a consistent cut over every shard and stores it as checkpoint
   * `id`: every append resolved before this call lies below the offsets
   * and is fsynced before the checkpoint record is; no shard's batch is
   * split. Appends racing the call may or may not be included. Reusing an
   * id makes the new checkpoint win. Serialised with the other checkpoint
   * operations.
   *
   * @param id 1 to 65535 bytes; a string is stored as UTF-8
   * @returns the checkpoint written
   * @throws {WalError} `CONFIG` for a bad id, `IO`, `CLOSED`
   */
  createCheckpoint(id: string | Uint8Array): Promise<Checkpoint> {
    return this.#exclusiveWithId(id, async (idb) => {
      // sync() drains every pending frame and fsyncs; syncedId is then at least the
      // nextId every shard had when it was called, and always a frame boundary.
      await this.#wal.sync();
      const offsets = this.#names.map((n) => this.#wal.syncedId(n));
      const timestamp = Date.now();
      this.#log.append(idb, timestamp, offsets);
      return { id: idb, timestamp, shardCount: this.shardCount, offsets };
    });
  }

  /**
   * The checkpoint `id` (the newest one of that id).
   * @throws {WalError} `CHECKPOINT_NOT_FOUND`, `CHECKPOINT_CORRUPTED` if its record is damaged, `CONFIG` for a bad id
   */
  loadCheckpoint(id: string | Uint8Array): Promise<Checkpoint> {
    try {
      this.#checkOpen();
      const idb = checkpointId(id);
      const cp = this.#log.load(idb);
      if (cp === undefined) {
        throw new WalError(
          "CHECKPOINT_NOT_FOUND",
          `no checkpoint ${showId(idb)} in ${this.#where()} (${this.#log.count} stored); listCheckpoints() shows them`,
        );
      }
      return Promise.resolve(cp);
    } catch (e) {
      return Promise.reject(e);
    }
  }

  /**
   * The newest checkpoint, through HEAD (falling back to the newest valid
   * record when HEAD is missing or damaged).
   * @throws {WalError} `NO_CHECKPOINTS`, `CHECKPOINT_CORRUPTED`
   */
  loadLatestCheckpoint(): Promise<{ id: Uint8Array; checkpoint: Checkpoint }> {
    try {
      this.#checkOpen();
      const cp = this.#log.latest();
      if (cp === undefined) throw new WalError("NO_CHECKPOINTS", `${this.#where()} holds no checkpoint yet; create one with createCheckpoint(id)`);
      return Promise.resolve({ id: cp.id, checkpoint: cp });
    } catch (e) {
      return Promise.reject(e);
    }
  }

  /** Every checkpoint (the newest of each id), oldest first. */
  listCheckpoints(): Promise<Checkpoint[]> {
    try {
      this.#checkOpen();
      return Promise.resolve(this.#log.list());
    } catch (e) {
      return Promise.reject(e);
    }
  }

  /**
   * Deletes, in every shard, the whole segment files whose entries all lie
   * below checkpoint `id`'s offset for that shard. Active segments are never
   * deleted, and nothing at or above an offset is.
   * @throws {WalError} `CHECKPOINT_NOT_FOUND`, `CHECKPOINT_CORRUPTED`
   */
  pruneBeforeCheckpoint(id: string | Uint8Array): Promise<PruneResult> {
    return this.#exclusiveWithId(id, async (idb) => {
      const cp = this.#log.load(idb);
      if (cp === undefined) throw new WalError("CHECKPOINT_NOT_FOUND", `no checkpoint ${showId(idb)} in ${this.#where()} to prune before`);
      const present = new Set(this.#wal.streams());
      let segmentsDeleted = 0;
      let shardsPruned = 0;
      for (let i = 0; i < this.shardCount; i++) {
        if (!present.has(this.#names[i])) continue;
        const n = await this.#wal.truncate(this.#names[i], cp.offsets[i]);
        segmentsDeleted += n;
        if (n > 0) shardsPruned++;
      }
      return { segmentsDeleted, shardsPruned };
    });
  }

  /**
   * Rewrites checkpoints.log keeping the newest `keep` checkpoints (and no
   * superseded record), crash-safely: temp file, fsync, rename, directory
   * fsync, then HEAD. Serialised with {@link createCheckpoint}.
   * @throws {WalError} `CONFIG` if keep is not an integer >= 1
   */
  compactCheckpoints(keep: number): Promise<CompactResult> {
    try {
      this.#checkOpen();
      if (typeof keep !== "number" || !Number.isInteger(keep) || keep < 1) {
        throw new WalError("CONFIG", `compactCheckpoints: keep must be an integer >= 1, got ${String(keep)}`);
      }
    } catch (e) {
      return Promise.reject(e);
    }
    return this.#exclusive(() => this.#log.compact(keep));
  }

  // ------------------------------------------------------------------ misc

  /** Counters: the Wal's, plus shards and checkpoints. */
  stats(): ShardedWalStats {
    return {
      ...this.#wal.stats(),
      shardCount: this.shardCount,
      shardNextIds: this.#names.map((n) => this.#wal.nextId(n)),
      checkpoints: this.#log.count,
      checkpointRecords: this.#log.records,
      checkpointLogBytes: this.#log.size,
    };
  }

  /** The file system adapter in use. */
  get fs(): WalFs {
    return this.#wal.fs;
  }

  /**
   * Waits for running checkpoint operations, then writes and fsyncs
   * everything pending, closes every file and releases the root. Idempotent.
   */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#chain.catch(() => {});
    let err: unknown;
    try {
      this.#log.close();
    } catch (e) {
      err = e;
    }
    await this.#wal.close();
    if (err !== undefined) throw err;
  }

  /** Checks the instance is open and `id` valid (rejecting at once if not), then runs `fn` exclusively. */
  #exclusiveWithId<T>(id: string | Uint8Array, fn: (idb: Uint8Array) => Promise<T>): Promise<T> {
    let idb: Uint8Array;
    try {
      this.#checkOpen();
      idb = checkpointId(id);
    } catch (e) {
      return Promise.reject(e);
    }
    return this.#exclusive(() => fn(idb));
  }

  #exclusive<T>(fn: () => T | Promise<T>): Promise<T> {
    const run = this.#chain.then(fn);
    this.#chain = run.catch(() => {});
    return run;
  }

  #checkOpen(): void {
    if (this.#closed) throw new WalError("CLOSED", `the ShardedWal at ${this.#where()} is closed; open it again`);
  }

  #checkShard(shardId: number): number {
    if (typeof shardId !== "number" || !Number.isInteger(shardId) || shardId < 0 || shardId >= this.shardCount) {
      throw new WalError("CONFIG", `shard id must be an integer from 0 to ${this.shardCount - 1}, got ${String(shardId)}`);
    }
    return shardId;
  }

  #where(): string {
    return this.#wal.options.root;
  }
}
