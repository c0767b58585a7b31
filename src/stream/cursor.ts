/**
 * Sequential frame reading in large chunks, shared by recovery, index
 * rebuilds and iteration.
 *
 * @module
 */

import type { WalFile } from "../io.ts";
import { FRAME_HEADER, FrameHeader, frameCrcOk, parseFrameHeader } from "../format/frame.ts";
import { crc32, crc32U32, type CrcArena, CrcRuns, releaseArena, takeArena } from "../format/crc32.ts";
import { getU32 } from "../format/bytes.ts";

/** Bytes read per chunk when scanning or iterating (once past the first chunks, see {@link FIRST_CHUNK}). */
export const CHUNK = 1024 * 1024;

/**
 * Bytes of a cursor's first read; each next read is twice as long, up to
 * {@link CHUNK}. A short iteration (a consumer catching up on a few
 * entries) then reads and checks about what it hands out, not a megabyte.
 */
export const FIRST_CHUNK = 16 * 1024;

/**
 * Reads shorter than this are not made ahead, but in the foreground when
 * needed: a 64 KiB read costs a few microseconds, less than waiting a turn
 * of the event loop for a background one (about 20 µs on Node), and a short
 * iteration may never need it.
 */
export const AHEAD_FROM = 256 * 1024;

/** Most bytes one {@link FrameCursor.verifyRun} checks with one CRC call. */
const RUN = 1024 * 1024;

/**
 * Room kept free before a read-ahead chunk's bytes, where the part of the
 * frame that straddles the two chunks is copied from the chunk before.
 */
const HEAD = 64 * 1024;

/**
 * Where in a buffer a read of file offset `pos` lands: `(pos + 2048) mod
 * 4096`, half a page from where the bytes sit in their page-cache page.
 *
 * The kernel copies a read with `rep movsb`, and on AMD Zen 3 (under KVM
 * at least, as on our machines) that copy runs about 4× slower when the
 * destination is 1 to 31 bytes past the source modulo 4096: 2.2 GB/s instead
 * of 9-11 GB/s. A runtime's large buffers start at a page boundary (Bun) or
 * 16 bytes past one (glibc's mmapped chunks, Node and Deno), so a read of a
 * page-aligned offset into the start of a 1 MiB buffer hit the slow case on
 * Node and Deno. JavaScript cannot see a buffer's address; landing half a
 * page away is fast for any buffer that starts within 2 KiB after a page
 * boundary, and costs nothing elsewhere.
 */
export function landing(pos: number): number {
  return (pos + 2048) & 4095;
}

/** Room for {@link landing}'s offset. */
const LANDING = 4096;

/** Size of the chunk buffers a cursor keeps for reuse: a chunk, its head room and its landing. */
const POOLED = CHUNK + HEAD + LANDING;

/** What {@link FrameCursor.at} returns while the chunk it needs is still being read ahead. */
export const WAIT = "waiting for a chunk read ahead";

/** A chunk being read ahead (see {@link FrameCursor.readAhead}). */
interface Ahead {
  /** File offset of the first byte read; it lands at `buf[at]` (`HEAD` plus its {@link landing}). */
  readonly pos: number;
  readonly at: number;
  readonly buf: Uint8Array;
  /** Bytes read; -1 while the read runs, -2 if it failed (the chunk is then read again, in the foreground). */
  got: number;
  /** Settles (never rejects) when the read ends. */
  readonly done: Promise<void>;
  /** For a chunk of the file to be read next (see {@link FrameCursor.follow}): that file's key. */
  readonly key?: string;
  /** The arena buffer `buf` is (-1: none); `buf` is then stale after a detach, see `FrameCursor#bufOf`. */
  readonly region: number;
}

/** States of an arena buffer. */
const FREE = 0;
/** Holds the chunk in hand or one read ahead (maybe still being read). */
const USED = 1;
/** A read ahead that was dropped while it ran: free once it ends. */
const LOST = 2;

/** The file a cursor reads next (see {@link FrameCursor.follow}). */
interface Next {
  readonly file: () => WalFile;
  readonly key: string;
  readonly pos: number;
  readonly end: number;
}


