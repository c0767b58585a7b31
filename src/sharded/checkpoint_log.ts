/**
 * `checkpoints.log` and `HEAD` of a ShardedWal root (FORMAT.md §8.2-§8.3).
 *
 * The log is append-only: one CRC-protected record per checkpoint, fsynced
 * before the checkpoint is reported created. `HEAD` names the newest record
 * (offset, length, CRC) and is replaced atomically after each append. The
 * log is small, so open reads it whole once and keeps an id → location map:
 * every load is one positional read of one record.
 *
 * @module
 */

import { ioError, WalError } from "../errors.ts";
import { joinPath, type WalFile, type WalFs } from "../io.ts";
import type { OnCorruption } from "../options.ts";
import {
  type CheckpointRecord,
  decodeCheckpointRecord,
  decodeHead,
  encodeCheckpointRecord,
  encodeHead,
  HEAD_SIZE,
  type HeadPointer,
  RECORD_MIN,
  recordLength,
} from "../format/checkpoint.ts";
import { getU32 } from "../format/bytes.ts";
import { readWholeFile, removeIfExists, writeFileAtomic } from "./_atomic_file.ts";

/** File name of the checkpoint log inside the root. */
export const LOG_NAME = "checkpoints.log";
/** File name of the HEAD pointer inside the root. */
export const HEAD_NAME = "HEAD";

/**
 * A checkpoint: a consistent cut over every shard.
 *
 * `offsets[i]` is the next id of shard `i` at the cut: every entry of
 * shard `i` below it was durable when the checkpoint was written, and the
 * cut never splits one shard's batch.
 */
export interface Checkpoint {
  /** The id, as bytes (a string id is stored as its UTF-8 bytes). */
  id: Uint8Array;
  /** When it was created, in milliseconds since the epoch. */
  timestamp: number;
  /** The shard count of the ShardedWal that created it. */
  shardCount: number;
  /** Next id of each shard at the cut. */
  offsets: number[];
}

/** What opening the checkpoint log found and repaired. */
export interface CheckpointRecovery {
  /** Valid records found in the log (superseded ones included). */
  records: number;
  /** Bytes cut off the log: a torn tail, or damage salvaged with onCorruption "truncate". */
  bytesTruncated: number;
  /** True if damage a crash cannot explain was found. */
  corruptionDetected: boolean;
  /** True if HEAD was missing, damaged or stale and was rewritten (or removed). */
  headRepaired: boolean;
  /** What was repaired, one line each. */
  repairs: string[];
}

interface Loc {
  offset: number;
  length: number;
  crc: number;
}

interface Scanned {
  offset: number;
  rec: CheckpointRecord;
}

/** Map key of an id: its bytes as a binary string. */
function idKey(id: Uint8Array): string {
  let s = "";
  for (let i = 0; i < id.length; i += 8192) {
    s += String.fromCharCode.apply(null, id.subarray(i, i + 8192) as unknown as number[]);
  }
  return s;
}

/** A printable form of an id for messages. */
export function showId(id: Uint8Array): string {
  try {
    const s = new TextDecoder("utf-8", { fatal: true }).decode(id.subarray(0, 64));
    return JSON.stringify(s) + (id.length > 64 ? "..." : "");
  } catch {
    let h = "";
    for (let i = 0; i < Math.min(id.length, 32); i++) h += id[i].toString(16).padStart(2, "0");
    return `0x${h}${id.length > 32 ? "..." : ""}`;
  }
}

/** The log and HEAD of one root. Not safe for concurrent mutation: the caller serialises. */
export class CheckpointLog {
  readonly #fs: WalFs;
  readonly #root: string;
  readonly #logPath: string;
  readonly #headPath: string;
  #file: WalFile | undefined;
  #size = 0;
  /** Newest record of each id, in the order of those records in the log. */
  readonly #byId = new Map<string, Loc>();
  /** Records in the log, superseded ones included. */
  #records = 0;
  #failure: WalError | undefined;

  private constructor(fs: WalFs, root: string) {
    this.#fs = fs;
    this.#root = root;
    this.#logPath = joinPath(root, LOG_NAME);
    this.#headPath = joinPath(root, HEAD_NAME);
  }

