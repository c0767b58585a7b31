/**
 * One stream: its segment files, the active segment's in-memory index,
 * recovery of its tail, the write of pending frames, and reads.
 *
 * Only this module (with `src/format/`) knows where frames live on disk.
 *
 * @module
 */

import { ioError, WalError } from "../errors.ts";
import { errorCode, joinPath, type WalFile, type WalFs } from "../io.ts";
import type { ResolvedOptions, WalEvent } from "../options.ts";
import {
  entryRange,
  FRAME_HEADER,
  FrameHeader,
  MAX_FRAME_ENTRIES,
  MAX_FRAME_PAYLOAD,
  parseFrameHeader,
  frameCrcOk,
  sealFrame,
  writeFrameHeader,
  CODEC_NONE,
} from "../format/frame.ts";
import {
  decodeIndex,
  decodeSegmentHeader,
  encodeIndex,
  encodeSegmentHeader,
  indexName,
  parseSegmentName,
  SEGMENT_HEADER,
  segmentName,
  type SegmentIndex,
} from "../format/segment.ts";
import { ACTIVE_HINT_NAME, ACTIVE_HINT_SIZE, type ActiveHint, encodeActiveHint, readActiveHint } from "../format/active_hint.ts";
import { putU32 } from "../format/bytes.ts";
import { type ChunkPolicy, FrameCursor, landing, WAIT } from "./cursor.ts";
import type { HandleCache } from "./handles.ts";
import { compressPayload, decodePayload } from "./payload.ts";
import type { Lru } from "./lru.ts";

/** Shared state every stream of one Wal uses. */
export interface StreamContext {
  fs: WalFs;
  opts: ResolvedOptions;
  handles: HandleCache;
  /** Indexes of sealed segments, by segment path. Bounded by count. */
  indexes: Lru<SegmentIndex>;
  /** Decoded frame payloads, by "path@offset". Bounded by bytes; undefined when off. */
  blocks: Lru<{ raw: Uint8Array; count: number }> | undefined;
  /** Whole-file views of sealed segments (readStrategy "mmap"), by path. */
  views: Lru<SegmentView> | undefined;
  emit: (e: WalEvent) => void;
  /** Reports an ignored file or other oddity (wal.recovery.warnings and a `warning` event). */
  warn: (message: string) => void;
  /** Records a failed fsync (sticky for the whole Wal) and returns the error to throw. */
  syncFailed: (path: string, cause: unknown) => WalError;
  counters: { bytesWritten: number; entriesRead: number; segmentsCreated: number; cacheHits: number; cacheMisses: number };
}

/** A segment file of a stream. */
export interface Segment {
  firstId: number;
  name: string;
  path: string;
  /** Set when the file is deleted (truncation): a running iterator leaves it at its next entry. */
  gone?: boolean;
  /** Prefix of this segment's block-cache keys (short and unique in the process), set on first use. */
  tag?: string;
}

/**
 * A whole-file view of a sealed segment: a mapping, or (where the runtime
 * has no mmap) a private copy. A copy is memory nothing else can change, so
 * each of its frames has its CRC checked once, the first time it is read
 * (`checked[k]` set for frame k); a mapping is checked on every read, as it
 * shows the file as it is now.
 */
export interface SegmentView {
  bytes: Uint8Array;
  checked: Uint8Array | undefined;
}

/** Numbers the segments' block-cache tags. */
let nextTag = 0;

/** What recovery did to one stream. */
export interface StreamRecovery {
  validRecords: number;
  segmentsScanned: number;
  bytesTruncated: number;
  corruptionDetected: boolean;
  repairs: string[];
  warnings: string[];
}

/** A growable pair of typed arrays: the frame index of the active segment. */
class FrameIndex {
  relIds = new Uint32Array(64);
  offsets = new Float64Array(64);
  frames = 0;
  push(relId: number, offset: number): void {
    if (this.frames === this.relIds.length) {
      const r = new Uint32Array(this.frames * 2);
      r.set(this.relIds);
      this.relIds = r;
      const o = new Float64Array(this.frames * 2);
      o.set(this.offsets);
      this.offsets = o;
    }
    this.relIds[this.frames] = relId;
    this.offsets[this.frames] = offset;
    this.frames++;
  }
  bytes(): number {
    return this.relIds.byteLength + this.offsets.byteLength;
  }
}

/** What a scan of a segment's header and frames found; see `Stream.#scanFrames`. */
interface TailScan {
  /** The header's first id, or why the header is invalid. */
  head: number | string;
  /** File size when scanned. */
  size: number;
  /** Offset after the last valid frame. */
  pos: number;
  /** Entries in the valid frames. */
  entries: number;
  index: FrameIndex;
  /** "end" if the valid frames fill the file, else why the bytes at `pos` are not a frame. */
  why: string;
}

interface Active {
  seg: Segment;
  /** Bytes written (header + frames). */
  size: number;
  /** Bytes known durable. */
  synced: number;
  entries: number;
  index: FrameIndex;
}

/** Index of the last element of sorted `a[0..n)` that is <= `x`, or -1. */
function floorIndex(a: ArrayLike<number>, n: number, x: number): number {
  let lo = 0;
  let hi = n - 1;
  let ans = -1;
  while (lo <= hi) {
    const mid = (lo + hi) >>> 1;
    if (a[mid] <= x) {
      ans = mid;
      lo = mid + 1;
    } else {
      hi = mid - 1;
    }
  }
  return ans;
}

const HEADER = FRAME_HEADER;

/** The outcome of {@link Stream.writePending}. */
export interface WriteResult {
  /** Frames written to the OS. */
  written: number;
  /** Why the frames after `written` were not, if any were not. */
  error: WalError | undefined;
  /** Bytes written (frame headers included). */
  bytes: number;
  /** Entries of the written frames whose appends resolved: counted by the Wal for its meter. */
  entries: number;
}

/** One stream of a Wal. */
export class Stream {
  readonly key: string;
  readonly dir: string;
  readonly #ctx: StreamContext;
  /**
   * Segments, oldest first; the last one is the active one. After an open
   * through the ACTIVE hint this is only a suffix of them (the segments the
   * hint led to) until something needs an older one: see {@link #list}.
   */
  segs: Segment[] = [];
  /** True when `segs` holds every segment of the directory. */
  #listed = true;
  /** First id the ACTIVE hint file names, as far as this process knows; -1 unknown. */
  #hintAt = -1;
  /** The deferred flag of the hint that `#hintAt` describes. */
  #hintDeferred = false;
  /** True if the ACTIVE hint's content and name are known durable (fsynced, directory too). */
  #hintSynced = false;
  /**
   * Sealed segments not yet fdatasynced, oldest first ("async" and
   * "interval" modes defer the seal's fsync). While this is not empty the
   * durable hint names a segment no newer than the first of them, with the
   * deferred flag (see {@link #seal}).
   */
  #unsynced: { seg: Segment; syncedId: number }[] = [];
  #active: Active | undefined;
  /** Next id to hand out (counts pending frames). */
  nextId = 0;
  /** Ids below this are written to the OS and readable. */
  writtenId = 0;
  /** Whether the directory exists on disk. */
  #dirMade = false;

  // Pending frames, encoded back to back in one buffer.
  #pend = new Uint8Array(4096);
  #pendLen = 0;
  /** Per frame: offset in #pend, total length, first id, entry count. */
  #pendMeta: number[] = [];
  /** What the last {@link writePending} did: one object per stream, filled again by each drain. */
  readonly lastWrite: WriteResult = { written: 0, error: undefined, bytes: 0, entries: 0 };
  /** Header scratch of get (reads are synchronous, so one per stream does). */
  readonly #getHeader = new FrameHeader();

  constructor(ctx: StreamContext, key: string, dir: string) {
    this.#ctx = ctx;
    this.key = key;
    this.dir = dir;
  }

  /** Bytes encoded and waiting for the next write. */
  get pendingBytes(): number {
    return this.#pendLen;
  }

  /** Frames encoded and waiting for the next write. */
  get pendingFrames(): number {
    return this.#pendMeta.length >> 2;
  }

  /** True if written bytes are not yet durable (of the active segment or of a sealed one). */
  get dirty(): boolean {
    const a = this.#active;
    return this.#unsynced.length > 0 || (a !== undefined && a.size > a.synced);
  }

  /** True if {@link sync} has something to do: unsynced bytes, or a deferred hint to move forward. */
  get needsSync(): boolean {
    return this.#hintDeferred || this.dirty;
  }


  /** First id still stored (after truncation), or nextId when empty. */
  firstId(): number {
    if (!this.#listed) this.#list();
    return this.segs.length > 0 ? this.segs[0].firstId : this.writtenId;
  }

  /** Bytes of memory held by this stream's indexes and buffers. */
  memoryBytes(): number {
    return this.#pend.byteLength + (this.#active?.index.bytes() ?? 0);
  }

  // ---------------------------------------------------------------- recovery

  /**
   * Opens the stream from disk and scans only the active (last) segment,
   * cutting a torn tail. Sealed segments are trusted to be whole (they were
   * fsynced before the next one was created) and are checked by CRC when
   * read. The active segment is found through the ACTIVE hint without
   * listing the directory when it can be (see {@link #recoverFromHint});
   * otherwise, and whenever a repair is needed, by a listing.
   */
  recover(rec: StreamRecovery): void {
    this.#dirMade = true;
    this.#recoverTail(rec);
    this.#settle();
  }

  #recoverTail(rec: StreamRecovery): void {
    const hint = this.#readHint();
    if (hint?.deferred === true) {
      this.#recoverDeferred(hint.firstId, rec);
      return;
    }
    const hinted = this.#recoverFromHint(hint?.firstId ?? -1, rec);
    if (hinted === true) return;
    const { found, strays } = this.#listSegments();
    for (const w of strays) this.#ctx.warn(w);
    this.segs = found;
    this.#listed = true;
    this.#recoverLast(rec, hinted === false ? undefined : hinted, true);
  }

