/**
 * `Record`: key/value records for logs that feed a key/value store
 * (nori-wal's record type), encoded into one entry each.
 *
 * ```
 * byte 0       flags: bit 0 tombstone, bit 1 has TTL
 * varint       key length, then the key
 * varint       value length, then the value (absent for a tombstone)
 * 8 bytes LE   expiresAt, ms since the epoch (only with the TTL bit)
 * ```
 *
 * @module
 */

import { WalError } from "./errors.ts";
import { getU53, putU53 } from "./format/bytes.ts";

/** A decoded record. */
export interface WalRecord {
  key: Uint8Array;
  value: Uint8Array;
  tombstone: boolean;
  /** Expiry in ms since the epoch, for records put with a TTL. */
  expiresAt?: number;
}

const enc = new TextEncoder();
function bytesOf(x: Uint8Array | string, what: string): Uint8Array {
  if (typeof x === "string") return enc.encode(x);
  if (x instanceof Uint8Array) return x;
  throw new WalError("CONFIG", `${what} must be a Uint8Array or a string, got ${typeof x}`);
}

function varintLen(n: number): number {
  let l = 1;
  while (n >= 0x80) {
    n = Math.floor(n / 128);
    l++;
  }
  return l;
}

function putVarint(b: Uint8Array, o: number, n: number): number {
  while (n >= 0x80) {
    b[o++] = (n & 0x7f) | 0x80;
    n = Math.floor(n / 128);
  }
  b[o++] = n;
  return o;
}

function getVarint(b: Uint8Array, o: number): [number, number] {
  let n = 0;
  let mul = 1;
  for (let i = 0; i < 8; i++) {
    if (o >= b.length) throw new WalError("CORRUPTION", `record: varint runs past the end at byte ${o}`);
    const c = b[o++];
    n += (c & 0x7f) * mul;
    if (c < 0x80) return [n, o];
    mul *= 128;
  }
  throw new WalError("CORRUPTION", `record: varint longer than 8 bytes at byte ${o}`);
}

/**
 * Record constructors and codec.
 *
 * @example
 * ```ts
 * import { Record } from "./record.ts";
 * const bytes = Record.encode(Record.put("user:1", "alice", { ttlMs: 60_000 }));
 * const rec = Record.decode(bytes);
 * console.log(rec.tombstone, rec.expiresAt !== undefined); // false true
 * ```
 */
/** The shape of {@link Record}. */
export interface RecordCodec {
  put(key: Uint8Array | string, value: Uint8Array | string, options?: { ttlMs?: number }): WalRecord;
  delete(key: Uint8Array | string): WalRecord;
  encode(rec: WalRecord): Uint8Array;
  decode(bytes: Uint8Array): WalRecord;
}

export const Record: RecordCodec = {
  /** A PUT of `value` under `key`, optionally expiring `ttlMs` from now. */
  put(key: Uint8Array | string, value: Uint8Array | string, options: { ttlMs?: number } = {}): WalRecord {
    const rec: WalRecord = { key: bytesOf(key, "Record.put: key"), value: bytesOf(value, "Record.put: value"), tombstone: false };
    if (options.ttlMs !== undefined) {
      if (!Number.isSafeInteger(options.ttlMs) || options.ttlMs < 0) {
        throw new WalError("CONFIG", `Record.put: ttlMs must be a non-negative integer, got ${options.ttlMs}`);
      }
      rec.expiresAt = Date.now() + options.ttlMs;
    }
    return rec;
  },
  /** A DELETE (tombstone) of `key`. */
  delete(key: Uint8Array | string): WalRecord {
    return { key: bytesOf(key, "Record.delete: key"), value: new Uint8Array(0), tombstone: true };
  },
  /** The bytes of `rec`, to append as one entry. */
  encode(rec: WalRecord): Uint8Array {
    const key = bytesOf(rec.key, "Record.encode: key");
    const value = rec.tombstone ? new Uint8Array(0) : bytesOf(rec.value, "Record.encode: value");
    const ttl = rec.expiresAt !== undefined;
    const n = 1 + varintLen(key.length) + key.length + (rec.tombstone ? 0 : varintLen(value.length) + value.length) + (ttl ? 8 : 0);
    const b = new Uint8Array(n);
    b[0] = (rec.tombstone ? 1 : 0) | (ttl ? 2 : 0);
    let o = putVarint(b, 1, key.length);
    b.set(key, o);
    o += key.length;
    if (!rec.tombstone) {
      o = putVarint(b, o, value.length);
      b.set(value, o);
      o += value.length;
    }
    if (ttl) putU53(b, o, rec.expiresAt!);
    return b;
  },
  /** Decodes bytes made by {@link Record.encode}. @throws {WalError} `CORRUPTION` on bad bytes. */
  decode(bytes: Uint8Array): WalRecord {
    if (bytes.length < 2) throw new WalError("CORRUPTION", `record: ${bytes.length} bytes is too short`);
    const flags = bytes[0];
    if (flags > 3) throw new WalError("CORRUPTION", `record: unknown flags 0x${flags.toString(16)} at byte 0`);
    let [klen, o] = getVarint(bytes, 1);
    if (o + klen > bytes.length) throw new WalError("CORRUPTION", `record: key of ${klen} bytes runs past the end at byte ${o}`);
    const key = bytes.slice(o, o + klen);
    o += klen;
    const tombstone = (flags & 1) !== 0;
    let value = new Uint8Array(0);
    if (!tombstone) {
      let vlen: number;
      [vlen, o] = getVarint(bytes, o);
      if (o + vlen > bytes.length) throw new WalError("CORRUPTION", `record: value of ${vlen} bytes runs past the end at byte ${o}`);
      value = bytes.slice(o, o + vlen);
      o += vlen;
    }
    const rec: WalRecord = { key, value, tombstone };
    if (flags & 2) {
      if (o + 8 > bytes.length) throw new WalError("CORRUPTION", `record: expiry runs past the end at byte ${o}`);
      const t = getU53(bytes, o);
      if (t < 0) throw new WalError("CORRUPTION", `record: expiry out of range at byte ${o}`);
      rec.expiresAt = t;
      o += 8;
    }
    if (o !== bytes.length) throw new WalError("CORRUPTION", `record: ${bytes.length - o} trailing bytes at byte ${o}`);
    return rec;
  },
};