  /**
   * Opens the log of `root`: scans it once, cuts a torn tail, handles damage
   * per `onCorruption`, and makes HEAD name the newest record.
   * Returns the log and every valid record (for the caller's shard count checks).
   */
  static open(fs: WalFs, root: string, onCorruption: OnCorruption): {
    log: CheckpointLog;
    recovery: CheckpointRecovery;
    shardCounts: Set<number>;
  } {
    const log = new CheckpointLog(fs, root);
    const recovery: CheckpointRecovery = { records: 0, bytesTruncated: 0, corruptionDetected: false, headRepaired: false, repairs: [] };
    for (const leftover of [LOG_NAME + ".tmp", HEAD_NAME + ".tmp"]) {
      if (removeIfExists(fs, joinPath(root, leftover))) {
        recovery.repairs.push(`removed ${leftover} left by an interrupted write`);
      }
    }
    const st = fs.stat(log.#logPath);
    let scanned: Scanned[] = [];
    if (st !== undefined) {
      if (!st.isFile) {
        throw new WalError("CORRUPTION", `${log.#logPath} is not a file; move it away to open this ShardedWal`);
      }
      const file = fs.open(log.#logPath, "write");
      log.#file = file;
      const size = file.size();
      const bytes = new Uint8Array(size);
      const got = file.read(bytes, 0);
      scanned = log.#scan(bytes.subarray(0, got), onCorruption, recovery);
      if (recovery.corruptionDetected) {
        // Salvage (onCorruption "truncate"): rewrite the log with the valid records only.
        log.#rewrite(scanned.map((s) => bytes.subarray(s.offset, s.offset + recordLen(s))));
        recovery.bytesTruncated += got - log.#size;
        scanned = log.#reload();
      } else {
        const end = scanned.length === 0 ? 0 : scanned[scanned.length - 1].offset + recordLen(scanned[scanned.length - 1]);
        if (end < size) {
          file.truncate(end);
          file.datasync();
          recovery.bytesTruncated += size - end;
        }
        log.#size = end;
      }
    }
    const shardCounts = new Set<number>();
    for (const s of scanned) {
      shardCounts.add(s.rec.shardCount);
      log.#remember(s.rec.id, { offset: s.offset, length: recordLen(s), crc: s.rec.crc });
    }
    log.#records = scanned.length;
    recovery.records = scanned.length;
    log.#checkHead(recovery);
    if (recovery.repairs.length > 0) fs.syncDir(root);
    return { log, recovery, shardCounts };
  }

  /** Parses every record; cuts a torn tail (reported); damage per `onCorruption`. */
  #scan(bytes: Uint8Array, onCorruption: OnCorruption, rec: CheckpointRecovery): Scanned[] {
    const out: Scanned[] = [];
    let pos = 0;
    while (pos < bytes.length) {
      const r = decodeCheckpointRecord(bytes, pos);
      if (typeof r !== "string") {
        out.push({ offset: pos, rec: r });
        pos += recordLen({ offset: pos, rec: r });
        continue;
      }
      const next = nextValidRecord(bytes, pos + 1);
      if (next < 0) {
        // A torn tail: a crash loses only bytes after the last fsync, and every record was fsynced before the next one.
        rec.repairs.push(`${this.#logPath}: cut a torn tail of ${bytes.length - pos} bytes at offset ${pos} (${r})`);
        break;
      }
      rec.corruptionDetected = true;
      const what = `${this.#logPath}: ${r} at offset ${pos}, but a valid record follows at offset ${next}, ` +
        `so this is damage, not a torn write`;
      if (onCorruption === "error") {
        throw new WalError(
          "CORRUPTION",
          `${what}. Open with onCorruption: "truncate" to drop the damaged bytes and keep every valid checkpoint ` +
            `(the loss is reported in recovery), or restore the file from a backup.`,
        );
      }
      rec.repairs.push(`${what}: dropped ${next - pos} bytes (onCorruption "truncate")`);
      pos = next;
    }
    return out;
  }

  /** Re-reads the (just rewritten) log; every record in it is valid. */
  #reload(): Scanned[] {
    const bytes = new Uint8Array(this.#size);
    this.#file!.read(bytes, 0);
    const out: Scanned[] = [];
    let pos = 0;
    while (pos < bytes.length) {
      const r = decodeCheckpointRecord(bytes, pos);
      if (typeof r === "string") throw new WalError("CORRUPTION", `${this.#logPath}: ${r} at offset ${pos} right after rewriting it`);
      out.push({ offset: pos, rec: r });
      pos += recordLen({ offset: pos, rec: r });
    }
    return out;
  }

  /** Makes HEAD name the newest record (or removes it when there is none). */
  #checkHead(rec: CheckpointRecovery): void {
    const newest = this.#newest();
    const b = readWholeFile(this.#fs, this.#headPath, HEAD_SIZE + 1);
    const h = b === undefined ? "missing" : decodeHead(b);
    if (newest === undefined) {
      if (b !== undefined) {
        this.#fs.remove(this.#headPath);
        rec.headRepaired = true;
        rec.repairs.push(`removed ${this.#headPath}: there is no checkpoint for it to name`);
      }
      return;
    }
    if (typeof h === "string" || h.offset !== newest.offset || h.length !== newest.length || h.crc !== newest.crc) {
      const why = typeof h === "string" ? h : `it names offset ${h.offset}, the newest record is at ${newest.offset}`;
      this.#writeHead(newest);
      rec.headRepaired = true;
      rec.repairs.push(`rewrote ${this.#headPath} (${why})`);
    }
  }

  #remember(id: Uint8Array, loc: Loc): void {
    const k = idKey(id);
    this.#byId.delete(k);
    this.#byId.set(k, loc);
  }

