/**
 * Frames: the unit written to a segment, one per append or batch. See
 * FORMAT.md §3 for the byte layout and the reasons behind it.
 *
 * ```
 * off size field
 *   0   4  crc        CRC-32 of bytes [4, 32) and of the stored payload
 *   4   4  storedLen  payload bytes on disk
 *   8   4  rawLen     payload bytes after decompression
 *  12   4  count      entries in the frame (>= 1)
 *  16   8  firstId    id of the frame's first entry
 *  24   4  durable    bytes of this segment known durable when the frame was written
 *  28   1  codec      0 none, 1 lz4 block, 2 raw deflate
 *  29   1  flags      0
 *  30   2  marker     0x57 0x49 ("WI")
 * ```
 * Raw payload: one entry's bytes when count = 1; else count u32 lengths
 * followed by the entries' bytes.
 *
 * @module
 */

import { crc32, crc32Range } from "./crc32.ts";
import { getU32, putU32, putU53 } from "./bytes.ts";

/** Bytes in a frame header. */
export const FRAME_HEADER = 32;
/** Largest payload (stored or raw) a frame may hold: 256 MiB. */
export const MAX_FRAME_PAYLOAD = 256 * 1024 * 1024;
/** Most entries one frame may hold. */
export const MAX_FRAME_ENTRIES = 16 * 1024 * 1024;

/** Codec byte values. */
export const CODEC_NONE = 0;
export const CODEC_LZ4 = 1;
export const CODEC_DEFLATE = 2;

const MARKER0 = 0x57;
const MARKER1 = 0x49;

/** A decoded frame header (mutable, reused in hot loops). */
export class FrameHeader {
  crc = 0;
  storedLen = 0;
  rawLen = 0;
  count = 0;
  firstId = 0;
  durable = 0;
  codec = 0;
}

/**
 * Writes every header field except `crc` and `durable`, which
 * {@link sealFrame} fills in when the frame's place on disk is known.
 */
export function writeFrameHeader(
  buf: Uint8Array,
  off: number,
  storedLen: number,
  rawLen: number,
  count: number,
  firstId: number,
  codec: number,
): void {
  putU32(buf, off + 4, storedLen);
  putU32(buf, off + 8, rawLen);
  putU32(buf, off + 12, count);
  putU53(buf, off + 16, firstId);
  buf[off + 28] = codec;
  buf[off + 29] = 0;
  buf[off + 30] = MARKER0;
  buf[off + 31] = MARKER1;
}

/** Fills in `durable` and the CRC of a frame of `total` bytes at `off`. */
export function sealFrame(buf: Uint8Array, off: number, total: number, durable: number): void {
  putU32(buf, off + 24, Math.min(durable, 0xffffffff));
  putU32(buf, off, crc32(buf.subarray(off + 4, off + total)));
}

/** Sets the frame's first id (used when ids are re-based before a write). */
export function setFrameFirstId(buf: Uint8Array, off: number, firstId: number): void {
  putU53(buf, off + 16, firstId);
}

/**
 * Parses a header at `off` into `h` and checks what can be checked without
 * the payload. Returns an empty string when plausible, else why not.
 */
export function parseFrameHeader(buf: Uint8Array, off: number, h: FrameHeader): string {
  if (buf[off + 30] !== MARKER0 || buf[off + 31] !== MARKER1) return "bad frame marker";
  // Fields read inline (hot in iteration; not every engine inlines getU32).
  const b = buf;
  const o = off;
  h.crc = (b[o] | (b[o + 1] << 8) | (b[o + 2] << 16) | (b[o + 3] << 24)) >>> 0;
  h.storedLen = (b[o + 4] | (b[o + 5] << 8) | (b[o + 6] << 16) | (b[o + 7] << 24)) >>> 0;
  h.rawLen = (b[o + 8] | (b[o + 9] << 8) | (b[o + 10] << 16) | (b[o + 11] << 24)) >>> 0;
  h.count = (b[o + 12] | (b[o + 13] << 8) | (b[o + 14] << 16) | (b[o + 15] << 24)) >>> 0;
  const idHi = (b[o + 20] | (b[o + 21] << 8) | (b[o + 22] << 16) | (b[o + 23] << 24)) >>> 0;
  h.firstId = idHi > 0x1fffff ? -1 : idHi * 0x100000000 + ((b[o + 16] | (b[o + 17] << 8) | (b[o + 18] << 16) | (b[o + 19] << 24)) >>> 0);
  h.durable = (b[o + 24] | (b[o + 25] << 8) | (b[o + 26] << 16) | (b[o + 27] << 24)) >>> 0;
  h.codec = buf[off + 28];
  if (buf[off + 29] !== 0) return "unknown frame flags";
  if (h.codec > CODEC_DEFLATE) return `unknown codec ${h.codec}`;
  if (h.firstId < 0) return "frame id out of range";
  if (h.count < 1 || h.count > MAX_FRAME_ENTRIES) return `bad entry count ${h.count}`;
  if (h.storedLen > MAX_FRAME_PAYLOAD || h.rawLen > MAX_FRAME_PAYLOAD) return "frame too large";
  if (h.codec === CODEC_NONE && h.storedLen !== h.rawLen) return "length mismatch";
  if (h.count > 1 && h.rawLen < 4 * h.count) return "batch table does not fit";
  return "";
}

/**
 * True if the CRC of the frame (header at `off`, payload after it) matches.
 * `payload`, if given, must be that frame's stored payload (a view the
 * caller needs anyway): the header's 28 bytes are summed by table and the
 * payload by the runtime's CRC, with no view made here.
 */
export function frameCrcOk(buf: Uint8Array, off: number, h: FrameHeader, payload?: Uint8Array): boolean {
  const p = payload ?? buf.subarray(off + FRAME_HEADER, off + FRAME_HEADER + h.storedLen);
  return crc32(p, crc32Range(buf, off + 4, off + FRAME_HEADER)) === h.crc;
}

/**
 * The byte ranges of the entries of a decoded (raw) payload: calls
 * `each(start, end)` for each entry in order. Returns false if the length
 * table does not add up (corruption that passed the CRC: a writer bug).
 */
export function batchBounds(raw: Uint8Array, count: number, out: Float64Array | number[]): boolean {
  if (count === 1) {
    out[0] = 0;
    out[1] = raw.length;
    return true;
  }
  let pos = 4 * count;
  for (let k = 0; k < count; k++) {
    const len = getU32(raw, 4 * k);
    out[2 * k] = pos;
    pos += len;
    if (pos > raw.length) return false;
    out[2 * k + 1] = pos;
  }
  return pos === raw.length;
}

/** Start and end of entry `k` in a raw batch payload, or undefined if the table is bad. */
export function entryRange(raw: Uint8Array, count: number, k: number): [number, number] | undefined {
  if (count === 1) return [0, raw.length];
  let pos = 4 * count;
  for (let j = 0; j < k; j++) pos += getU32(raw, 4 * j);
  const end = pos + getU32(raw, 4 * k);
  if (end > raw.length) return undefined;
  return [pos, end];
}
