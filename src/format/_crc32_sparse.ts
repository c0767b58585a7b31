/**
 * CRC-32 of long spans through our WebAssembly module
 * (`crc32_sparse.wat`, see there for the mathematics): the span is copied in
 * 64 KiB pieces into the module's memory and reduced there to its last
 * 300 blocks of 16 bytes, whose CRC an ordinary CRC-32 function then takes.
 * On 1 MiB, 11.4 GB/s on Node, 2.6× Node 20's `zlib.crc32` (4.3 GB/s, a
 * table-driven loop in the zlib Node ships); 10-12 GB/s on Deno and Bun,
 * slower than the carry-less multiply behind their `zlib.crc32` (12.6 and
 * 14.7), so {@link crc32} uses it only where it measures faster than the CRC
 * it has.
 *
 * @module
 */

import { CRC32_SPARSE_WASM_BASE64 } from "./crc32_sparse_wasm.generated.ts";
import { instantiateWasm } from "../codec/_wasm.ts";

/** Blocks (of 16 bytes) left to the ordinary CRC: the degree of the sparse multiple. */
const KEPT = 300;
/** Blocks reduced per call into the module. */
const PIECE = 4096;
/** Where the module reads a piece (see the layout in the .wat). */
const DATA = 73728;

/** The shortest span the module takes: below it, more than a third would be left to the ordinary CRC. */
export const SPARSE_MIN = 3 * KEPT * 16;

interface SparseExports {
  memory: { buffer: ArrayBuffer; grow(pages: number): number };
  reset(mask: number): void;
  reduce(src: number, n: number): void;
  finish(): void;
}

/** A CRC-32 function as zlib's: continues from `seed`, returns the unsigned CRC. */
export type Crc32Fn = (data: Uint8Array, seed: number) => number;

/**
 * The CRC of the `n` bytes at `src` in the module's memory (`mem`, a view of
 * all of it), from `seed`; the last 300 blocks and the tail go to `rest`.
 * `n` is at least {@link SPARSE_MIN}. Pieces not already at DATA are reduced
 * where they lie.
 */
function crcIn(ex: SparseExports, mem: Uint8Array, src: number, n: number, seed: number, rest: Crc32Fn): number {
  const cleared = (n >>> 4) - KEPT;
  // The register a CRC from `seed` starts with, taken in by the first block.
  ex.reset(~seed);
  for (let b = 0; b < cleared; b += PIECE) ex.reduce(src + (b << 4), Math.min(PIECE, cleared - b));
  const from = cleared << 4;
  mem.copyWithin(DATA, src + from, src + n);
  ex.finish();
  // From register 0 (seed 0xffffffff): the cleared blocks count as zeros.
  return rest(mem.subarray(DATA, DATA + n - from), 0xffffffff);
}

/**
 * Loads the module and returns a CRC-32 over it, or `undefined` where
 * WebAssembly (with SIMD and bulk memory) is unavailable.
 *
 * @param rest The CRC-32 that takes the last 300 blocks of every span, and
 *   every span shorter than {@link SPARSE_MIN}.
 */
export function loadSparseCrc32(rest: Crc32Fn): Crc32Fn | undefined {
  const ex = instantiateWasm(CRC32_SPARSE_WASM_BASE64) as SparseExports | undefined;
  if (ex === undefined) return undefined;
  // This instance's memory never grows, so one view serves for its life.
  const mem = new Uint8Array(ex.memory.buffer);
  return (data: Uint8Array, seed: number): number => {
    const n = data.length;
    if (n < SPARSE_MIN) return rest(data, seed);
    const cleared = (n >>> 4) - KEPT;
    ex.reset(~seed);
    for (let b = 0; b < cleared; b += PIECE) {
      const m = Math.min(PIECE, cleared - b);
      mem.set(data.subarray(b << 4, (b + m) << 4), DATA);
      ex.reduce(DATA, m);
    }
    const from = cleared << 4;
    mem.set(data.subarray(from), DATA);
    ex.finish();
    return rest(mem.subarray(DATA, DATA + n - from), 0xffffffff);
  };
}

/** Where an arena's first buffer starts: after the 192 KiB the reduction uses. */
const ARENA_BASE = 3 * 65536;

/**
 * Read buffers inside a private instance of the module, whose CRC it takes
 * where the bytes lie: a read lands in a buffer, and the reduction reads it
 * there, without the copy into the module that {@link loadSparseCrc32} makes
 * (a fifth of the time a 1 MiB CRC takes on Node, more when another core
 * has just written the bytes).
 *
 * `detach()` detaches every view of the arena's memory at once (by growing
 * it by 0 pages, which makes its `ArrayBuffer` a new one): the way an
 * iterator with `reuseBuffer` keeps its promise that a view kept past its
 * step reads as empty, never as other bytes.
 */
export class CrcArena {
  readonly #ex: SparseExports;
  readonly #rest: Crc32Fn;
  #mem: Uint8Array;
  /** How many buffers the arena holds, and the size of each. */
  readonly count: number;
  readonly size: number;

  constructor(ex: SparseExports, rest: Crc32Fn, count: number, size: number) {
    this.#ex = ex;
    this.#rest = rest;
    this.count = count;
    this.size = size;
    this.#mem = new Uint8Array(ex.memory.buffer);
  }

  /** The memory all views of the arena's buffers are views of, until the next {@link detach}. */
  get buffer(): ArrayBuffer {
    return this.#mem.buffer as ArrayBuffer;
  }

  /** Buffer `i` (0 to `count - 1`): a view valid until the next {@link detach}. */
  view(i: number): Uint8Array {
    return this.#mem.subarray(ARENA_BASE + i * this.size, ARENA_BASE + (i + 1) * this.size);
  }

  /** Detaches every view of the arena's memory; the bytes stay. */
  detach(): void {
    this.#ex.memory.grow(0);
    this.#mem = new Uint8Array(this.#ex.memory.buffer);
  }

  /**
   * CRC-32 of `data` from `seed`: in place if `data` is a view of this
   * arena's memory (as it is now) and long enough, else by the ordinary route.
   */
  crc(data: Uint8Array, seed: number, other: Crc32Fn): number {
    if (data.buffer !== this.#mem.buffer || data.length < SPARSE_MIN) return other(data, seed);
    return crcIn(this.#ex, this.#mem, data.byteOffset, data.length, seed, this.#rest);
  }
}

/**
 * A new {@link CrcArena} of `count` buffers of `size` bytes each (`size` a
 * multiple of 16), or `undefined` where WebAssembly is unavailable, memory
 * cannot be had, or growing by 0 pages does not detach (then the arena
 * could not keep `reuseBuffer`'s promise).
 */
export function createCrcArena(rest: Crc32Fn, count: number, size: number): CrcArena | undefined {
  const ex = instantiateWasm(CRC32_SPARSE_WASM_BASE64) as SparseExports | undefined;
  if (ex === undefined) return undefined;
  try {
    const need = ARENA_BASE + count * size;
    const have = ex.memory.buffer.byteLength;
    if (need > have) ex.memory.grow(Math.ceil((need - have) / 65536));
    const probe = new Uint8Array(ex.memory.buffer, 0, 16);
    ex.memory.grow(0);
    if (probe.length !== 0) return undefined;
  } catch {
    return undefined;
  }
  return new CrcArena(ex, rest, count, size);
}