  #newest(): Loc | undefined {
    let last: Loc | undefined;
    for (const v of this.#byId.values()) last = v;
    return last;
  }

  #writeHead(loc: HeadPointer): void {
    writeFileAtomic(this.#fs, this.#root, HEAD_NAME, encodeHead(loc));
  }

  /** Replaces the log with `records` (temp file, fsync, rename, directory fsync) and reopens it. */
  #rewrite(records: Uint8Array[]): void {
    const fs = this.#fs;
    const tmp = this.#logPath + ".tmp";
    let total = 0;
    for (const r of records) total += r.length;
    const all = new Uint8Array(total);
    let p = 0;
    for (const r of records) {
      all.set(r, p);
      p += r.length;
    }
    removeIfExists(fs, tmp);
    const f = fs.open(tmp, "create");
    try {
      f.write(all, 0);
      f.sync();
    } catch (e) {
      f.close();
      try {
        fs.remove(tmp);
      } catch {
        // Removed at the next open.
      }
      throw e;
    }
    f.close();
    fs.rename(tmp, this.#logPath);
    try {
      fs.syncDir(this.#root);
    } catch (e) {
      // The rename may not be durable: appending to the new file could be lost with it.
      this.#failure = ioError(`fsync of ${this.#root} after replacing ${this.#logPath} failed`, e);
      throw this.#failure;
    } finally {
      try {
        this.#file?.close();
      } catch {
        // The old file is gone from the namespace anyway.
      }
      this.#file = undefined;
    }
    this.#file = fs.open(this.#logPath, "write");
    this.#size = total;
  }

  // ------------------------------------------------------------------- API

  /** Checkpoints stored (distinct ids). */
  get count(): number {
    return this.#byId.size;
  }

  /** Records in the log, superseded ones included. */
  get records(): number {
    return this.#records;
  }

  /** Bytes of the log. */
  get size(): number {
    return this.#size;
  }

  /**
   * Appends a record and fsyncs it, then points HEAD at it. A failed fsync
   * is sticky: no later append is attempted.
   */
  append(id: Uint8Array, timestamp: number, offsets: number[]): void {
    if (this.#failure !== undefined) {
      throw new WalError("IO", `${this.#logPath} refuses writes after a failed fsync (${this.#failure.message}); close and reopen`, {
        cause: this.#failure,
      });
    }
    const fs = this.#fs;
    const rec = encodeCheckpointRecord(id, timestamp, offsets);
    if (this.#file === undefined) {
      try {
        this.#file = fs.open(this.#logPath, "create");
        fs.syncDir(this.#root);
      } catch (e) {
        throw ioError(`cannot create ${this.#logPath}`, e);
      }
    }
    const file = this.#file;
    const at = this.#size;
    try {
      file.write(rec, at);
    } catch (e) {
      try {
        file.truncate(at);
      } catch {
        // The torn tail is cut at the next open.
      }
      throw ioError(`write of checkpoint ${showId(id)} to ${this.#logPath} at offset ${at} failed; the checkpoint was not created`, e);
    }
    try {
      file.datasync();
    } catch (e) {
      this.#failure = ioError(`fsync of ${this.#logPath} failed`, e);
      throw this.#failure;
    }
    this.#size = at + rec.length;
    this.#records++;
    const loc: Loc = { offset: at, length: rec.length, crc: getU32(rec, rec.length - 4) };
    this.#remember(id, loc);
    try {
      this.#writeHead(loc);
    } catch (e) {
      throw ioError(
        `checkpoint ${showId(id)} is durable in ${this.#logPath}, but updating ${this.#headPath} failed ` +
          `(the next open repairs it)`,
        e,
      );
    }
  }

  /** Reads and checks the record at `loc`. */
  #read(loc: Loc, what: string): Checkpoint {
    const file = this.#file;
    if (file === undefined) throw new WalError("CHECKPOINT_CORRUPTED", `${what}: ${this.#logPath} is missing`);
    const b = new Uint8Array(loc.length);
    let got: number;
    try {
      got = file.read(b, loc.offset);
    } catch (e) {
      throw ioError(`read of ${what} from ${this.#logPath} at offset ${loc.offset} failed`, e);
    }
    const r = got < loc.length ? `only ${got} of ${loc.length} bytes left` : decodeCheckpointRecord(b, 0);
    if (typeof r === "string" || r.crc !== loc.crc) {
      throw new WalError(
        "CHECKPOINT_CORRUPTED",
        `${what} in ${this.#logPath} at offset ${loc.offset} (${loc.length} bytes) is damaged: ` +
          `${typeof r === "string" ? r : "it is not the record written there"}; restore the file from a backup or use another checkpoint`,
      );
    }
    return { id: r.id, timestamp: r.timestamp, shardCount: r.shardCount, offsets: r.offsets };
  }

  /** The checkpoint `id`, or undefined. */
  load(id: Uint8Array): Checkpoint | undefined {
    const loc = this.#byId.get(idKey(id));
    return loc === undefined ? undefined : this.#read(loc, `checkpoint ${showId(id)}`);
  }

  /**
   * The newest checkpoint, found through HEAD; falls back to the newest
   * record of the open-time scan when HEAD is missing, damaged or names
   * anything else. Undefined if there is none.
   */
  latest(): Checkpoint | undefined {
    const newest = this.#newest();
    if (newest === undefined) return undefined;
    let head: HeadPointer | string = "missing";
    try {
      const b = readWholeFile(this.#fs, this.#headPath, HEAD_SIZE + 1);
      if (b !== undefined) head = decodeHead(b);
    } catch {
      head = "unreadable";
    }
    if (typeof head !== "string" && head.offset === newest.offset && head.length === newest.length && head.crc === newest.crc) {
      return this.#read(head, "the checkpoint HEAD names");
    }
    return this.#read(newest, "the newest checkpoint");
  }

  /** Every checkpoint (newest record per id), oldest first. */
  list(): Checkpoint[] {
    const out: Checkpoint[] = [];
    for (const loc of this.#byId.values()) out.push(this.#read(loc, `checkpoint at offset ${loc.offset}`));
    return out;
  }

  /**
   * Rewrites the log with the newest `keep` checkpoints (superseded records
   * dropped too), crash-safely, and points HEAD into the new log.
   */
  compact(keep: number): { checkpointsBefore: number; checkpointsAfter: number; bytesReclaimed: number } {
    const before = this.#byId.size;
    if (this.#records === before && before <= keep) return { checkpointsBefore: before, checkpointsAfter: before, bytesReclaimed: 0 };
    if (this.#failure !== undefined) {
      throw new WalError("IO", `${this.#logPath} refuses writes after a failed fsync (${this.#failure.message}); close and reopen`, {
        cause: this.#failure,
      });
    }
    const entries = [...this.#byId.entries()].slice(-keep);
    const blobs: Uint8Array[] = [];
    for (const [, loc] of entries) {
      this.#read(loc, `checkpoint at offset ${loc.offset}`); // damage aborts before anything changes
      const b = new Uint8Array(loc.length);
      this.#file!.read(b, loc.offset);
      blobs.push(b);
    }
    const oldSize = this.#size;
    this.#rewrite(blobs);
    this.#byId.clear();
    let pos = 0;
    for (let i = 0; i < entries.length; i++) {
      const [k, loc] = entries[i];
      this.#byId.set(k, { offset: pos, length: loc.length, crc: loc.crc });
      pos += loc.length;
    }
    this.#records = entries.length;
    const newest = this.#newest();
    if (newest !== undefined) {
      try {
        this.#writeHead(newest);
      } catch (e) {
        throw ioError(`${this.#logPath} was compacted, but updating ${this.#headPath} failed (the next open repairs it)`, e);
      }
    }
    return { checkpointsBefore: before, checkpointsAfter: entries.length, bytesReclaimed: oldSize - this.#size };
  }

  /** Closes the log file. Idempotent. */
  close(): void {
    const f = this.#file;
    this.#file = undefined;
    f?.close();
  }
}

function recordLen(s: Scanned): number {
  return recordLength(s.rec.id.length, s.rec.shardCount);
}

/** The offset of the first valid record at or after `from`, or -1. */
function nextValidRecord(b: Uint8Array, from: number): number {
  for (let q = from; q + RECORD_MIN <= b.length; q++) {
    if (b[q] !== 0x49 || b[q + 1] !== 0x57 || b[q + 2] !== 0x43 || b[q + 3] !== 0x50) continue;
    if (typeof decodeCheckpointRecord(b, q) !== "string") return q;
  }
  return -1;
}