/**
 * How a cursor treats its chunk buffer when it reads the next chunk:
 * - `"fresh"`: a new buffer per chunk, so subarrays handed out stay valid
 *   for as long as they are referenced;
 * - `{ fresh: alloc }`: the same, with buffers from `alloc` (`WalFs.alloc`,
 *   memory not zeroed): each byte a read leaves is zeroed;
 * - `"reuse"`: one buffer, overwritten (for scans that hand nothing out);
 * - a function: one buffer, detached before it is overwritten (the
 *   function transfers the `ArrayBuffer`, see `WalFs.detach`), so views
 *   handed out of the old chunk become empty instead of showing new bytes.
 */
export type ChunkPolicy = "fresh" | "reuse" | { fresh: (size: number) => Uint8Array } | ((buf: ArrayBuffer) => ArrayBuffer);

/** Reads frames of one file in chunks; see {@link ChunkPolicy} for the chunk buffer's life. */
export class FrameCursor {
  /** Current chunk. */
  buf: Uint8Array = new Uint8Array(0);
  /** File offset of `buf[0]`. */
  bufStart = 0;
  /** Offset in `buf` of the frame found by the last successful {@link at}. */
  off = 0;
  /** File offset up to which {@link verifyRun} found every frame's CRC valid. */
  okEnd = 0;
  /** Below this file offset a run failed: frames are checked one by one. */
  #slowEnd = 0;
  readonly #runs = new CrcRuns();
  readonly h: FrameHeader = new FrameHeader();
  #file: (() => WalFile) | undefined;
  #end: number;
  readonly #policy: ChunkPolicy;
  /** For `{ fresh: alloc }`: where fresh chunk buffers come from (not zeroed). */
  readonly #alloc: ((size: number) => Uint8Array) | undefined;
  /**
   * Chunk buffers free for reuse (policies other than "fresh"): at most two,
   * the one read last and the one read ahead. Under a detaching policy a
   * buffer is detached as it is put back, so views of its old bytes empty.
   */
  readonly #pool: Uint8Array[] = [];
  /** The whole buffer behind `buf` when it may go back to the pool. */
  #cur: Uint8Array | undefined;
  /** True if the next chunk is read ahead, in the background, while this one is consumed. */
  #readAhead = false;
  #ahead: Ahead | undefined;
  /** The file to read ahead into once this one's chunks have all been read. */
  #next: Next | undefined;
  /**
   * Under a detaching policy where our WebAssembly CRC is the one in use:
   * chunk buffers inside its memory, whose CRC it takes without a copy (see
   * `CrcArena`). Taken at the first read, given back by {@link release}.
   */
  #arena: CrcArena | undefined;
  #arenaTried = false;
  /** State of each arena buffer (FREE, USED, LOST). */
  #regions = new Uint8Array(2);
  /** The arena buffer `#cur` is, or -1. */
  #curRegion = -1;
  /** The arena buffer the last {@link #take} gave, or -1. */
  #took = -1;
  /** A freed arena buffer holds bytes that views handed out may still show: detach before it is read into again. */
  #dirty = false;
  /** The arena of a released cursor while a dropped read still runs into it (see {@link release}). */
  #parked: CrcArena | undefined;
  /** Bytes of the next read (see {@link FIRST_CHUNK}); doubles per read up to {@link CHUNK}. */
  #span = FIRST_CHUNK;

  /**
   * @param file gives the file to read, looked up per chunk so a handle
   *   evicted from the LRU in between is reopened (undefined when `whole`
   *   holds it all)
   * @param end the file offset where frames stop (file size or written size)
   * @param whole optional in-memory bytes of the whole file (mmap path)
   * @param policy what happens to the chunk buffer on the next read
   */
  constructor(file: (() => WalFile) | undefined, end: number, whole?: Uint8Array, policy: ChunkPolicy = "fresh") {
    this.#file = file;
    this.#end = end;
    this.#policy = policy;
    this.#alloc = typeof policy === "object" ? policy.fresh : undefined;
    if (whole !== undefined) this.buf = whole.subarray(0, end);
  }