  /**
   * Makes what recovery found durable before anything counts on it: the
   * active segment's bytes (recovery marks them synced) and the directory's
   * entries. A process killed by kill -9 leaves its last writes in the page
   * cache, readable but not on disk; without this, a power loss after the
   * reopen could take entries that syncedId had reported durable, or leave
   * a hole in a segment sealed as whole since (FORMAT.md §5). Older
   * segments need nothing: each was fsynced before its successor was
   * created, or is covered by the deferred scan. Cost: one fdatasync and
   * one directory fsync per stream (about 0.1 ms here when nothing is
   * dirty).
   */
  #settle(): void {
    const a = this.#active;
    if (a === undefined) return;
    try {
      this.#ctx.handles.get(a.seg.path, "write").datasync();
    } catch (e) {
      throw this.#ctx.syncFailed(a.seg.path, e);
    }
    try {
      this.#ctx.fs.syncDir(this.dir);
    } catch (e) {
      throw this.#ctx.syncFailed(this.dir, e);
    }
  }

  /**
   * Recovers the last segment of `segs` (given its scan if done already):
   * cuts a torn tail, rewrites a torn header, or, under onCorruption
   * "truncate", drops a damaged last segment and goes on with the one before.
   */
  #recoverLast(rec: StreamRecovery, hinted: { path: string; scan: TailScan } | undefined, writeHint: boolean): void {
    while (this.segs.length > 0) {
      const seg = this.segs[this.segs.length - 1];
      // The hint path may have scanned this very segment already (it found something to repair).
      const scan = hinted !== undefined && hinted.path === seg.path ? hinted.scan : undefined;
      if (scan === undefined) rec.segmentsScanned++;
      if (this.#recoverActive(seg, rec, scan)) {
        if (writeHint && this.#hintAt !== seg.firstId) this.#putHint(seg.firstId, false, false);
        this.#dropStaleIndex(seg);
        return;
      }
      // The last segment was dropped (onCorruption "truncate"): the one before becomes active.
      this.segs.pop();
    }
    this.nextId = this.writtenId = 0;
  }

  /**
   * Finds and recovers the active segment without listing the directory:
   * from the segment the ACTIVE hint names, follows the chain of names
   * forward (a segment's successor is named for the id after its last
   * entry; a sealed segment's `.idx` gives that id without a scan, else the
   * segment is scanned) until a segment has no successor, then makes it
   * active. A stale hint (a crash after a segment was created and before the
   * hint was rewritten, or a rewrite that failed) is thus harmless. Returns
   * false, having changed nothing on disk, when the hint is missing or
   * damaged, names a file that is gone, or the last segment needs any repair
   * (a torn header or tail, damage): the listing path then decides, as it
   * always did (given the scan of that segment, so it is not read twice).
   * See FORMAT.md §5 for why this never picks a segment that is not the
   * newest.
   */
  #recoverFromHint(hinted: number, rec: StreamRecovery): true | false | { path: string; scan: TailScan } {
    const { fs, handles } = this.#ctx;
    this.#hintAt = hinted;
    this.#hintDeferred = false;
    this.#hintSynced = false;
    if (hinted < 0) return false;
    const chain: Segment[] = [];
    let scanned = 0;
    try {
      let seg = this.#segment(hinted);
      for (;;) {
        const st = fs.stat(seg.path);
        if (st === undefined || !st.isFile) return false;
        const ixEnd = this.#indexedEnd(seg, st.size);
        if (ixEnd > seg.firstId) {
          // Sealed: its successor is named for the end its index gives. If that is
          // missing, a crash hit between sealing and creating it, or a file was lost.
          const next = this.#probe(ixEnd);
          if (next === undefined || next === null) return false;
          chain.push(seg);
          seg = next;
          continue;
        }
        const t = this.#scanFrames(seg, handles.get(seg.path, "write"));
        scanned++;
        if (t.head !== seg.firstId || t.why !== "end") return { path: seg.path, scan: t };
        // A segment with no entries is never sealed, so it has no successor.
        const next = t.entries > 0 ? this.#probe(seg.firstId + t.entries) : undefined;
        if (next === null) return false;
        if (next === undefined) {
          chain.push(seg);
          this.segs = chain;
          this.#listed = false;
          rec.validRecords += t.entries;
          this.#activate(seg, t.size, t.entries, t.index);
          if (hinted !== seg.firstId) this.#putHint(seg.firstId, false, false);
          return true;
        }
        // A successor created after the hint was last written: the scanned segment is sealed.
        chain.push(seg);
        seg = next;
      }
    } catch (e) {
      // An I/O error: the listing path meets it again and reports it as it always did.
      if (errorCode(e) === undefined) throw e;
      return false;
    } finally {
      rec.segmentsScanned += scanned;
    }
  }

  /**
   * Recovery when the hint carries the deferred flag: segments from the one
   * it names (U) on may have been sealed without an fsync (async and
   * interval modes), so after a crash any of them may be torn, and a torn
   * one may even end on a frame boundary, short of its successor's name,
   * where the chain of names would stop early without a sign. So the
   * directory is listed and every segment from U on is scanned whole (CRC of
   * every frame; their `.idx` files are not read, they were never fsynced
   * and may describe bytes that were lost). The first one that is not
   * whole, or whose entries do not end where the next segment begins, ends
   * the log: the later segments are removed (they would leave a hole;
   * reported in `rec`), and it becomes the last segment, whose torn tail is
   * cut as usual. Damage a crash cannot
   * explain (a bad header, a frame followed by one written after it was
   * durable, entries overlapping the next segment) is an error under
   * onCorruption "error", before anything is changed, and a cut-back under
   * "truncate". The segments before the new last one are then fdatasynced
   * in order and the hint rewritten, durably, naming the last one without
   * the flag. Segments before U are trusted as always: sealed, whole and
   * durable. Cost: one listing plus a scan of the unsynced tail.
   */
  #recoverDeferred(u: number, rec: StreamRecovery): void {
    const { fs, handles } = this.#ctx;
    this.#hintAt = u;
    this.#hintDeferred = true;
    this.#hintSynced = false;
    const { found, strays } = this.#listSegments();
    for (const w of strays) this.#ctx.warn(w);
    this.segs = found;
    this.#listed = true;
    const z = found.findIndex((s) => s.firstId >= u);
    if (z < 0) {
      // Nothing at or beyond U: the hint dangles (not a crash outcome); recover as a listing does.
      this.#recoverLast(rec, undefined, true);
      return;
    }
    // Whole segments before the end: only their names are kept, so memory does not grow
    // with the unsynced tail. Their .idx files are checked as always when first read (CRC,
    // size, entries up to the next name) or rebuilt; a whole segment is byte for byte what
    // it was when its seal wrote the index.
    const whole: Segment[] = [];
    let last = found.length - 1;
    let lastScan: TailScan | undefined;
    let reason = "";
    for (let i = z; i < found.length - 1; i++) {
      const seg = found[i];
      const next = found[i + 1];
      const where = `stream ${JSON.stringify(this.key)}, segment ${seg.path}`;
      const file = handles.get(seg.path, "write");
      const t = this.#scanFrames(seg, file);
      rec.segmentsScanned++;
      if (t.head !== seg.firstId) {
        // Its header was fdatasynced before its successor was created: damage, not a crash.
        const why = typeof t.head === "string" ? t.head : `header says first id ${t.head} but the file name says ${seg.firstId}`;
        if (this.#ctx.opts.onCorruption === "error") this.#damage(`${where}: ${why} at offset 0 of a sealed segment`, rec, () => true);
        // "truncate": the log ends before it; #recoverActive reports it and drops it.
        last = i;
        reason = `a damaged header of ${seg.name}`;
        break;
      }
      const end = seg.firstId + t.entries;
      if (t.why !== "end") {
        // Under "truncate", #recoverActive below tells a tear from damage again and reports it.
        const evidence = this.#ctx.opts.onCorruption === "error" ? laterDurableFrame(file, t.size, t.pos, end) : -1;
        if (evidence >= 0) {
          this.#damage(
            `${where}: ${t.why} at offset ${t.pos}, but a frame at offset ${evidence} was written after ` +
              `offset ${t.pos} was already durable, so this is damage, not a torn write`,
            rec,
            () => true,
          );
        }
        last = i;
        lastScan = t;
        reason = `${seg.name} is torn at offset ${t.pos} (${t.why})`;
        break;
      }
      if (end > next.firstId) {
        this.#damage(`${where}: holds ids up to ${end - 1}, but the next segment ${next.name} starts at ${next.firstId}`, rec, () => true);
        last = i;
        lastScan = t;
        reason = `${seg.name} overlaps ${next.name}`;
        break;
      }
      if (end < next.firstId) {
        // Whole frames lost from its end (a tear on a frame boundary): ids end..next-1 are gone.
        last = i;
        lastScan = t;
        reason = `${seg.name} ends at id ${end}, short of ${next.name} (its unsynced end was lost)`;
        break;
      }
      whole.push(seg);
      rec.validRecords += t.entries;
    }
    if (last < found.length - 1) {
      // The log ends in found[last]: every later segment would follow a hole.
      const gone = found.slice(last + 1);
      let bytes = 0;
      for (let k = gone.length - 1; k >= 0; k--) {
        const seg = gone[k];
        bytes += fs.stat(seg.path)?.size ?? 0;
        this.#removeSegment(seg, false);
      }
      fs.syncDir(this.dir);
      rec.bytesTruncated += bytes;
      rec.repairs.push(
        `stream ${JSON.stringify(this.key)}: the unsynced tail of the log ends in ${found[last].path}: ${reason}; ` +
          `removed ${gone.length} later segment(s) (${gone.map((s) => s.name).join(", ")}, ${bytes} bytes), ` +
          `written after the last fsync and lost to a crash before it`,
      );
      this.#ctx.emit({ type: "corruptionTruncated", stream: this.key, segment: found[last].name, offset: lastScan?.pos ?? 0, bytes });
      this.segs = found.slice(0, last + 1);
    }
    this.#recoverLast(rec, lastScan === undefined ? undefined : { path: found[last].path, scan: lastScan }, false);
    // The segments before the last one are whole; make them durable, oldest first, before the hint leaves U.
    const n = this.segs.length;
    const activePath = n > 0 ? this.segs[n - 1].path : "";
    for (const seg of whole) {
      // A whole segment that became the last one (a cut-back under "truncate") is active.
      if (seg.path === activePath) continue;
      try {
        handles.get(seg.path, "write").datasync();
      } catch (e) {
        throw this.#ctx.syncFailed(seg.path, e);
      }
    }
    if (n > 0) {
      if (!this.#putHint(this.segs[n - 1].firstId, false, true)) this.#hintAt = -1;
    }
  }

  /** The segment of this stream whose first id is `firstId`. */
  #segment(firstId: number): Segment {
    const name = segmentName(firstId);
    return { firstId, name, path: joinPath(this.dir, name) };
  }

  /** The segment named for `firstId` if it exists, undefined if not, null if the name is taken by something else. */
  #probe(firstId: number): Segment | undefined | null {
    const seg = this.#segment(firstId);
    const st = this.#ctx.fs.stat(seg.path);
    if (st === undefined) return undefined;
    return st.isFile ? seg : null;
  }

  /**
   * The id after the last entry of `seg` according to its `.idx` file (the
   * name of its successor, if it was sealed), or -1 if it has no valid index
   * for its current size.
   */
  #indexedEnd(seg: Segment, size: number): number {
    const { fs } = this.#ctx;
    const path = joinPath(this.dir, indexName(seg.name));
    const st = fs.stat(path);
    if (st === undefined || !st.isFile || st.size < 36 || st.size >= 64 * 1024 * 1024) return -1;
    const f = fs.open(path, "read");
    let ix: SegmentIndex | undefined;
    try {
      const b = new Uint8Array(st.size);
      if (f.read(b, 0) === st.size) ix = decodeIndex(b);
    } finally {
      f.close();
    }
    if (ix === undefined || ix.segmentSize !== size || ix.entries === 0) return -1;
    return seg.firstId + ix.entries;
  }

  /**
   * Reads the header of `seg` and, if it is valid and matches the name, its
   * frames up to the first invalid one. `why` is "end" if every byte of the
   * file belongs to a valid frame, else why the frame at `pos` is not one.
   * Changes nothing.
   */
  #scanFrames(seg: Segment, file: WalFile): TailScan {
    const size = file.size();
    const hb = new Uint8Array(SEGMENT_HEADER);
    const got = file.read(hb, 0);
    const head = decodeSegmentHeader(hb.subarray(0, got));
    const index = new FrameIndex();
    let pos = SEGMENT_HEADER;
    let entries = 0;
    if (head !== seg.firstId) return { head, size, pos, entries, index, why: "segment header" };
    const cur = new FrameCursor(() => file, size);
    let why = "";
    for (;;) {
      why = cur.at(pos);
      if (why === "end") break;
      if (why === "" && !cur.crcOk()) why = "CRC mismatch";
      if (why === "" && cur.h.firstId !== seg.firstId + entries) {
        why = `frame id ${cur.h.firstId} where ${seg.firstId + entries} was expected`;
      }
      if (why !== "") break;
      index.push(entries, pos);
      entries += cur.h.count;
      pos += HEADER + cur.h.storedLen;
    }
    return { head, size, pos, entries, index, why };
  }

  /** Recovers the last segment (given its scan if done already). Returns false if it had to be removed. */
  #recoverActive(seg: Segment, rec: StreamRecovery, scan?: TailScan): boolean {
    const { handles } = this.#ctx;
    const where = `stream ${JSON.stringify(this.key)}, segment ${seg.path}`;
    const file = handles.get(seg.path, "write");
    const { head, size, pos, entries, index, why } = scan ?? this.#scanFrames(seg, file);
    const isOnly = this.segs.length === 1;
    if (typeof head === "string") {
      if (size <= SEGMENT_HEADER) {
        // A crash between creating the file and syncing its header: nothing was ever in it.
        file.truncate(0);
        file.write(encodeSegmentHeader(seg.firstId), 0);
        file.datasync();
        rec.repairs.push(`${where}: rewrote a torn segment header (${size} bytes)`);
        rec.bytesTruncated += size;
        this.#activate(seg, SEGMENT_HEADER, 0, new FrameIndex());
        return true;
      }
      return this.#damage(`${where}: ${head} at offset 0`, rec, () => {
        if (isOnly) {
          file.truncate(0);
          file.write(encodeSegmentHeader(seg.firstId), 0);
          file.datasync();
          rec.bytesTruncated += size;
          this.#activate(seg, SEGMENT_HEADER, 0, new FrameIndex());
          return true;
        }
        this.#removeSegment(seg);
        rec.bytesTruncated += size;
        return false;
      });
    }
    if (head !== seg.firstId) {
      return this.#damage(`${where}: header says first id ${head} but the file name says ${seg.firstId}`, rec, () => {
        this.#removeSegment(seg);
        rec.bytesTruncated += size;
        return false;
      });
    }
    rec.validRecords += entries;
    if (why !== "end") {
      const evidence = laterDurableFrame(file, size, pos, seg.firstId + entries);
      const cut = () => {
        file.truncate(pos);
        file.datasync();
        rec.bytesTruncated += size - pos;
        this.#ctx.emit({ type: "corruptionTruncated", stream: this.key, segment: seg.name, offset: pos, bytes: size - pos });
        this.#activate(seg, pos, entries, index);
        return true;
      };
      if (evidence < 0) {
        // A torn tail: what a crash leaves after the last durable byte.
        rec.repairs.push(`${where}: cut a torn tail of ${size - pos} bytes at offset ${pos} (${why})`);
        return cut();
      }
      return this.#damage(
        `${where}: ${why} at offset ${pos}, but a frame at offset ${evidence} was written after ` +
          `offset ${pos} was already durable, so this is damage, not a torn write`,
        rec,
        cut,
      );
    }
    this.#activate(seg, size, entries, index);
    return true;
  }

  #damage(message: string, rec: StreamRecovery, repair: () => boolean): boolean {
    rec.corruptionDetected = true;
    if (this.#ctx.opts.onCorruption === "error") {
      throw new WalError(
        "CORRUPTION",
        `${message}. Open with onCorruption: "truncate" to cut the log back to the last valid entry ` +
          `before the damage (the loss is reported in wal.recovery), or restore the file from a backup.`,
      );
    }
    rec.repairs.push(`${message}: cut back (onCorruption "truncate")`);
    return repair();
  }

  /** Removes a segment file and its index; the directory is fsynced unless `syncDir` is false (the caller does it once). */
  #removeSegment(seg: Segment, syncDir = true): void {
    const { fs, handles } = this.#ctx;
    handles.close(seg.path);
    this.#ctx.indexes.delete(seg.path);
    fs.remove(seg.path);
    const ix = joinPath(this.dir, indexName(seg.name));
    if (fs.stat(ix) !== undefined) fs.remove(ix);
    if (syncDir) fs.syncDir(this.dir);
  }

  #activate(seg: Segment, size: number, entries: number, index: FrameIndex): void {
    this.#active = { seg, size, synced: size, entries, index };
    this.nextId = this.writtenId = seg.firstId + entries;
  }

  // ---------------------------------------------------- listing and the hint

  /**
   * Lists the directory: its segments, oldest first, and a warning for each
   * entry that is neither a segment, an index, a temporary file nor the hint.
   */
  #listSegments(): { found: Segment[]; strays: string[] } {
    const found: Segment[] = [];
    const strays: string[] = [];
    for (const e of this.#ctx.fs.readDir(this.dir)) {
      const first = e.isFile ? parseSegmentName(e.name) : -1;
      if (first >= 0) {
        found.push({ firstId: first, name: e.name, path: joinPath(this.dir, e.name) });
      } else if (
        !(e.isFile && (e.name === ACTIVE_HINT_NAME || (e.name.endsWith(".idx") && parseSegmentName(e.name.slice(0, -4) + ".wal") >= 0))) &&
        !e.name.endsWith(".tmp")
      ) {
        strays.push(`stream ${JSON.stringify(this.key)}: ignored ${JSON.stringify(e.name)} in ${this.dir} (not a segment)`);
      }
    }
    found.sort((a, b) => a.firstId - b.firstId);
    return { found, strays };
  }

  /**
   * Completes `segs` from a listing of the directory, the first time
   * something needs a segment older than those open found through the hint
   * (a read of an older id, `firstId`, `truncate`). Strays found are reported
   * then. A segment beyond the active one means the chain open followed was
   * broken (a segment file missing in between): that is damage.
   */
  #list(): void {
    let listing: { found: Segment[]; strays: string[] };
    try {
      listing = this.#listSegments();
    } catch (e) {
      throw ioError(`stream ${JSON.stringify(this.key)}: cannot list ${this.dir}`, e);
    }
    const tail = this.segs;
    const last = tail[tail.length - 1];
    // A segment whose creation failed halfway (named for writtenId, not yet in segs) is reused by the next append.
    const leftover = this.#active === undefined ? this.writtenId : -1;
    const beyond = listing.found.find((s) => s.firstId > last.firstId && s.firstId !== leftover);
    if (beyond !== undefined) {
      throw new WalError(
        "CORRUPTION",
        `stream ${JSON.stringify(this.key)}: ${last.path} was the newest segment open could reach from the ACTIVE hint, ` +
          `but ${beyond.path} exists beyond it: a segment file between them is missing, so the log is broken there ` +
          `(appends since open went to ${last.path}). Restore the missing segment from a backup.`,
      );
    }
    const known = new Set(tail.map((s) => s.firstId));
    const older = listing.found.filter((s) => s.firstId < last.firstId && !known.has(s.firstId));
    this.segs = older.length === 0 ? tail : older.concat(tail).sort((a, b) => a.firstId - b.firstId);
    this.#listed = true;
    for (const w of listing.strays) this.#ctx.warn(w);
  }

  /** The ACTIVE hint, or undefined if it is missing, unreadable or damaged. */
  #readHint(): ActiveHint | undefined {
    const { fs } = this.#ctx;
    try {
      const f = fs.open(joinPath(this.dir, ACTIVE_HINT_NAME), "read");
      try {
        // One byte more than a hint: a longer file reads as too long.
        const b = new Uint8Array(ACTIVE_HINT_SIZE + 1);
        return readActiveHint(b.subarray(0, f.read(b, 0)));
      } finally {
        f.close();
      }
    } catch (e) {
      if (errorCode(e) === undefined) throw e;
      return undefined;
    }
  }

  /**
   * Points the ACTIVE hint at the segment whose first id is `firstId`, with
   * the deferred flag if `deferred`, replacing the file atomically: the new
   * content is written to `ACTIVE.tmp` and fdatasynced, then renamed over
   * `ACTIVE`, so a crash leaves the old hint or the new one, never torn
   * bytes. With `syncDir` the directory is fsynced too (the new hint is
   * durable on return); without it the caller fsyncs the directory (a
   * segment creation) or does not need the new hint durable. Best effort:
   * returns false if it failed, and the file may then hold the old or the
   * new hint.
   */
  #putHint(firstId: number, deferred: boolean, syncDir: boolean): boolean {
    const { fs } = this.#ctx;
    const path = joinPath(this.dir, ACTIVE_HINT_NAME);
    const tmp = path + ".tmp";
    this.#hintAt = -1;
    this.#hintDeferred = false;
    this.#hintSynced = false;
    try {
      let f: WalFile;
      try {
        f = fs.open(tmp, "create");
      } catch (e) {
        if (errorCode(e) !== "EEXIST") throw e;
        // A leftover of an interrupted replace.
        fs.remove(tmp);
        f = fs.open(tmp, "create");
      }
      try {
        f.write(encodeActiveHint(firstId, deferred), 0);
        f.datasync();
      } finally {
        f.close();
      }
      fs.rename(tmp, path);
      if (syncDir) fs.syncDir(this.dir);
    } catch {
      try {
        if (fs.stat(tmp) !== undefined) fs.remove(tmp);
      } catch {
        // Removed by the next replace.
      }
      return false;
    }
    this.#hintAt = firstId;
    this.#hintDeferred = deferred;
    this.#hintSynced = syncDir;
    return true;
  }

  // ------------------------------------------------------------------ writes

  /**
   * Encodes one frame holding `entries` (or the single entry `one`) into the
   * pending buffer and hands out its ids. Returns the first id.
   */
  encode(one: Uint8Array | undefined, entries: Uint8Array[] | undefined): number {
    // A frame of count 1 holds the entry's bytes alone (FORMAT.md): a batch of one is a single entry.
    if (one === undefined && entries!.length === 1) one = entries![0];
    const count = one !== undefined ? 1 : entries!.length;
    let rawLen = 0;
    if (one !== undefined) {
      rawLen = one.length;
    } else {
      rawLen = 4 * count;
      for (let i = 0; i < count; i++) rawLen += entries![i].length;
    }
    if (rawLen > MAX_FRAME_PAYLOAD || count > MAX_FRAME_ENTRIES) {
      throw new WalError(
        "CONFIG",
        `stream ${JSON.stringify(this.key)}: an entry or batch of ${rawLen} bytes and ${count} entries exceeds the frame limit ` +
          `(${MAX_FRAME_PAYLOAD} bytes, ${MAX_FRAME_ENTRIES} entries); split it into smaller batches`,
      );
    }
    const firstId = this.nextId;
    const opts = this.#ctx.opts;
    let codec = CODEC_NONE;
    let stored: Uint8Array | undefined;
    if (opts.compression !== "none" && rawLen >= opts.minCompressionSize && rawLen > 0) {
      const raw = one ?? packBatch(entries!, rawLen);
      const c = compressPayload(opts.compression, raw);
      if (c !== undefined && c.data.length < rawLen) {
        codec = c.codec;
        stored = c.data;
      } else if (one === undefined) {
        stored = raw;
      }
    }
    const storedLen = stored !== undefined ? stored.length : rawLen;
    const total = HEADER + storedLen;
    const off = this.#reserve(total);
    const b = this.#pend;
    writeFrameHeader(b, off, storedLen, rawLen, count, firstId, codec);
    if (stored !== undefined) {
      b.set(stored, off + HEADER);
    } else if (one !== undefined) {
      b.set(one, off + HEADER);
    } else {
      let t = off + HEADER;
      let p = t + 4 * count;
      for (let i = 0; i < count; i++) {
        const e = entries![i];
        putU32(b, t, e.length);
        t += 4;
        b.set(e, p);
        p += e.length;
      }
    }
    this.#pendMeta.push(off, total, firstId, count);
    this.nextId = firstId + count;
    return firstId;
  }

  #reserve(n: number): number {
    const off = this.#pendLen;
    const need = off + n;
    if (need > this.#pend.length) {
      const grown = new Uint8Array(Math.max(need, this.#pend.length * 2));
      grown.set(this.#pend.subarray(0, off));
      this.#pend = grown;
    }
    this.#pendLen = need;
    return off;
  }

  /**
   * Writes the pending frames to the OS, rotating segments as needed (a
   * segment is fsynced before its successor is created, so sealed segments
   * are always whole). Fills {@link lastWrite}: how many frames were
   * written; if fewer than all, `error` says why, the later frames are
   * dropped and their ids are handed out again.
   */
  writePending(): void {
    const meta = this.#pendMeta;
    const n = meta.length >> 2;
    let i = 0;
    let error: WalError | undefined;
    let bytes = 0;
    try {
      while (i < n) {
        const a = this.#activeFor(meta[4 * i + 1], meta[4 * i + 3], meta[4 * i + 2]);
        // A run of frames that fits in the active segment.
        const runStart = meta[4 * i];
        let j = i;
        let size = a.size;
        let entries = a.entries;
        const limitBytes = this.#ctx.opts.maxSegmentSize;
        const limitEntries = this.#ctx.opts.maxEntriesPerSegment;
        while (j < n) {
          const len = meta[4 * j + 1];
          const cnt = meta[4 * j + 3];
          if (j > i && (size + len > limitBytes || entries + cnt > limitEntries)) break;
          sealFrame(this.#pend, meta[4 * j], len, a.synced);
          size += len;
          entries += cnt;
          j++;
        }
        const runEnd = j < n ? meta[4 * j] : this.#pendLen;
        const file = this.#ctx.handles.get(a.seg.path, "write");
        try {
          file.write(this.#pend.subarray(runStart, runEnd), a.size);
        } catch (e) {
          // Leave nothing partial behind: cut the file back to the last whole frame.
          try {
            file.truncate(a.size);
          } catch {
            // Recovery cuts the torn tail on the next open.
          }
          throw e;
        }
        let pos = a.size;
        for (let k = i; k < j; k++) {
          a.index.push(meta[4 * k + 2] - a.seg.firstId, pos);
          pos += meta[4 * k + 1];
        }
        this.#ctx.counters.bytesWritten += pos - a.size;
        bytes += pos - a.size;
        a.size = pos;
        a.entries = entries;
        this.writtenId = a.seg.firstId + entries;
        i = j;
      }
    } catch (e) {
      error = e instanceof WalError ? e : new WalError(
        "IO",
        `stream ${JSON.stringify(this.key)}: write failed in ${this.#active?.seg.path ?? this.dir}: ` +
          `${e instanceof Error ? e.message : String(e)}; the entries of this write were not stored`,
        { cause: e },
      );
      if (i < n) this.nextId = meta[4 * i + 2];
    }
    this.#pendMeta = [];
    // A buffer of 1-8 MiB is kept while drains fill a quarter of it (a steady pipelined
    // writer would otherwise regrow it from 4 KiB, copying, at every drain), and dropped
    // at the first drain that uses less; a larger one (a huge frame) is dropped at once.
    const cap = this.#pend.length;
    if (cap > 1 << 20 && (cap > 8 << 20 || this.#pendLen < cap >> 2)) this.#pend = new Uint8Array(4096);
    this.#pendLen = 0;
    const r = this.lastWrite;
    r.written = error === undefined ? n : i;
    r.error = error;
    r.bytes = bytes;
    r.entries = 0;
  }

  /** The active segment, created or rotated so a frame of `len` bytes and `count` entries can go next. */
  #activeFor(len: number, count: number, firstId: number): Active {
    const a = this.#active;
    const o = this.#ctx.opts;
    if (a !== undefined) {
      const fits = a.entries === 0 ||
        (a.size + len <= o.maxSegmentSize && a.entries + count <= o.maxEntriesPerSegment);
      if (fits) return a;
      this.#seal(a);
    }
    return this.#createSegment(firstId);
  }

  /**
   * Seals the active segment: makes it durable, or (modes "async" and
   * "interval") defers that, and writes its index file.
   *
   * A deferred seal leaves the segment in `#unsynced`; every later sync
   * fdatasyncs those segments oldest first before anything newer counts as
   * durable (see {@link sync}, {@link syncedId}). It is allowed only while
   * the durable hint names a segment no newer than this one with the
   * deferred flag, so that open scans every segment that may be torn (see
   * {@link #recoverDeferred}); the first deferred seal after everything was
   * durable writes that hint, durably, before the successor is created. If
   * the hint cannot be written the seal is synced, as in the other modes.
   */
  #seal(a: Active): void {
    const { handles } = this.#ctx;
    let deferred = false;
    if (a.size > a.synced) {
      if (this.#mayDefer(a.seg)) {
        this.#unsynced.push({ seg: a.seg, syncedId: this.#syncedIdOf(a) });
        deferred = true;
      } else {
        this.#syncSealed();
        try {
          handles.get(a.seg.path, "write").datasync();
        } catch (e) {
          throw this.#ctx.syncFailed(a.seg.path, e);
        }
        a.synced = a.size;
      }
    }
    const ix: SegmentIndex = {
      segmentSize: a.size,
      entries: a.entries,
      frames: a.index.frames,
      relIds: a.index.relIds.subarray(0, a.index.frames),
      offsets: a.index.offsets.subarray(0, a.index.frames),
    };
    this.#writeIndex(a.seg, ix);
    this.#ctx.indexes.set(a.seg.path, ix, 1);
    this.#ctx.emit({ type: "segmentRoll", stream: this.key, segment: a.seg.name, bytes: a.size, deferred });
    this.#active = undefined;
  }

  /** True if the seal of `seg` may skip its fsync; writes the deferred hint if needed (see {@link #seal}). */
  #mayDefer(seg: Segment): boolean {
    const mode = this.#ctx.opts.syncMode;
    if (mode !== "async" && mode !== "interval") return false;
    // A durable deferred hint at or before seg covers it (every segment before that hint is durable).
    if (this.#hintDeferred && this.#hintSynced && this.#hintAt >= 0 && this.#hintAt <= seg.firstId) return true;
    // Otherwise nothing is deferred now (only a durable deferred hint lets #unsynced grow).
    return this.#unsynced.length === 0 && this.#putHint(seg.firstId, true, true);
  }

  /**
   * Writes the index file of a sealed segment, not fsynced: a lost or torn
   * index is detected by its CRC and size and rebuilt. Best effort.
   */
  #writeIndex(seg: Segment, ix: SegmentIndex): void {
    const { fs } = this.#ctx;
    const tmp = joinPath(this.dir, indexName(seg.name) + ".tmp");
    try {
      if (fs.stat(tmp) !== undefined) fs.remove(tmp);
      const f = fs.open(tmp, "create");
      try {
        f.write(encodeIndex(ix), 0);
      } finally {
        f.close();
      }
      fs.rename(tmp, joinPath(this.dir, indexName(seg.name)));
    } catch {
      try {
        if (fs.stat(tmp) !== undefined) fs.remove(tmp);
      } catch {
        // Removed by the next write.
      }
    }
  }

  /**
   * fdatasyncs the sealed segments whose seal was deferred, oldest first.
   * A failure is sticky (it throws the Wal's sync failure). Returns how many.
   */
  #syncSealed(): number {
    const u = this.#unsynced;
    let n = 0;
    while (u.length > 0) {
      const seg = u[0].seg;
      try {
        this.#ctx.handles.get(seg.path, "write").datasync();
      } catch (e) {
        throw this.#ctx.syncFailed(seg.path, e);
      }
      u.shift();
      n++;
    }
    return n;
  }

  #createSegment(firstId: number): Active {
    const { fs, handles } = this.#ctx;
    if (!this.#dirMade) {
      fs.mkdir(this.dir);
      fs.syncDir(this.#ctx.opts.root);
      this.#dirMade = true;
    }
    const name = segmentName(firstId);
    const seg: Segment = { firstId, name, path: joinPath(this.dir, name) };
    let file: WalFile;
    try {
      file = handles.create(seg.path);
    } catch (e) {
      if (errorCode(e) !== "EEXIST") throw e;
      // A leftover of a cut-back log: nothing in it is part of the history.
      file = handles.get(seg.path, "write");
      file.truncate(0);
    }
    file.write(encodeSegmentHeader(firstId), 0);
    try {
      file.datasync();
      if (this.#unsynced.length === 0) {
        // Every older segment is durable: the hint names the new one. Its content is
        // fdatasynced and renamed into place before the directory sync, which makes the
        // rename durable with the new segment's name. If it cannot be, it is removed: open lists.
        if (!this.#putHint(firstId, false, false)) this.#dropHint();
      }
      // Else the durable deferred hint stays: it names the oldest segment that may be torn.
      fs.syncDir(this.dir);
      if (this.#hintAt >= 0) this.#hintSynced = true;
    } catch (e) {
      throw this.#ctx.syncFailed(seg.path, e);
    }
    this.segs.push(seg);
    this.#ctx.counters.segmentsCreated++;
    const a: Active = { seg, size: SEGMENT_HEADER, synced: SEGMENT_HEADER, entries: 0, index: new FrameIndex() };
    this.#active = a;
    return a;
  }

  /**
   * Makes everything written durable, in order: the sealed segments whose
   * fsync was deferred, oldest first, then the active segment. Then, if the
   * hint carries the deferred flag, it is rewritten (durably) to name the
   * active segment without it, so that the next open scans only that one.
   * A failed fsync is sticky (throws); a failed hint rewrite is not (the old
   * hint stays valid, it only makes the next open scan more). Returns the
   * number of segment files fdatasynced.
   */
  sync(): number {
    let files = this.#syncSealed();
    const a = this.#active;
    if (a !== undefined && a.size > a.synced) {
      try {
        this.#ctx.handles.get(a.seg.path, "write").datasync();
      } catch (e) {
        throw this.#ctx.syncFailed(a.seg.path, e);
      }
      a.synced = a.size;
      files++;
    }
    if (this.#hintDeferred && a !== undefined) this.#putHint(a.seg.firstId, false, true);
    return files;
  }

  /**
   * {@link sync} in the background, so that a group commit can sync the
   * files of several streams at once: only where all it has to do is
   * fdatasync the active segment (no deferred seals, no deferred hint) and
   * the handle has `datasyncAsync`. Returns undefined where it cannot (call
   * {@link sync}); else a promise of the number of files synced (1). The
   * bytes written before the call are durable when it resolves; a failure is
   * sticky, as in {@link sync}.
   */
  syncAsync(): Promise<number> | undefined {
    const a = this.#active;
    if (a === undefined || a.size === a.synced || this.#unsynced.length > 0 || this.#hintDeferred) return undefined;
    const file = this.#ctx.handles.get(a.seg.path, "write");
    if (file.datasyncAsync === undefined) return undefined;
    const size = a.size;
    return file.datasyncAsync().then(
      () => {
        // Later writes (and a later sync of them) may have moved synced on already.
        if (a.synced < size) a.synced = size;
        return 1;
      },
      (e) => {
        throw this.#ctx.syncFailed(a.seg.path, e);
      },
    );
  }

  /**
   * A handle of `path` is about to be closed by the LRU: if it is the active
   * segment with unsynced bytes, or a sealed one whose fsync was deferred,
   * it is fdatasynced through `file` (so no writeback error is lost with the
   * descriptor). That may make a segment durable before older ones: harmless,
   * as nothing counts as durable until every older segment is too
   * ({@link syncedId}, the hint), and recovery cuts at the first torn
   * segment whatever follows it. Returns true if it synced.
   */
  syncHandle(path: string, file: WalFile): boolean {
    const a = this.#active;
    if (a !== undefined && a.seg.path === path) {
      if (a.size === a.synced) return false;
      try {
        file.datasync();
      } catch (e) {
        throw this.#ctx.syncFailed(path, e);
      }
      a.synced = a.size;
      return true;
    }
    const i = this.#unsynced.findIndex((u) => u.seg.path === path);
    if (i < 0) return false;
    try {
      file.datasync();
    } catch (e) {
      throw this.#ctx.syncFailed(path, e);
    }
    this.#unsynced.splice(i, 1);
    return true;
  }

  /**
   * Ids below this are durable (fsynced), and so is every older id. Always
   * a frame boundary: a batch is either wholly below it or wholly at or
   * above it. A sealed segment whose fsync is deferred holds it at its
   * first id.
   */
  get syncedId(): number {
    if (this.#unsynced.length > 0) return this.#unsynced[0].syncedId;
    const a = this.#active;
    return a === undefined ? this.writtenId : this.#syncedIdOf(a);
  }

  /** The first id of `a` not durable (its written end if all of it is). */
  #syncedIdOf(a: Active): number {
    if (a.synced >= a.size) return a.seg.firstId + a.entries;
    // The first frame starting at or after the synced length is the first one not durable.
    const ix = a.index;
    let lo = 0;
    let hi = ix.frames;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (ix.offsets[mid] < a.synced) lo = mid + 1;
      else hi = mid;
    }
    return lo < ix.frames ? a.seg.firstId + ix.relIds[lo] : a.seg.firstId + a.entries;
  }

  /** Path of the active segment, if any. */
  activePath(): string | undefined {
    return this.#active?.seg.path;
  }

  // ------------------------------------------------------------------- reads

  /** Index of the segment holding `id`, or -1. */
  #segmentOf(id: number): number {
    if (!this.#listed && id < this.segs[0].firstId) this.#list();
    const segs = this.segs;
    let lo = 0;
    let hi = segs.length - 1;
    let ans = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      if (segs[mid].firstId <= id) {
        ans = mid;
        lo = mid + 1;
      } else {
        hi = mid - 1;
      }
    }
    return ans;
  }

  /** Where the frames of segment `i` are: its index and the byte limit. */
  #framesOf(i: number): { relIds: Uint32Array; offsets: Float64Array; frames: number; end: number; entries: number } {
    const seg = this.segs[i];
    const a = this.#active;
    if (a !== undefined && a.seg === seg) {
      return { relIds: a.index.relIds, offsets: a.index.offsets, frames: a.index.frames, end: a.size, entries: a.entries };
    }
    const ix = this.#sealedIndex(i);
    return { relIds: ix.relIds, offsets: ix.offsets, frames: ix.frames, end: ix.segmentSize, entries: ix.entries };
  }

  /** The index of sealed segment `i`: cached, read from its .idx file, or rebuilt by a scan. */
  #sealedIndex(i: number): SegmentIndex {
    const seg = this.segs[i];
    const { fs, indexes, handles } = this.#ctx;
    const cached = indexes.get(seg.path);
    if (cached !== undefined) return cached;
    const file = handles.get(seg.path, "read");
    const size = file.size();
    const expected = i + 1 < this.segs.length ? this.segs[i + 1].firstId - seg.firstId : -1;
    const ixPath = joinPath(this.dir, indexName(seg.name));
    let ix: SegmentIndex | undefined;
    const st = fs.stat(ixPath);
    if (st !== undefined && st.isFile && st.size < 64 * 1024 * 1024) {
      try {
        const f = fs.open(ixPath, "read");
        try {
          const b = new Uint8Array(st.size);
          if (f.read(b, 0) === st.size) ix = decodeIndex(b);
        } finally {
          f.close();
        }
      } catch {
        ix = undefined;
      }
    }
    if (ix === undefined || ix.segmentSize !== size || (expected >= 0 && ix.entries !== expected)) {
      ix = this.#rebuildIndex(seg, file, size, expected);
    }
    indexes.set(seg.path, ix, 1);
    return ix;
  }

  /** Scans a sealed segment and rewrites its index file. Damage is an error. */
  #rebuildIndex(seg: Segment, file: WalFile, size: number, expected: number): SegmentIndex {
    const where = `stream ${JSON.stringify(this.key)}, segment ${seg.path}`;
    const hb = new Uint8Array(SEGMENT_HEADER);
    const head = decodeSegmentHeader(hb.subarray(0, file.read(hb, 0)));
    if (head !== seg.firstId) {
      throw new WalError("CORRUPTION", `${where}: ${typeof head === "string" ? head : `header says first id ${head}`} at offset 0; restore the file from a backup or truncate the stream past it`);
    }
    const index = new FrameIndex();
    const cur = new FrameCursor(() => file, size);
    let pos = SEGMENT_HEADER;
    let entries = 0;
    for (;;) {
      let why = cur.at(pos);
      if (why === "end") break;
      if (why === "" && !cur.crcOk()) why = "CRC mismatch";
      if (why === "" && cur.h.firstId !== seg.firstId + entries) why = `frame id ${cur.h.firstId} where ${seg.firstId + entries} was expected`;
      if (why !== "") {
        throw new WalError(why === "CRC mismatch" ? "CRC_MISMATCH" : "CORRUPTION", `${where}: ${why} at offset ${pos} of a sealed segment; restore the file from a backup or truncate the stream past it`);
      }
      index.push(entries, pos);
      entries += cur.h.count;
      pos += HEADER + cur.h.storedLen;
    }
    if (expected >= 0 && entries !== expected) {
      throw new WalError(
        "CORRUPTION",
        `${where}: holds ids ${seg.firstId}..${seg.firstId + entries - 1} but the next segment starts at ${seg.firstId + expected}; ` +
          `${seg.firstId + entries}..${seg.firstId + expected - 1} are missing (a lost segment file?)`,
      );
    }
    const ix: SegmentIndex = {
      segmentSize: size,
      entries,
      frames: index.frames,
      relIds: index.relIds.slice(0, index.frames),
      offsets: index.offsets.slice(0, index.frames),
    };
    // The in-memory index serves even if the file cannot be written; it is rebuilt next time.
    this.#writeIndex(seg, ix);
    return ix;
  }

  /**
   * Whole-file view of a sealed segment of `frames` frames (readStrategy
   * "mmap"). A scan (`scan` true) makes a copy only into free room: a
   * sequential pass over more than the cache holds would otherwise evict
   * every copy before it is read again, and read each file twice.
   */
  #view(seg: Segment, frames: number, scan = false): SegmentView | undefined {
    const { fs, views } = this.#ctx;
    if (views === undefined) return undefined;
    let v = views.get(seg.path);
    if (v !== undefined) return v;
    if (fs.map !== undefined) {
      // Real mappings are bounded by count (the LRU's capacity is maxOpenSegments).
      const m = fs.map(seg.path);
      v = { bytes: m.bytes, checked: undefined };
      views.set(seg.path, v, 1, () => m.close());
    } else {
      // Copies are bounded by bytes: a file larger than the bound is read positionally instead.
      const file = this.#ctx.handles.get(seg.path, "read");
      const size = file.size();
      if (size + frames > views.capacity - (scan ? views.weight : 0)) return undefined;
      // Placed where the copy from the page cache runs fast (see landing).
      const at = landing(0);
      const bytes = new Uint8Array(at + size).subarray(at);
      if (file.read(bytes, 0) !== size) return undefined;
      v = { bytes, checked: new Uint8Array(frames) };
      views.set(seg.path, v, size + frames);
    }
    return v;
  }

  /** The decoded payload of the frame at `off` (via the block cache), checking its CRC. */
  #frame(seg: Segment, sealed: boolean, off: number, len: number, h: FrameHeader, k: number, frames: number): Uint8Array {
    const blocks = this.#ctx.blocks;
    const key = blocks !== undefined ? (seg.tag ??= (nextTag++).toString(36) + ":") + off : "";
    if (blocks !== undefined) {
      const metered = this.#ctx.opts.meter !== undefined;
      const hit = blocks.get(key);
      if (hit !== undefined) {
        this.#ctx.counters.cacheHits++;
        if (metered) this.#ctx.emit({ type: "cacheHit", stream: this.key });
        h.count = hit.count;
        return hit.raw;
      }
      this.#ctx.counters.cacheMisses++;
      if (metered) this.#ctx.emit({ type: "cacheMiss", stream: this.key });
    }
    // The frame is b[p, p + len): in the whole-file view, or read from the file (a
    // small one into the shared slab, with no view made where the file has readInto).
    const v = sealed ? this.#view(seg, frames) : undefined;
    let b: Uint8Array;
    let p = 0;
    if (v !== undefined) {
      b = v.bytes;
      p = off;
      if (off + len > b.length) {
        throw new WalError("CORRUPTION", `${this.#where(seg, off)}: frame of ${len} bytes extends past the end of the file; the index or the file is damaged`);
      }
    } else {
      const file = this.#ctx.handles.get(seg.path, sealed ? "read" : "write");
      let got: number;
      if (len <= SLAB_MAX_READ && file.readInto !== undefined) {
        p = slabTake(len);
        b = slab;
        got = file.readInto(b, p, len, off);
      } else {
        b = allocRead(len);
        got = file.read(b, off);
      }
      if (got < len) {
        throw new WalError("CORRUPTION", `stream ${JSON.stringify(this.key)}, segment ${seg.path}: frame at offset ${off} needs ${len} bytes, file ends after ${got}`);
      }
    }
    // Built only when needed: a template per read costs as much as the read's checks.
    const where = () => this.#where(seg, off);
    const why = parseFrameHeader(b, p, h);
    if (why !== "" || HEADER + h.storedLen !== len) {
      throw new WalError("CORRUPTION", `${where()}: ${why || "frame length does not match the index"}; the index or the file is damaged`);
    }
    const stored = b.subarray(p + HEADER, p + len);
    const checked = v?.checked;
    if (checked === undefined || checked[k] !== 1) {
      if (!frameCrcOk(b, p, h, stored)) {
        throw new WalError("CRC_MISMATCH", `${where()}: frame checksum mismatch (bit rot or an overwritten file); restore the segment from a backup or truncate past it`);
      }
      if (checked !== undefined) checked[k] = 1;
    }
    const raw = h.codec === CODEC_NONE ? stored : decodePayload(h.codec, stored, h.rawLen, where());
    if (blocks !== undefined) {
      // A raw payload inside a whole-file view (or the read slab) would keep it alive beyond its bound: cache a copy.
      const keep = raw.buffer === b.buffer && b.buffer.byteLength > len ? raw.slice() : raw;
      blocks.set(key, { raw: keep, count: h.count }, keep.length + 64);
    }
    return raw;
  }

  /** The entry `id`, or undefined if it was never written or was truncated. */
  get(id: number): Uint8Array | undefined {
    if (id >= this.writtenId) return undefined;
    const si = this.#segmentOf(id);
    if (si < 0) return undefined;
    const seg = this.segs[si];
    // The index is looked up inline (no #framesOf object per read).
    const a = this.#active;
    const sealed = a === undefined || seg !== a.seg;
    let relIds: Uint32Array, offsets: Float64Array, frames: number, limit: number, entries: number;
    if (!sealed) {
      relIds = a.index.relIds;
      offsets = a.index.offsets;
      frames = a.index.frames;
      limit = a.size;
      entries = a.entries;
    } else {
      const ix = this.#sealedIndex(si);
      relIds = ix.relIds;
      offsets = ix.offsets;
      frames = ix.frames;
      limit = ix.segmentSize;
      entries = ix.entries;
    }
    const rel = id - seg.firstId;
    if (rel >= entries) {
      throw new WalError("CORRUPTION", `stream ${JSON.stringify(this.key)}: id ${id} should be in ${seg.path}, which holds only ${entries} entries`);
    }
    // A segment of single-entry frames (no batches) has frame k = entry k.
    const k = frames === entries ? rel : floorIndex(relIds, frames, rel);
    const off = offsets[k];
    const end = k + 1 < frames ? offsets[k + 1] : limit;
    const h = this.#getHeader;
    const raw = this.#frame(seg, sealed, off, end - off, h, k, frames);
    this.#ctx.counters.entriesRead++;
    // A cached payload is shared and a payload read through a view (readStrategy
    // "mmap") aliases the mapping: hand out a copy the caller may change.
    if (h.count === 1) return this.#ctx.blocks !== undefined || (sealed && this.#ctx.views !== undefined) ? copyOut(raw) : raw;
    const r = entryRange(raw, h.count, rel - relIds[k]);
    if (r === undefined) {
      throw new WalError("CORRUPTION", `${this.#where(seg, off)}: batch length table does not add up`);
    }
    return copyOut(raw.subarray(r[0], r[1]));
  }

  /**
   * A sequential reader of entries from `start` (or the first stored id, if
   * greater) up to `limit` (exclusive) or the written end, whichever comes
   * first when the reader gets there. `chunks` says what happens to its read
   * buffer from one chunk to the next (see {@link ChunkPolicy}). With
   * `readAhead`, each next chunk is read in the background (see
   * {@link FrameCursor.readAhead}), and {@link readNext} may stop short
   * with `r.wait` set.
   */
  reader(start: number, limit: number, chunks: ChunkPolicy, readAhead = false): EntryReader {
    const cur = new FrameCursor(undefined, 0, undefined, chunks);
    if (readAhead) cur.readAhead();
    return new EntryReader(start, limit, cur);
  }

  /**
   * Advances `r` to its next entry: sets `r.id` and `r.data` and returns
   * true, or returns false (for good) at its limit or the written end. Reads
   * each segment in large chunks, checking every frame's CRC and id. A
   * segment deleted by truncation under the reader is left for the first id
   * still stored. A reader that reads ahead may also return false with
   * `r.wait` set, having handed out nothing: call again once it settles.
   * (`r.wait` is meaningful only after a false return: the end clears it.)
   */
  readNext(r: EntryReader): boolean {
    for (;;) {
      const seg = r.seg;
      if (seg !== undefined && seg.gone === true) {
        // Truncated while the caller held an entry: go on from the first id still present.
        r.seg = undefined;
        r.count = 0;
      }
      if (r.e < r.count) {
        // The next entry of a batch frame already read.
        const raw = r.raw;
        const e = r.e++;
        const q = 4 * e;
        const len = (raw[q] | (raw[q + 1] << 8) | (raw[q + 2] << 16) | (raw[q + 3] << 24)) >>> 0;
        const p = r.p;
        r.p = p + len;
        if (r.p > raw.length) {
          throw new WalError("CORRUPTION", `${this.#where(seg!, r.framePos)}: batch length table does not add up`);
        }
        const eid = r.first + e;
        if (eid < r.next) continue;
        if (eid >= r.limit) return r.stop();
        r.id = eid;
        r.next = eid + 1;
        r.data = raw.subarray(p, p + len);
        this.#ctx.counters.entriesRead++;
        return true;
      }
      if (r.done || r.next >= r.limit) return r.stop();
      if (r.seg === undefined || r.pos >= r.end) {
        if (!this.#enter(r)) return r.stop();
        continue;
      }
      const s = r.seg;
      const pos = r.pos;
      const cur = r.cur;
      let why: string;
      try {
        why = cur.at(pos);
      } catch (e) {
        if (s.gone === true) continue;
        throw e;
      }
      if (why !== "") {
        if (why === WAIT) {
          r.wait = cur.pending;
          return false;
        }
        throw new WalError("CORRUPTION", `${this.#where(s, pos)}: ${why}`);
      }
      const stored = cur.payload();
      const checked = r.checked;
      const k = r.k++;
      if (checked === undefined || checked[k] !== 1) {
        if (pos >= cur.okEnd) {
          const n = cur.verifyRun(pos);
          if (n > 0 && checked !== undefined) checked.fill(1, k, k + n);
        }
        if (pos >= cur.okEnd && !cur.crcOk(stored)) {
          throw new WalError("CRC_MISMATCH", `${this.#where(s, pos)}: frame checksum mismatch; restore the segment from a backup or truncate past it`);
        }
        if (checked !== undefined) checked[k] = 1;
      }
      const h = cur.h;
      if (h.firstId !== r.expect) {
        throw new WalError("CORRUPTION", `${this.#where(s, pos)}: frame id ${h.firstId} where ${r.expect} was expected`);
      }
      const raw = h.codec === CODEC_NONE ? stored : decodePayload(h.codec, stored, h.rawLen, this.#where(s, pos));
      r.pos = pos + HEADER + h.storedLen;
      r.expect = h.firstId + h.count;
      if (h.count === 1) {
        const eid = h.firstId;
        if (eid < r.next) continue;
        if (eid >= r.limit) return r.stop();
        r.id = eid;
        r.next = eid + 1;
        r.data = raw;
        this.#ctx.counters.entriesRead++;
        return true;
      }
      r.raw = raw;
      r.count = h.count;
      r.e = 0;
      r.p = 4 * h.count;
      r.first = h.firstId;
      r.framePos = pos;
    }
  }

  /**
   * Points `r` at the frame holding its next id (or the first stored id),
   * in the segment holding it, with the frames written so far. False at the
   * written end.
   */
  #enter(r: EntryReader): boolean {
    const id = Math.max(r.next, this.firstId());
    r.next = id;
    if (id >= this.writtenId) return false;
    const si = this.#segmentOf(id);
    if (si < 0) return false;
    const seg = this.segs[si];
    const f = this.#framesOf(si);
    const rel = id - seg.firstId;
    if (rel >= f.entries) {
      throw new WalError("CORRUPTION", `${this.#where(seg, f.end)}: id ${id} should be in this segment, which holds only ${f.entries} entries`);
    }
    const k = floorIndex(f.relIds, f.frames, rel);
    const sealed = seg !== this.#active?.seg;
    const view = sealed ? this.#view(seg, f.frames, true) : undefined;
    r.checked = view?.checked;
    r.k = k;
    if (view !== undefined) {
      r.cur.reset(undefined, f.end, view.bytes);
    } else {
      const handles = this.#ctx.handles;
      const path = seg.path;
      const mode = sealed ? "read" : "write";
      r.cur.reset(() => handles.get(path, mode), f.end, undefined, path);
      if (r.cur.readsAhead) this.#follow(r, si + 1);
    }
    r.seg = seg;
    r.pos = f.offsets[k];
    r.end = f.end;
    r.expect = seg.firstId + f.relIds[k];
    r.count = 0;
    r.e = 0;
    return true;
  }

  /**
   * Lets `r`'s cursor read the first chunk of segment `si` ahead once it has
   * read the current one to its end: only a sealed segment read through its
   * file (not a view), whose first id `r` will want. Anything that goes wrong
   * here is left for the read itself, where it counts.
   */
  #follow(r: EntryReader, si: number): void {
    const seg = this.segs[si];
    if (seg === undefined || seg === this.#active?.seg || this.#ctx.views !== undefined || seg.firstId >= r.limit) return;
    let f: { offsets: Float64Array; frames: number; end: number };
    try {
      f = this.#framesOf(si);
    } catch {
      return;
    }
    if (f.frames === 0) return;
    const handles = this.#ctx.handles;
    const path = seg.path;
    r.cur.follow(() => handles.get(path, "read"), path, f.offsets[0], f.end);
  }

  #where(seg: Segment, pos: number): string {
    return `stream ${JSON.stringify(this.key)}, segment ${seg.path}, offset ${pos}`;
  }

  // ------------------------------------------------------------- truncation

  /** Deletes whole sealed segments whose ids are all below `safeId`. Returns how many. */
  truncate(safeId: number): number {
    const { fs, handles, indexes, views, blocks } = this.#ctx;
    if (!this.#listed) this.#list();
    if (this.segs.length > 1 && this.segs[1].firstId <= safeId) {
      // Segments whose seal was deferred first: the hint may name one of them.
      this.#syncSealed();
      this.#hintSurvivesTruncate();
    }
    let n = 0;
    while (this.segs.length > 1 && this.segs[1].firstId <= safeId) {
      const seg = this.segs[0];
      handles.close(seg.path);
      indexes.delete(seg.path);
      views?.delete(seg.path);
      // Cached frames of this segment only; the other segments' frames stay valid.
      if (seg.tag !== undefined) blocks?.deletePrefix(seg.tag);
      fs.remove(seg.path);
      const ix = joinPath(this.dir, indexName(seg.name));
      try {
        fs.remove(ix);
      } catch (e) {
        if (errorCode(e) !== "ENOENT") throw e;
      }
      seg.gone = true;
      this.segs.shift();
      n++;
    }
    if (n > 0) fs.syncDir(this.dir);
    return n;
  }

  /**
   * Removes an index file of the active segment, left by a crash between
   * sealing it and creating its successor, or by a cut-back that made it
   * active again: the hint path takes a segment with an index and no
   * successor for a broken chain and lists the directory. Best effort.
   */
  #dropStaleIndex(seg: Segment): void {
    const { fs } = this.#ctx;
    const path = joinPath(this.dir, indexName(seg.name));
    try {
      if (fs.stat(path) !== undefined) fs.remove(path);
    } catch {
      // The next open lists the directory again and retries.
    }
  }

  /** Removes the hint after a failed rewrite, so open lists the directory. Best effort. */
  #dropHint(): void {
    try {
      this.#ctx.fs.remove(joinPath(this.dir, ACTIVE_HINT_NAME));
    } catch {
      // Gone already, or the disk is failing: an older durable hint still only leads forward.
    }
  }

  /**
   * Before segments are deleted: makes sure the hint a crash can leave names
   * a segment that is not deleted. The removals may be only partly durable
   * after a crash, and a stale hint naming a deleted segment that came back
   * would lead open along a chain that stops where a later removal held,
   * short of the newest segment. Segment creation keeps the hint durable and
   * current; if it could not (a failed write), the hint is pointed at the
   * last segment and fdatasynced here, or removed (open then lists).
   */
  #hintSurvivesTruncate(): void {
    const last = this.segs[this.segs.length - 1].firstId;
    if (this.#hintAt === last && this.#hintSynced) return;
    if (this.#putHint(last, false, true)) return;
    const { fs } = this.#ctx;
    try {
      fs.remove(joinPath(this.dir, ACTIVE_HINT_NAME));
    } catch (e) {
      if (errorCode(e) !== "ENOENT") throw e;
    }
    fs.syncDir(this.dir);
  }
}

