/**
 * CRC-32 (IEEE 802.3, the zlib/PNG polynomial 0xEDB88320): the checksum of
 * every frame, segment header, index file and checkpoint record.
 *
 * Four implementations give the same bytes: the runtime's `zlib.crc32`
 * (registered by the runtime adapters; about 4 GB/s on Node, 8-14 GB/s on Deno and
 * Bun), `hash-wasm` (loaded by {@link initCrc32} where no native one exists),
 * a table-driven fallback used only until one of those is ready, and, for
 * spans of 14 KiB and more, our WebAssembly reduction (`_crc32_sparse.ts`,
 * about 8 GB/s) where it measures at least 1.25× faster than the one in use.
 *
 * @module
 */

import { type CrcArena, createCrcArena, loadSparseCrc32, SPARSE_MIN } from "./_crc32_sparse.ts";

export type { CrcArena };

type CrcFn = (data: Uint8Array, seed: number) => number;

const TABLE = /* @__PURE__ */ (() => {
  const t = new Int32Array(256 * 8);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c;
  }
  for (let n = 0; n < 256; n++) {
    let c = t[n];
    for (let k = 1; k < 8; k++) {
      c = t[c & 0xff] ^ (c >>> 8);
      t[k * 256 + n] = c;
    }
  }
  return t;
})();

/** Slicing-by-8 CRC-32 in plain TypeScript. */
export function crc32Table(data: Uint8Array, seed = 0): number {
  return crc32Range(data, 0, data.length, seed);
}

/**
 * CRC-32 of `buf[start..end)` by table, without a subarray: for short spans
 * such as a frame header, where a call into the runtime's CRC costs more
 * than the bytes. `seed` continues a previous CRC, as with {@link crc32}.
 */
export function crc32Range(buf: Uint8Array, start: number, end: number, seed = 0): number {
  let c = ~seed;
  let i = start;
  const t = TABLE;
  for (; i + 8 <= end; i += 8) {
    const a = c ^ (buf[i] | (buf[i + 1] << 8) | (buf[i + 2] << 16) | (buf[i + 3] << 24));
    c = t[1792 + (a & 0xff)] ^ t[1536 + ((a >>> 8) & 0xff)] ^ t[1280 + ((a >>> 16) & 0xff)] ^
      t[1024 + (a >>> 24)] ^ t[768 + buf[i + 4]] ^ t[512 + buf[i + 5]] ^
      t[256 + buf[i + 6]] ^ t[buf[i + 7]];
  }
  for (; i < end; i++) c = t[(c ^ buf[i]) & 0xff] ^ (c >>> 8);
  return ~c >>> 0;
}

/** CRC-32 continued from `seed` over the four little-endian bytes of `v`. */
export function crc32U32(seed: number, v: number): number {
  const a = ~seed ^ v;
  const t = TABLE;
  return ~(t[768 + (a & 0xff)] ^ t[512 + ((a >>> 8) & 0xff)] ^ t[256 + ((a >>> 16) & 0xff)] ^ t[a >>> 24]) >>> 0;
}

/**
 * Product of `a` and `b` modulo the CRC polynomial, in the CRC's reflected
 * bit order (bit 31 is the coefficient of x^0, bit 0 that of x^31).
 */
function mulMod(a: number, b: number): number {
  let p = 0;
  for (let bit = 31; bit >= 0; bit--) {
    if ((a >>> bit) & 1) p ^= b;
    // b·x: a shift toward x^31, reduced when the x^31 term falls off.
    b = b & 1 ? (b >>> 1) ^ 0xedb88320 : b >>> 1;
  }
  return p >>> 0;
}

/** x^(8·n) modulo the polynomial: what a CRC is multiplied by to move it past n bytes. */
function xPow8(n: number): number {
  let r = 0x80000000; // 1
  let sq = 0x00800000; // x^8
  // n < 2^53: split so the bit loop also covers lengths above 2^32.
  for (let rest = n; rest > 0; rest = Math.floor(rest / 2)) {
    if (rest % 2 === 1) r = mulMod(r, sq);
    sq = mulMod(sq, sq);
  }
  return r;
}

/**
 * A table that moves a CRC past `n` bytes with four lookups: entry
 * `256·j + v` is (v << 8j)·x^(8n) mod P, by linearity.
 */
function shiftTable(n: number): Int32Array {
  const m = xPow8(n);
  const t = new Int32Array(1024);
  for (let j = 0; j < 4; j++) {
    const base = 256 * j;
    for (let bit = 0; bit < 8; bit++) {
      const one = 1 << bit;
      const img = mulMod((one << (8 * j)) >>> 0, m) | 0;
      for (let v = one; v < 2 * one; v++) t[base + v] = t[base + v - one] ^ img;
    }
  }
  return t;
}

