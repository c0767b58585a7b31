/**
 * Sequential frame reading in large chunks, shared by recovery, index
 * rebuilds and iteration.
 *
 * @module
 */

import type { WalFile } from "../io.ts";
import { FRAME_HEADER, FrameHeader, frameCrcOk, parseFrameHeader } from "../format/frame.ts";

/** Bytes read per chunk when scanning or iterating. */
export const CHUNK = 1024 * 1024;

/**
 * Reads frames of one file in chunks. Each chunk is a fresh buffer, so
 * subarrays handed out stay valid after the cursor moves on.
 */
export class FrameCursor {
  /** Current chunk. */
  buf: Uint8Array = new Uint8Array(0);
  /** File offset of `buf[0]`. */
  bufStart = 0;
  /** Offset in `buf` of the frame found by the last successful {@link at}. */
  off = 0;
  readonly h: FrameHeader = new FrameHeader();
  readonly #file: (() => WalFile) | undefined;
  readonly #end: number;

  /**
   * @param file gives the file to read, looked up per chunk so a handle
   *   evicted from the LRU in between is reopened (undefined when `whole`
   *   holds it all)
   * @param end the file offset where frames stop (file size or written size)
   * @param whole optional in-memory bytes of the whole file (mmap path)
   */
  constructor(file: (() => WalFile) | undefined, end: number, whole?: Uint8Array) {
    this.#file = file;
    this.#end = end;
    if (whole !== undefined) {
      this.buf = whole.subarray(0, end);
      this.bufStart = 0;
    }
  }

  /** The limit this cursor reads to. */
  get end(): number {
    return this.#end;
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

  /** True if the frame found by the last {@link at} has a valid CRC. */
  crcOk(): boolean {
    return frameCrcOk(this.buf, this.off, this.h);
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
    const b = new Uint8Array(len);
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
}