/** Reads of at most this many bytes are carved out of a shared slab. */
const SLAB_MAX_READ = 2048;
const SLAB_SIZE = 32 * 1024;
let slab = new Uint8Array(0);
let slabPos = 0;

/**
 * A fresh buffer of `len` bytes for a positional read. Small ones are
 * consecutive pieces of one 32 KiB slab (as Node's Buffer pool does): one
 * backing-store allocation per ~200 small reads instead of one per read.
 * Every piece is handed out once, so a caller that keeps or changes the
 * returned bytes affects nobody else; a kept piece keeps its slab alive.
 */
function allocRead(len: number): Uint8Array {
  if (len > SLAB_MAX_READ) return new Uint8Array(len);
  const p = slabTake(len);
  return slab.subarray(p, p + len);
}

/** Hands out `len` (at most SLAB_MAX_READ) bytes of the current slab: returns their index in `slab`. */
function slabTake(len: number): number {
  if (slabPos + len > slab.length) {
    slab = new Uint8Array(SLAB_SIZE);
    slabPos = 0;
  }
  const p = slabPos;
  slabPos += (len + 7) & ~7;
  return p;
}

/** A copy of `src` the caller owns (small ones carved out of the read slab). */
function copyOut(src: Uint8Array): Uint8Array {
  const b = allocRead(src.length);
  b.set(src);
  return b;
}

