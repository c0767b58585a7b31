/**
 * Sequential frame reading in large chunks, shared by recovery, index
 * rebuilds and iteration.
 *
 * @module
 */

import type { WalFile } from "../io.ts";
import { FRAME_HEADER, FrameHeader, frameCrcOk, parseFrameHeader } from "../format/frame.ts";
import { crc32, crc32U32, CrcRuns } from "../format/crc32.ts";

/** Bytes read per chunk when scanning or iterating. */
export const CHUNK = 1024 * 1024;

/** Most bytes one {@link FrameCursor.verifyRun} checks with one CRC call. */
const RUN = 1024 * 1024;


function u32(b: Uint8Array, o: number): number {
  return (b[o] | (b[o + 1] << 8) | (b[o + 2] << 16) | (b[o + 3] << 24)) >>> 0;
}

/**
 * How a cursor treats its chunk buffer when it reads the next chunk:
 * - `"fresh"`: a new buffer per chunk, so subarrays handed out stay valid
 *   for as long as they are referenced;
 * - `"reuse"`: one buffer, overwritten (for scans that hand nothing out);
 * - a function: one buffer, detached before it is overwritten (the
 *   function transfers the `ArrayBuffer`, see `WalFs.detach`), so views
 *   handed out of the old chunk become empty instead of showing new bytes.
 */
export type ChunkPolicy = "fresh" | "reuse" | ((buf: ArrayBuffer) => ArrayBuffer);

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
  /** The reusable chunk buffer (policies other than "fresh"). */
  #own: Uint8Array | undefined;

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
    if (whole !== undefined) this.buf = whole.subarray(0, end);
  }

  /** The limit this cursor reads to. */
  get end(): number {
    return this.#end;
  }

  /**
   * Points the cursor at another file (or the same one grown), keeping its
   * chunk buffer. Bytes already in `buf` are not reused across a reset.
   */
  reset(file: (() => WalFile) | undefined, end: number, whole?: Uint8Array): void {
    this.#file = file;
    this.#end = end;
    this.bufStart = 0;
    this.off = 0;
    this.okEnd = 0;
    this.#slowEnd = 0;
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
    this.#ensure(pos, FRAME_HEADER);
    const why = parseFrameHeader(this.buf, this.off, this.h);
    if (why !== "") return why;
    const total = FRAME_HEADER + this.h.storedLen;
    if (pos + total > this.#end) return "frame extends past the end of the file";
    this.#ensure(pos, total);
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
    let end = o + FRAME_HEADER + u32(buf, o + 4);
    let expect = u32(buf, o);
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
    if (crc32(buf.subarray(o + 4, end)) !== expect) {
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

  #ensure(pos: number, n: number): void {
    const rel = pos - this.bufStart;
    if (rel >= 0 && rel + n <= this.buf.length) {
      this.off = rel;
      return;
    }
    if (this.#file === undefined) throw new Error("cursor: in-memory view too short");
    const len = Math.min(Math.max(CHUNK, n), this.#end - pos);
    // Frames from `pos` on come from new bytes: what a run verified was in the old ones.
    if (this.okEnd > pos) this.okEnd = pos;
    const b = this.#chunk(len);
    const got = this.#file().read(b, pos);
    this.buf = got === len ? b : b.subarray(0, got);
    this.bufStart = pos;
    this.off = 0;
    if (got < n) {
      const err = new Error(`short read at offset ${pos}: wanted ${n} bytes, file gave ${got}`);
      (err as Error & { code: string }).code = "ESHORT";
      throw err;
    }
  }

  /** A buffer of `len` bytes for the next chunk, per the policy. */
  #chunk(len: number): Uint8Array {
    const policy = this.#policy;
    // A frame larger than a chunk gets a buffer of its own, never kept.
    if (policy === "fresh" || len > CHUNK) return new Uint8Array(len);
    let own = this.#own;
    if (own === undefined || own.length < len) {
      // Sized to what this file needs (a small segment or tail), grown on demand.
      own = this.#own = new Uint8Array(len < CHUNK / 2 ? Math.max(len, 64 * 1024) : CHUNK);
    } else if (policy !== "reuse") {
      own = this.#own = new Uint8Array(policy(own.buffer as ArrayBuffer));
    }
    return own.length === len ? own : own.subarray(0, len);
  }
}
