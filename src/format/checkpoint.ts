/**
 * The bytes of ShardedWal's files (FORMAT.md §7-§8): the shard meta file
 * `SHARDS`, the records of `checkpoints.log` and the `HEAD` pointer.
 *
 * Every structure ends with a CRC-32 of all the bytes before it; lengths are
 * checked against fixed bounds before anything is allocated.
 *
 * @module
 */

import { crc32 } from "./crc32.ts";
import { getU16, getU32, getU53, putU16, putU32, putU53 } from "./bytes.ts";

/** Most shards a ShardedWal may have. */
export const MAX_SHARDS = 65536;
/** Longest checkpoint id in bytes (it must also be non-empty). */
export const MAX_CHECKPOINT_ID = 65535;

/** "IWSM": magic of the `SHARDS` meta file. */
const META_MAGIC = 0x4d535749;
/** Size of the `SHARDS` meta file. */
export const META_SIZE = 20;
/** Routing algorithm 1: xxHash32 (seed 0) of the key bytes, modulo the shard count. */
export const ROUTING_XXH32 = 1;

/** "IWCP": magic of a checkpoint record. */
const RECORD_MAGIC = 0x50435749;
/** Fixed part of a record: magic, length, idLen, version, timestamp, shardCount; then the CRC. */
export const RECORD_FIXED = 24;
/** Smallest record: 1 shard, 1-byte id. */
export const RECORD_MIN = RECORD_FIXED + 8 + 1 + 4;
/** Largest record. */
export const RECORD_MAX = RECORD_FIXED + 8 * MAX_SHARDS + MAX_CHECKPOINT_ID + 4;
const RECORD_VERSION = 1;

/** "IWHD": magic of the `HEAD` file. */
const HEAD_MAGIC = 0x44485749;
/** Size of the `HEAD` file. */
export const HEAD_SIZE = 28;
const HEAD_VERSION = 1;

/** What the `SHARDS` meta file says. */
export interface ShardMeta {
  shardCount: number;
  routing: number;
}

/** Encodes the `SHARDS` meta file. */
export function encodeShardMeta(shardCount: number): Uint8Array {
  const b = new Uint8Array(META_SIZE);
  putU32(b, 0, META_MAGIC);
  putU16(b, 4, 1);
  putU16(b, 6, 0);
  putU32(b, 8, shardCount);
  putU32(b, 12, ROUTING_XXH32);
  putU32(b, 16, crc32(b.subarray(0, 16)));
  return b;
}

/** Decodes the `SHARDS` meta file, or says what is wrong with it. */
export function decodeShardMeta(b: Uint8Array): ShardMeta | string {
  if (b.length !== META_SIZE) return `size ${b.length}, expected ${META_SIZE}`;
  if (getU32(b, 0) !== META_MAGIC) return "bad magic";
  if (getU32(b, 16) !== crc32(b.subarray(0, 16))) return "CRC mismatch";
  if (getU16(b, 4) !== 1) return `unknown version ${getU16(b, 4)}`;
  const shardCount = getU32(b, 8);
  const routing = getU32(b, 12);
  if (shardCount < 1 || shardCount > MAX_SHARDS) return `shard count ${shardCount} out of range`;
  if (routing !== ROUTING_XXH32) return `unknown routing algorithm ${routing}`;
  return { shardCount, routing };
}

/** A decoded checkpoint record. */
export interface CheckpointRecord {
  id: Uint8Array;
  timestamp: number;
  shardCount: number;
  offsets: number[];
  /** The record's trailing CRC-32 (HEAD names a record by it). */
  crc: number;
}

/** The length of the record of an id of `idLen` bytes over `shardCount` shards. */
export function recordLength(idLen: number, shardCount: number): number {
  return RECORD_FIXED + 8 * shardCount + idLen + 4;
}