/** Concatenates a batch's raw payload: count u32 lengths, then the entries. */
function packBatch(entries: Uint8Array[], rawLen: number): Uint8Array {
  const b = new Uint8Array(rawLen);
  let t = 0;
  let p = 4 * entries.length;
  for (const e of entries) {
    putU32(b, t, e.length);
    t += 4;
    b.set(e, p);
    p += e.length;
  }
  return b;
}

/**
 * Looks past damage at `from` for a valid frame written after `from` was
 * durable (its `durable` field is beyond `from`). Such a frame proves the
 * damage is not a torn write: a crash only loses bytes after the last
 * durable one. Returns its offset, or -1. Bounded: at most 64 candidate
 * CRCs, so garbage cannot make it slow.
 */
function laterDurableFrame(file: WalFile, size: number, from: number, expectedId: number): number {
  if (from + FRAME_HEADER >= size) return -1;
  const cur = new FrameCursor(() => file, size);
  const h = new FrameHeader();
  let candidates = 0;
  const CH = 1 << 20;
  for (let base = from + 1; base + FRAME_HEADER <= size; base += CH) {
    const len = Math.min(CH + FRAME_HEADER, size - base);
    const b = new Uint8Array(len);
    const got = file.read(b, base);
    for (let p = 0; p + FRAME_HEADER <= got && p < CH; p++) {
      if (b[p + 30] !== 0x57 || b[p + 31] !== 0x49) continue;
      if (parseFrameHeader(b, p, h) !== "") continue;
      if (h.durable <= from || h.firstId < expectedId) continue;
      if (base + p + FRAME_HEADER + h.storedLen > size) continue;
      if (++candidates > 64) return -1;
      if (cur.at(base + p) === "" && cur.crcOk()) return base + p;
    }
  }
  return -1;
}