/**
 * CRC-32 of the concatenation A‖B from `crcA`, `crcB` and B's length, as
 * zlib's `crc32_combine`, without reading either.
 */
export function crc32Combine(crcA: number, crcB: number, lenB: number): number {
  return (mulMod(crcA, xPow8(lenB)) ^ crcB) >>> 0;
}

/** Shift tables by length, shared by every {@link CrcRuns} (a table depends only on its length). */
const shiftTables = new Map<number, Int32Array>();

/**
 * Verifies runs of frames with one CRC call: {@link CrcRuns.shift} moves a
 * CRC past `n` bytes by table (four lookups), with one table per length,
 * built on first use and shared. Building one costs about as much as a few
 * dozen CRC calls, so each user (a cursor) may build 2 tables, then one per
 * 64 shifts it asks for; past that `shift` returns -1 and the caller checks
 * frames one by one. Frames of a few recurring sizes thus run from tables
 * at once, and ever-changing sizes cost a bounded extra.
 */
export class CrcRuns {
  #builds = 0;
  #calls = 0;

  /** crc·x^(8n) mod P, or -1 if `n` has no table and this user may not build one now. */
  shift(crc: number, n: number): number {
    this.#calls++;
    let t = shiftTables.get(n);
    if (t === undefined) {
      if (this.#builds >= 2 + this.#calls / 64) return -1;
      if (shiftTables.size >= 64) shiftTables.clear();
      t = shiftTable(n);
      shiftTables.set(n, t);
      this.#builds++;
    }
    return (t[crc & 0xff] ^ t[256 + ((crc >>> 8) & 0xff)] ^ t[512 + ((crc >>> 16) & 0xff)] ^ t[768 + (crc >>> 24)]) >>> 0;
  }
}

let impl: CrcFn = crc32Table;
let implName = "table";

/**
 * The CRC for spans of {@link SPARSE_MIN} bytes and more: `undefined` until
 * the first such span, then the sparse reduction if it measured faster than
 * `impl`, else `impl` itself.
 */
let large: CrcFn | undefined;
/** "auto": measure on first use; "on"/"off": forced (tests, benchmarks). */
let sparseMode: "auto" | "on" | "off" = "auto";
/** The sparse reduction, loaded on first need (null: WebAssembly unavailable). */
let sparse: CrcFn | null | undefined;

function sparseFn(): CrcFn | null {
  // Its last 300 blocks go to whichever CRC is in use at the time.
  if (sparse === undefined) sparse = loadSparseCrc32((d, s) => impl(d, s)) ?? null;
  return sparse;
}

/** Best time of `fn` over `buf` in `rounds` interleaved rounds (ms). */
function bestOf(fn: CrcFn, buf: Uint8Array, other: CrcFn, rounds: number): [number, number] {
  let a = Infinity;
  let b = Infinity;
  for (let r = 0; r < rounds; r++) {
    let t = performance.now();
    for (let i = 0; i < 4; i++) fn(buf, i);
    a = Math.min(a, performance.now() - t);
    t = performance.now();
    for (let i = 0; i < 4; i++) other(buf, i);
    b = Math.min(b, performance.now() - t);
  }
  return [a, b];
}

/**
 * Picks the CRC for large spans: the sparse reduction if forced on, or if in
 * "auto" it beats `impl` by 1.25× on 256 KiB (best of 6 interleaved rounds
 * of 4 calls each, about 0.5-2 ms once per process and implementation).
 * Either choice gives the same CRCs; only the speed differs.
 */
function chooseLarge(): CrcFn {
  const s = sparseMode === "off" ? null : sparseFn();
  if (s === null) return (large = impl);
  if (sparseMode === "on") return (large = s);
  const buf = new Uint8Array(256 * 1024);
  let x = 0x9e3779b9;
  for (let i = 0; i < buf.length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    buf[i] = x;
  }
  const [tSparse, tImpl] = bestOf(s, buf, impl, 6);
  return (large = tSparse * 1.25 <= tImpl ? s : impl);
}

/**
 * CRC-32 (IEEE) of `data`, continuing from `seed` (the CRC of the bytes
 * before it; 0 to start).
 *
 * @example
 * ```ts
 * import { crc32 } from "./crc32.ts";
 * const enc = new TextEncoder();
 * console.assert(crc32(enc.encode("123456789")) === 0xcbf43926);
 * console.assert(crc32(enc.encode("6789"), crc32(enc.encode("12345"))) === 0xcbf43926);
 * ```
 */
export function crc32(data: Uint8Array, seed = 0): number {
  if (data.length < SPARSE_MIN) return impl(data, seed);
  return (large ?? chooseLarge())(data, seed);
}

/** Arenas given back by readers that ended, for the next reader to take (at most {@link IDLE_ARENAS}). */
const idleArenas: CrcArena[] = [];
const IDLE_ARENAS = 2;

/**
 * An arena of `count` read buffers of `size` bytes whose CRCs the sparse
 * reduction takes in place (see {@link CrcArena}), or `undefined` unless that
 * reduction is the CRC {@link crc32} uses for large spans here (it decides
 * on first use): where a native CRC is faster, plain buffers serve better.
 * Give it back with {@link releaseArena} when done.
 */
export function takeArena(count: number, size: number): CrcArena | undefined {
  if ((large ?? chooseLarge()) !== sparse) return undefined;
  for (let i = idleArenas.length - 1; i >= 0; i--) {
    const a = idleArenas[i];
    if (a.count === count && a.size === size) {
      idleArenas.splice(i, 1);
      return a;
    }
  }
  return createCrcArena((d, s) => impl(d, s), count, size);
}

/**
 * Gives back an arena from {@link takeArena}, whose buffers no read may
 * still be filling: its views are detached, and the next taker reuses it.
 */
export function releaseArena(arena: CrcArena): void {
  arena.detach();
  if (idleArenas.length < IDLE_ARENAS) idleArenas.push(arena);
}

/**
 * Which implementation {@link crc32} uses now: "native", "hash-wasm" or
 * "table", followed by "+sparse" once spans of 14 KiB and more go through
 * the WebAssembly reduction.
 */
export function crc32Implementation(): string {
  return large !== undefined && large === sparse ? `${implName}+sparse` : implName;
}

/**
 * Forces the WebAssembly reduction for large spans on or off, or back to
 * "auto" (measured against the CRC in use on the next large span). For tests
 * and benchmarks that compare the two.
 *
 * @returns The previous setting.
 */
export function setCrc32Sparse(mode: "auto" | "on" | "off"): "auto" | "on" | "off" {
  const was = sparseMode;
  sparseMode = mode;
  large = undefined;
  return was;
}

/**
 * Registers the runtime's native CRC-32 (e.g. `zlib.crc32`), called as is
 * (no wrapper on the hot path): it must return the unsigned CRC and continue
 * from `seed` like zlib's.
 */
export function registerNativeCrc32(fn: (data: Uint8Array, seed?: number) => number): void {
  impl = fn as CrcFn;
  implName = "native";
  large = undefined;
}

let wasmInit: Promise<void> | undefined;

/** Below this many bytes the table beats a `hash-wasm` call (Node 20: 700 vs 330 MB/s at 128 B). */
const WASM_MIN = 1024;
/** From this many bytes a seeded CRC is `hash-wasm` plus a combine (~1-2 µs) rather than the table. */
const WASM_SEEDED_MIN = 64 * 1024;

/**
 * A CRC-32 over `hash-wasm` (WASM, about 2 GB/s on Node 20 against the
 * table's 1.1 GB/s), for runtimes without `zlib.crc32`. Small spans go to
 * the table, whose call costs less; `hash-wasm` cannot start from a seed,
 * so a large seeded span is summed from 0 and joined to the seed with
 * {@link crc32Combine}. Rejects if `hash-wasm` cannot be loaded.
 */
export async function hashWasmCrc32(): Promise<(data: Uint8Array, seed?: number) => number> {
  const { createCRC32 } = await import("hash-wasm");
  const hasher = await createCRC32();
  const out = new Uint8Array(4);
  const wasm = (data: Uint8Array): number => {
    hasher.init();
    hasher.update(data);
    out.set(hasher.digest("binary"));
    return ((out[0] << 24) | (out[1] << 16) | (out[2] << 8) | out[3]) >>> 0;
  };
  return (data, seed = 0) => {
    const n = data.length;
    if (n < WASM_MIN || (seed !== 0 && n < WASM_SEEDED_MIN)) return crc32Table(data, seed);
    return seed === 0 ? wasm(data) : crc32Combine(seed, wasm(data), n);
  };
}

/**
 * Makes sure a fast CRC-32 is in place: keeps a registered native one, else
 * loads `hash-wasm`. Called by `Wal.open`; safe to call many times.
 */
export function initCrc32(): Promise<void> {
  if (implName !== "table") return Promise.resolve();
  wasmInit ??= (async () => {
    try {
      impl = (await hashWasmCrc32()) as CrcFn;
      implName = "hash-wasm";
      large = undefined;
    } catch {
      // Keep the table: same bytes, only slower.
    }
  })();
  return wasmInit;
}