/** Encodes one checkpoint record. Arguments are assumed valid (checked by the caller). */
export function encodeCheckpointRecord(id: Uint8Array, timestamp: number, offsets: number[]): Uint8Array {
  const n = offsets.length;
  const len = recordLength(id.length, n);
  const b = new Uint8Array(len);
  putU32(b, 0, RECORD_MAGIC);
  putU32(b, 4, len);
  putU16(b, 8, id.length);
  putU16(b, 10, RECORD_VERSION);
  putU53(b, 12, timestamp);
  putU32(b, 20, n);
  let p = RECORD_FIXED;
  for (let i = 0; i < n; i++, p += 8) putU53(b, p, offsets[i]);
  b.set(id, p);
  putU32(b, len - 4, crc32(b.subarray(0, len - 4)));
  return b;
}

/**
 * The length a record header at `b[o..]` claims, after checking magic and
 * bounds (needs 24 bytes at `o`), or what is wrong with it.
 */
export function peekRecordLength(b: Uint8Array, o: number): number | string {
  if (o + RECORD_FIXED > b.length) return "partial record header";
  if (getU32(b, o) !== RECORD_MAGIC) return "bad record magic";
  const len = getU32(b, o + 4);
  const idLen = getU16(b, o + 8);
  const n = getU32(b, o + 20);
  if (idLen < 1) return "empty checkpoint id";
  if (n < 1 || n > MAX_SHARDS) return `shard count ${n} out of range`;
  if (len !== recordLength(idLen, n)) return `record length ${len} does not match its id and shard count`;
  return len;
}

/** Decodes the record at `b[o..]` (CRC checked), or says what is wrong with it. */
export function decodeCheckpointRecord(b: Uint8Array, o: number): CheckpointRecord | string {
  const len = peekRecordLength(b, o);
  if (typeof len === "string") return len;
  if (o + len > b.length) return `record of ${len} bytes runs past the end of the data (${b.length - o} bytes left)`;
  const crc = getU32(b, o + len - 4);
  if (crc !== crc32(b.subarray(o, o + len - 4))) return "CRC mismatch";
  if (getU16(b, o + 10) !== RECORD_VERSION) return `unknown record version ${getU16(b, o + 10)}`;
  const idLen = getU16(b, o + 8);
  const timestamp = getU53(b, o + 12);
  const n = getU32(b, o + 20);
  if (timestamp < 0) return "timestamp beyond 2^53";
  const offsets = new Array<number>(n);
  let p = o + RECORD_FIXED;
  for (let i = 0; i < n; i++, p += 8) {
    const v = getU53(b, p);
    if (v < 0) return `offset of shard ${i} beyond 2^53`;
    offsets[i] = v;
  }
  return { id: b.slice(p, p + idLen), timestamp, shardCount: n, offsets, crc };
}

/** Where `HEAD` says the newest checkpoint record is. */
export interface HeadPointer {
  /** Byte offset of the record in `checkpoints.log`. */
  offset: number;
  /** Its length in bytes. */
  length: number;
  /** Its trailing CRC-32. */
  crc: number;
}

/** Encodes the `HEAD` file. */
export function encodeHead(h: HeadPointer): Uint8Array {
  const b = new Uint8Array(HEAD_SIZE);
  putU32(b, 0, HEAD_MAGIC);
  putU16(b, 4, HEAD_VERSION);
  putU16(b, 6, 0);
  putU53(b, 8, h.offset);
  putU32(b, 16, h.length);
  putU32(b, 20, h.crc);
  putU32(b, 24, crc32(b.subarray(0, 24)));
  return b;
}

/** Decodes the `HEAD` file, or says what is wrong with it. */
export function decodeHead(b: Uint8Array): HeadPointer | string {
  if (b.length !== HEAD_SIZE) return `size ${b.length}, expected ${HEAD_SIZE}`;
  if (getU32(b, 0) !== HEAD_MAGIC) return "bad magic";
  if (getU32(b, 24) !== crc32(b.subarray(0, 24))) return "CRC mismatch";
  if (getU16(b, 4) !== HEAD_VERSION) return `unknown version ${getU16(b, 4)}`;
  const offset = getU53(b, 8);
  const length = getU32(b, 16);
  if (offset < 0 || length < RECORD_MIN || length > RECORD_MAX) return "offset or length out of range";
  return { offset, length, crc: getU32(b, 20) };
}
