/**
 * Segment files, their names and headers, and the index file of a sealed
 * segment. See FORMAT.md §2 and §4.
 *
 * @module
 */

import { crc32 } from "./crc32.ts";
import { getU16, getU32, getU53, putU16, putU32, putU53 } from "./bytes.ts";

/** Bytes in a segment header. */
export const SEGMENT_HEADER = 32;
/** Current format version. */
export const FORMAT_VERSION = 1;
/** First 8 bytes of every segment: 0x89 "IWAL" \r \n 0x1a. */
const SEG_MAGIC = [0x89, 0x49, 0x57, 0x41, 0x4c, 0x0d, 0x0a, 0x1a];
/** First 8 bytes of every index file: 0x89 "IIDX" \r \n 0x1a. */
const IDX_MAGIC = [0x89, 0x49, 0x49, 0x44, 0x58, 0x0d, 0x0a, 0x1a];

const NAME_RE = /^(\d{20})\.wal$/;

/** The file name of the segment whose first id is `firstId`. */
export function segmentName(firstId: number): string {
  return String(firstId).padStart(20, "0") + ".wal";
}

/** The first id encoded in a segment file name, or -1 if it is not one. */
export function parseSegmentName(name: string): number {
  const m = NAME_RE.exec(name);
  if (!m) return -1;
  const n = Number(m[1]);
  return Number.isSafeInteger(n) ? n : -1;
}

/** The index file name of a segment file name. */
export function indexName(segName: string): string {
  return segName.slice(0, -4) + ".idx";
}

/** Encodes a segment header for a segment starting at `firstId`. */
export function encodeSegmentHeader(firstId: number): Uint8Array {
  const b = new Uint8Array(SEGMENT_HEADER);
  b.set(SEG_MAGIC, 0);
  putU16(b, 8, FORMAT_VERSION);
  putU16(b, 10, 0);
  putU53(b, 16, firstId);
  putU32(b, 28, crc32(b.subarray(0, 28)));
  return b;
}

/**
 * Decodes a segment header. Returns its first id, or a string saying why the
 * bytes are not a valid header.
 */
export function decodeSegmentHeader(b: Uint8Array): number | string {
  if (b.length < SEGMENT_HEADER) return `header is ${b.length} bytes, need ${SEGMENT_HEADER}`;
  for (let i = 0; i < 8; i++) if (b[i] !== SEG_MAGIC[i]) return "bad magic (not an ironwal segment)";
  if (getU32(b, 28) !== crc32(b.subarray(0, 28))) return "header checksum mismatch";
  const version = getU16(b, 8);
  if (version !== FORMAT_VERSION) return `unsupported format version ${version}`;
  const first = getU53(b, 16);
  if (first < 0) return "first id out of range";
  return first;
}

/**
 * The index of a sealed segment: for each frame, its first id relative to
 * the segment and its byte offset. `segmentSize` ties it to the segment it
 * describes: an index whose size does not match is stale and rebuilt.
 */
export interface SegmentIndex {
  segmentSize: number;
  entries: number;
  frames: number;
  /** Relative first id of each frame. */
  relIds: Uint32Array;
  /** Byte offset of each frame. */
  offsets: Float64Array;
}

/** Encodes an index file (FORMAT.md §4). */
export function encodeIndex(ix: SegmentIndex): Uint8Array {
  const n = ix.frames;
  const b = new Uint8Array(32 + n * 12 + 4);
  b.set(IDX_MAGIC, 0);
  putU16(b, 8, FORMAT_VERSION);
  putU32(b, 12, n);
  putU53(b, 16, ix.segmentSize);
  putU53(b, 24, ix.entries);
  let o = 32;
  for (let i = 0; i < n; i++) {
    putU32(b, o, ix.relIds[i]);
    putU53(b, o + 4, ix.offsets[i]);
    o += 12;
  }
  putU32(b, o, crc32(b.subarray(0, o)));
  return b;
}

/** Decodes an index file; undefined if damaged in any way (it is then rebuilt). */
export function decodeIndex(b: Uint8Array): SegmentIndex | undefined {
  if (b.length < 36) return undefined;
  for (let i = 0; i < 8; i++) if (b[i] !== IDX_MAGIC[i]) return undefined;
  if (getU16(b, 8) !== FORMAT_VERSION) return undefined;
  const n = getU32(b, 12);
  if (b.length !== 32 + n * 12 + 4) return undefined;
  const end = 32 + n * 12;
  if (getU32(b, end) !== crc32(b.subarray(0, end))) return undefined;
  const segmentSize = getU53(b, 16);
  const entries = getU53(b, 24);
  if (segmentSize < 0 || entries < 0) return undefined;
  const relIds = new Uint32Array(n);
  const offsets = new Float64Array(n);
  let o = 32;
  for (let i = 0; i < n; i++) {
    relIds[i] = getU32(b, o);
    offsets[i] = getU53(b, o + 4);
    o += 12;
  }
  return { segmentSize, entries, frames: n, relIds, offsets };
}