  /** The limit this cursor reads to. */
  get end(): number {
    return this.#end;
  }

  /**
   * Reads each next chunk ahead, through `WalFile.readAsync` where the file
   * has it, while the current one is consumed; {@link at} then returns
   * {@link WAIT} when the frame it wants lies in a chunk still being read,
   * and {@link pending} settles when it is in. For iterators that can wait:
   * the copy from the page cache runs on the runtime's I/O thread while
   * this one checks CRCs and hands out entries.
   */
  readAhead(): void {
    this.#readAhead = true;
  }

  /** True once {@link readAhead} was called. */
  get readsAhead(): boolean {
    return this.#readAhead;
  }

  /** The read ahead that {@link at} returned {@link WAIT} for; settles, never rejects. */
  get pending(): Promise<void> | undefined {
    return this.#ahead?.done;
  }

  /**
   * Names the file this cursor will be {@link reset} to when the current one
   * is read to its end, and where reading it will start: once the last
   * chunk of the current file is in, the first chunk of that one is read
   * ahead, so moving from one segment to the next need not wait for a read.
   * Used only when reading ahead; forgotten on {@link reset}. Call it
   * right after the reset to the current file, before its first chunk is in.
   *
   * @param key names the file; a reset with the same key keeps that chunk
   */
  follow(file: () => WalFile, key: string, pos: number, end: number): void {
    this.#next = { file, key, pos, end };
  }

  /**
   * Points the cursor at another file (or the same one grown), keeping its
   * chunk buffer. Bytes already in `buf` are not reused across a reset.
   */
  reset(file: (() => WalFile) | undefined, end: number, whole?: Uint8Array, key?: string): void {
    this.#file = file;
    this.#end = end;
    this.#next = undefined;
    this.bufStart = 0;
    this.off = 0;
    this.okEnd = 0;
    this.#slowEnd = 0;
    const a = this.#ahead;
    if (a !== undefined && a.key !== undefined && a.key === key && whole === undefined && a.pos < end) {
      // The chunk read ahead (see follow) is this file's: it follows on from an empty chunk at its start.
      this.bufStart = a.pos;
    } else {
      this.#dropAhead();
    }
    this.#retire();
    this.buf = whole !== undefined ? whole.subarray(0, end) : new Uint8Array(0);
  }