const NO_BYTES = new Uint8Array(0);

/**
 * The state of one sequential read of a stream (see {@link Stream.readNext}):
 * the entry found last, the position in the file, the frame being read.
 */
export class EntryReader {
  /** Id of the entry found by the last successful `readNext`. */
  id = -1;
  /**
   * Its data: a view into the frame's bytes, which live in the reader's
   * chunk buffer, a mapped file or a decoded payload.
   */
  data: Uint8Array = NO_BYTES;
  /** The next id wanted. */
  next: number;
  readonly limit: number;
  readonly cur: FrameCursor;
  /** True once the reader reached its end. */
  done = false;
  /** Set when `readNext` returned false to wait for a chunk read ahead; cleared by {@link stop}. */
  wait: Promise<void> | undefined = undefined;
  /** Segment being read (undefined: look it up from `next`). */
  seg: Segment | undefined = undefined;
  /** File offset of the next frame, and where the segment's frames end. */
  pos = 0;
  end = 0;
  /** The first id the next frame must have. */
  expect = 0;
  /** Index in its segment of the next frame, and the segment view's checked-CRC flags (if a copy). */
  k = 0;
  checked: Uint8Array | undefined = undefined;
  /** The batch frame being handed out: raw payload, entry count, next entry, its offset, first id. */
  raw: Uint8Array = NO_BYTES;
  count = 0;
  e = 0;
  p = 0;
  first = 0;
  framePos = 0;

  constructor(start: number, limit: number, cur: FrameCursor) {
    this.next = start;
    this.limit = limit;
    this.cur = cur;
  }

  /** Ends the read for good, giving back its buffers. Returns false, for `readNext` to return. */
  stop(): false {
    this.cur.release();
    this.done = true;
    this.wait = undefined;
    this.count = 0;
    this.seg = undefined;
    this.raw = NO_BYTES;
    return false;
  }
}
