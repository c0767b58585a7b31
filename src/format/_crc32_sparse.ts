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
  memory: { buffer: ArrayBuffer };
  reset(): void;
  reduce(n: number, mask: number): void;
  finish(): void;
}

/** A CRC-32 function as zlib's: continues from `seed`, returns the unsigned CRC. */
export type Crc32Fn = (data: Uint8Array, seed: number) => number;

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
  // The memory never grows, so one view serves for the module's life.
  const mem = new Uint8Array(ex.memory.buffer);
  const { reset, reduce, finish } = ex;
  return (data: Uint8Array, seed: number): number => {
    const n = data.length;
    if (n < SPARSE_MIN) return rest(data, seed);
    const cleared = (n >>> 4) - KEPT;
    reset();
    // The register a CRC from `seed` starts with, XORed into the first bytes.
    let mask = ~seed;
    for (let b = 0; b < cleared; b += PIECE) {
      const m = Math.min(PIECE, cleared - b);
      mem.set(data.subarray(b << 4, (b + m) << 4), DATA);
      reduce(m, mask);
      mask = 0;
    }
    const from = cleared << 4;
    mem.set(data.subarray(from), DATA);
    finish();
    // From register 0 (seed 0xffffffff): the cleared blocks count as zeros.
    return rest(mem.subarray(DATA, DATA + n - from), 0xffffffff);
  };
}
