/**
 * Shard routing (FORMAT.md §7): a key's shard is the xxHash32 (seed 0) of
 * its bytes modulo the shard count. Stable across runtimes, versions and
 * processes: it is part of the on-disk format, since the shard a key went to
 * must be found again after a restart.
 *
 * @module
 */

import { WalError } from "../errors.ts";
import { xxhash32 } from "../codec/lz4.ts";
import { MAX_SHARDS } from "../format/checkpoint.ts";

const enc = new TextEncoder();
const dec = new TextDecoder("utf-8", { fatal: true });

/**
 * The bytes of a key or checkpoint id: a `Uint8Array` as is, a string as
 * UTF-8. A string holding a lone UTF-16 surrogate has no UTF-8 form and is
 * refused (`CONFIG`), so two distinct strings never give the same bytes.
 *
 * @param value the key or id
 * @param what its name, for the error message
 * @throws {WalError} `CONFIG` for anything else
 */
export function toBytes(value: unknown, what: string): Uint8Array {
  if (value instanceof Uint8Array) return value;
  if (typeof value === "string") {
    const b = enc.encode(value);
    if (/[\uD800-\uDFFF]/.test(value)) {
      let ok = true;
      try {
        ok = dec.decode(b) === value;
      } catch {
        ok = false;
      }
      if (!ok) {
        throw new WalError("CONFIG", `${what} ${JSON.stringify(value.slice(0, 40))} holds a lone UTF-16 surrogate and has no UTF-8 form; use a well-formed string or a Uint8Array`);
      }
    }
    return b;
  }
  throw new WalError("CONFIG", `${what} must be a string or a Uint8Array, got ${value === null ? "null" : typeof value}`);
}

/**
 * The shard of `key` among `shardCount` shards: `xxHash32(keyBytes, 0) % shardCount`.
 *
 * @example
 * ```ts
 * import { shardOf } from "./routing.ts";
 * console.log(shardOf(new TextEncoder().encode("user_123"), 16)); // 2
 * ```
 */
export function shardOf(key: Uint8Array, shardCount: number): number {
  return xxhash32(key, 0) % shardCount;
}

let scratch = new Uint8Array(256);

/**
 * {@link shardOf} of a key given as a string or bytes, without allocating
 * for short ASCII strings (the common case: their UTF-8 is their char codes).
 * @throws {WalError} `CONFIG` as {@link toBytes}
 */
export function shardOfKey(key: unknown, shardCount: number): number {
  if (typeof key === "string" && key.length <= 1024) {
    const n = key.length;
    if (n > scratch.length) scratch = new Uint8Array(1024);
    const b = scratch;
    let i = 0;
    for (; i < n; i++) {
      const c = key.charCodeAt(i);
      if (c >= 0x80) break;
      b[i] = c;
    }
    if (i === n) return xxhash32(b.subarray(0, n), 0) % shardCount;
  }
  return xxhash32(toBytes(key, "key"), 0) % shardCount;
}

/** Checks a shard count: an integer in 1..65536. */
export function checkShardCount(n: unknown): number {
  if (typeof n !== "number" || !Number.isInteger(n) || n < 1 || n > MAX_SHARDS) {
    throw new WalError("CONFIG", `shardCount must be an integer from 1 to ${MAX_SHARDS}, got ${String(n)}`);
  }
  return n;
}

/** The stream (and directory) name of shard `i`: `shard-` and at least 4 decimal digits. */
export function shardStreamName(i: number): string {
  return "shard-" + String(i).padStart(4, "0");
}

/** The shard number of a stream name made by {@link shardStreamName}, or -1. */
export function parseShardStreamName(name: string): number {
  const m = /^shard-(\d{4,})$/.exec(name);
  if (m === null) return -1;
  const i = Number(m[1]);
  return shardStreamName(i) === name ? i : -1;
}