  /**
   * Positions on the frame at file offset `pos`: parses and bounds-checks the
   * header and makes the whole frame available in `buf` at `off`. Returns ""
   * on success, "end" at exactly `end`, else the reason the bytes at `pos`
   * are not a frame. The CRC is not checked here (see {@link crcOk}).
   */
  at(pos: number): string {
    if (pos >= this.#end) return pos === this.#end ? "end" : "past end";
    if (pos + FRAME_HEADER > this.#end) return "partial frame header";
    if (!this.#ensure(pos, FRAME_HEADER)) return WAIT;
    const why = parseFrameHeader(this.buf, this.off, this.h);
    if (why !== "") return why;
    const total = FRAME_HEADER + this.h.storedLen;
    if (pos + total > this.#end) return "frame extends past the end of the file";
    if (!this.#ensure(pos, total)) return WAIT;
    return "";
  }

  /**
   * True if the frame found by the last {@link at} has a valid CRC;
   * `payload` may pass its {@link payload} view, if already made.
   */
  crcOk(payload?: Uint8Array): boolean {
    return frameCrcOk(this.buf, this.off, this.h, payload);
  }

  /**
   * Checks the CRCs of the frame found by the last {@link at} (at file
   * offset `pos`) and of the whole frames after it in `buf`, up to about
   * 1 MiB, with one call of the runtime's CRC over the run instead of one
   * per frame: the run's expected CRC is folded from the frames' stored
   * CRCs (each frame's CRC covers its bytes 4 to end; the CRC fields
   * between them are folded in as data). On a match every frame of the run
   * is valid and {@link okEnd} moves past it; returns how many frames that
   * is. Returns 0 when there is no run of two frames to check, or on a
   * mismatch, which leaves each frame of the run to be checked alone (so
   * the bad one is named) and runs off until its end.
   */
  verifyRun(pos: number): number {
    if (pos < this.#slowEnd) return 0;
    const buf = this.buf;
    const o = this.off;
    const limit = Math.min(buf.length, this.#end - this.bufStart, o + RUN);
    let end = o + FRAME_HEADER + getU32(buf, o + 4);
    let expect = getU32(buf, o);
    let n = 1;
    while (end + FRAME_HEADER <= limit) {
      const e = end;
      const len = FRAME_HEADER - 4 + ((buf[e + 4] | (buf[e + 5] << 8) | (buf[e + 6] << 16) | (buf[e + 7] << 24)) >>> 0);
      if (e + 4 + len > limit) break;
      // The run's CRC goes on through this frame's CRC field (data here), then over
      // the bytes that field covers, whose CRC alone is the field's value.
      const crc = (buf[e] | (buf[e + 1] << 8) | (buf[e + 2] << 16) | (buf[e + 3] << 24)) >>> 0;
      const x = this.#runs.shift(crc32U32(expect, crc), len);
      if (x < 0) break;
      expect = (x ^ crc) >>> 0;
      end = e + 4 + len;
      n++;
    }
    if (n < 2) return 0;
    const run = buf.subarray(o + 4, end);
    if ((this.#arena !== undefined ? this.#arena.crc(run, 0, crc32) : crc32(run)) !== expect) {
      this.#slowEnd = this.bufStart + end;
      return 0;
    }
    this.okEnd = this.bufStart + end;
    return n;
  }

  /** The stored payload of the frame found by the last {@link at}. */
  payload(): Uint8Array {
    const s = this.off + FRAME_HEADER;
    return this.buf.subarray(s, s + this.h.storedLen);
  }

  /**
   * Makes bytes `pos` to `pos + n` available in `buf` at `off`: from the
   * chunk in hand, the chunk read ahead, or a read now. False (nothing
   * changed) while the chunk read ahead that holds them is still being read.
   */
  #ensure(pos: number, n: number): boolean {
    const rel = pos - this.bufStart;
    if (rel >= 0 && rel + n <= this.buf.length) {
      this.off = rel;
      return true;
    }
    if (this.#file === undefined) throw new Error("cursor: in-memory view too short");
    const a = this.#ahead;
    if (a !== undefined) {
      // The frame at `pos` starts in this chunk (or at its end) and goes on into the next.
      const s = a.pos - pos;
      if (rel >= 0 && s >= 0 && s <= HEAD && a.pos === this.bufStart + this.buf.length) {
        if (a.got === -1) return false;
        if (s + a.got >= n) {
          let nb = this.#bufOf(a);
          if (s > 0) nb.set(this.buf.subarray(rel), a.at - s);
          this.#ahead = undefined;
          // Frames from `pos` on come from new bytes: what a run verified was in the old ones.
          if (this.okEnd > pos) this.okEnd = pos;
          this.#retire();
          if (a.region >= 0) {
            // Detach the retired buffer's views now, while no read runs into the arena.
            this.#cleanArena();
            nb = this.#bufOf(a);
            this.#curRegion = a.region;
          }
          this.#cur = nb;
          this.buf = nb.subarray(a.at - s, a.at + a.got);
          this.bufStart = pos;
          this.off = 0;
          this.#startAhead();
          return true;
        }
      }
      // Not the chunk wanted, short of it, or failed: read in the foreground.
      this.#dropAhead();
    }
    const len = Math.min(Math.max(this.#grow(), n), this.#end - pos);
    if (this.okEnd > pos) this.okEnd = pos;
    this.#retire();
    const at = landing(pos);
    const b = this.#take(at + len);
    const region = this.#took;
    if (region >= 0) this.#regions[region] = USED;
    const file = this.#file();
    let got: number;
    try {
      got = file.readInto !== undefined ? file.readInto(b, at, len, pos) : file.read(b.subarray(at, at + len), pos);
    } catch (e) {
      if (region >= 0) this.#regions[region] = FREE;
      throw e;
    }
    if (this.#alloc !== undefined) this.#zeroAround(b, at, got);
    this.#cur = b.length <= POOLED ? b : undefined;
    this.#curRegion = region;
    this.buf = b.subarray(at, at + got);
    this.bufStart = pos;
    this.off = 0;
    if (got < n) {
      const err = new Error(`short read at offset ${pos}: wanted ${n} bytes, file gave ${got}`);
      (err as Error & { code: string }).code = "ESHORT";
      throw err;
    }
    if (this.#readAhead) this.#startAhead();
    return true;
  }

  /**
   * Starts reading the chunk after `buf` in the background, if reading ahead
   * and the file can; after the file's last chunk, the first of the file to
   * {@link follow}, if any.
   */
  #startAhead(): void {
    if (!this.#readAhead || this.#span < AHEAD_FROM) return;
    let from = this.bufStart + this.buf.length;
    let len = this.#end - from;
    let open = this.#file!;
    const next = this.#next;
    let key: string | undefined;
    if (len <= 0) {
      if (next === undefined) return;
      this.#next = undefined;
      from = next.pos;
      len = next.end - from;
      if (len <= 0) return;
      open = next.file;
      key = next.key;
    }
    // Reading ahead only saves time: if it cannot start, the chunk is read in
    // the foreground, where errors count.
    let file: WalFile;
    try {
      file = open();
    } catch {
      return;
    }
    if (file.readAsync === undefined) return;
    len = Math.min(this.#grow(), len);
    const at = HEAD + landing(from);
    const buf = this.#take(at + len);
    const region = this.#took;
    let done: Promise<number>;
    try {
      done = file.readAsync(buf, at, len, from);
    } catch {
      // Nothing was read into it: an arena buffer goes back as it was.
      if (region < 0) this.#give(buf);
      return;
    }
    if (region >= 0) this.#regions[region] = USED;
    const ended = (n: number) => {
      if (region >= 0 && this.#regions[region] === LOST) {
        this.#regions[region] = FREE;
        const parked = this.#parked;
        if (parked !== undefined && !this.#regions.includes(LOST)) {
          this.#parked = undefined;
          releaseArena(parked);
        }
      }
      a.got = n;
    };
    const a: Ahead = {
      pos: from,
      at,
      buf,
      got: -1,
      key,
      region,
      done: done.then((n) => {
        // The head room is zeroed here too: a straddling frame's bytes are copied in later.
        if (this.#alloc !== undefined) this.#zeroAround(buf, at, n);
        ended(n);
      }, () => {
        ended(-2);
      }),
    };
    this.#ahead = a;
  }

  /** Forgets the chunk read ahead; its buffer is reused only if its read is over. */
  #dropAhead(): void {
    const a = this.#ahead;
    if (a === undefined) return;
    this.#ahead = undefined;
    if (a.region >= 0) {
      if (a.got === -1) {
        this.#regions[a.region] = LOST;
      } else {
        this.#regions[a.region] = FREE;
        this.#dirty = true;
      }
    } else if (a.got !== -1) {
      this.#give(a.buf);
    }
  }

  /** Puts the buffer behind `buf` back in the pool (the caller replaces `buf`). */
  #retire(): void {
    const c = this.#cur;
    if (c === undefined) return;
    this.#cur = undefined;
    if (this.#curRegion >= 0) {
      this.#regions[this.#curRegion] = FREE;
      this.#curRegion = -1;
      this.#dirty = true;
    } else {
      this.#give(c);
    }
  }

  /** The chunk buffer of a read ahead, as a live view (an arena's views die at each detach). */
  #bufOf(a: Ahead): Uint8Array {
    return a.region >= 0 ? this.#arena!.view(a.region) : a.buf;
  }

  /**
   * Detaches the views of the arena's freed buffers (all its views die:
   * callers then make new ones of what they keep), if some may show bytes
   * a read is about to replace. False, with nothing done, while a dropped
   * read still runs into the arena: its bytes would land in detached memory.
   */
  #cleanArena(): boolean {
    if (!this.#dirty) return true;
    if (this.#regions.includes(LOST)) return false;
    const c = this.#curRegion;
    // Where `buf` lies in the chunk in hand, for a new view of the same bytes.
    const start = c >= 0 ? this.buf.byteOffset - this.#cur!.byteOffset : 0;
    const length = this.buf.length;
    this.#arena!.detach();
    this.#dirty = false;
    if (c >= 0) {
      const v = this.#arena!.view(c);
      this.buf = v.subarray(start, start + length);
      this.#cur = v;
    }
    return true;
  }

  /**
   * Gives back what the cursor holds for good (the reader is done): an arena
   * goes back for the next reader unless a read still runs into it. The
   * cursor must not read again.
   */
  release(): void {
    const arena = this.#arena;
    this.#dropAhead();
    this.#retire();
    this.buf = new Uint8Array(0);
    this.#pool.length = 0;
    if (arena === undefined) return;
    this.#arena = undefined;
    if (!this.#regions.includes(LOST)) {
      releaseArena(arena);
      return;
    }
    // A dropped read still runs into it. Its views are emptied now, as promised
    // (the read writes into the module's memory, which `#parked` keeps alive);
    // it goes back for another reader once that read ends.
    arena.detach();
    this.#parked = arena;
  }

  /** The length of the read about to be made: {@link #span}, which then doubles up to {@link CHUNK}. */
  #grow(): number {
    const n = this.#span;
    if (n < CHUNK) this.#span = Math.min(2 * n, CHUNK);
    return n;
  }

  /** Zeroes `b` outside `[at, at + got)`, the bytes a read of uninitialized memory filled. */
  #zeroAround(b: Uint8Array, at: number, got: number): void {
    b.fill(0, 0, at);
    if (got < 0) got = 0;
    if (at + got < b.length) b.fill(0, at + got);
  }

  /**
   * Keeps `b` for reuse (policies that reuse), detached first under a
   * detaching one, even if it is not kept: views handed out of it then read
   * as empty, as promised. With two kept, the smaller goes: the first, short
   * reads (see {@link FIRST_CHUNK}) leave small buffers that must not hold
   * the places of whole chunks' buffers.
   */
  #give(b: Uint8Array): void {
    const policy = this.#policy;
    if (policy !== "reuse" && typeof policy !== "function") return;
    const kept = policy === "reuse" ? b : new Uint8Array(policy(b.buffer as ArrayBuffer));
    const pool = this.#pool;
    let i = pool.length;
    if (i >= 2) {
      i = pool[0].length <= pool[1].length ? 0 : 1;
      if (pool[i].length >= kept.length) return;
    }
    pool[i] = kept;
  }

  /**
   * A buffer of at least `len` bytes for a chunk, per the policy; `#took`
   * says which arena buffer it is (-1: none), which the caller marks USED.
   */
  #take(len: number): Uint8Array {
    this.#took = -1;
    if (this.#alloc !== undefined) return this.#alloc(len);
    if (typeof this.#policy === "function" && len <= POOLED) {
      if (!this.#arenaTried) {
        this.#arenaTried = true;
        this.#arena = takeArena(this.#regions.length, POOLED);
      }
      const i = this.#arena !== undefined ? this.#regions.indexOf(FREE) : -1;
      if (i >= 0 && this.#cleanArena()) {
        this.#took = i;
        return this.#arena!.view(i);
      }
    }
    // A frame larger than a chunk gets a buffer of its own, never kept.
    if (this.#policy === "fresh" || len > POOLED) return new Uint8Array(len);
    const pool = this.#pool;
    for (let i = pool.length - 1; i >= 0; i--) {
      const b = pool[i];
      if (b.length >= len) {
        pool[i] = pool[pool.length - 1];
        pool.pop();
        return b;
      }
    }
    // Sized to what this file needs (a small segment or tail), else a whole chunk and its head room.
    return new Uint8Array(len < CHUNK / 2 ? Math.max(len, 64 * 1024) : POOLED);
  }
}
