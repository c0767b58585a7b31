/**
 * The LZ4 block codec in WebAssembly: our own hand-written module
 * (`lz4_block.wat`, assembled by `wabt` at development time into
 * `lz4_block_wasm.generated.ts`), loaded synchronously on first use.
 *
 * Each call copies its input into the module's memory, runs one loop and
 * hands back a view of the result in that memory (valid until the next
 * call), which the caller copies out. The memory grows to fit the largest
 * block handled and never shrinks, so it is capped: blocks of up to 4 MiB
 * (the LZ4 frame format's largest) go through WebAssembly, keeping the memory
 * under 9 MiB (the module itself refuses to grow past 16 MiB); larger raw
 * blocks, and every block where WebAssembly is unavailable, are left to the
 * TypeScript codec (`_lz4_block_js.ts`): the functions here then return
 * `undefined`.
 *
 * Decoding errors come back from the module as a code and positions; they
 * are turned into the same `CORRUPTION` errors, with the same messages and
 * byte offsets, as the TypeScript decoder throws.
 *
 * @module
 */

import { LZ4_BLOCK_WASM_BASE64 } from "./lz4_block_wasm.generated.ts";
import { instantiateWasm } from "./_wasm.ts";
import { blockError, E_BAD_OFFSET, E_LITERALS_OVERFLOW, E_LITERALS_PAST_END, E_MATCH_OVERFLOW } from "./_lz4_block_js.ts";

/** Largest uncompressed block handled in WebAssembly: the frame format's 4 MiB. */
export const WASM_MAX_BLOCK = 4 * 1024 * 1024;
/** Largest compressed block handled in WebAssembly: lz4BlockBound(4 MiB). */
const WASM_MAX_INPUT = WASM_MAX_BLOCK + ((WASM_MAX_BLOCK / 255) | 0) + 16;

/** Where the data regions start: after the hash table and the 64 KiB of history. */
const DATA = 131072;
/** Free bytes after every region, for the module's 16-byte wild copies. */
const SLACK = 64;
const PAGE = 65536;

// What the module exports (see lz4_block.wat).
interface WasmGlobal {
  value: number;
}
interface WasmExports {
  memory: { buffer: ArrayBuffer; grow(pages: number): number };
  compress(src: number, len: number, dst: number): number;
  decompress(ip: number, ipEnd: number, op: number, opEnd: number, low: number): number;
  err_ip: WasmGlobal;
  err_a: WasmGlobal;
  err_op: WasmGlobal;
}

let state: "unloaded" | "ready" | "unavailable" = "unloaded";
let enabled = true;
let ex: WasmExports | undefined;
/** A view of the whole memory; replaced whenever the memory grows. */
let mem = new Uint8Array(0);

function load(): boolean {
  if (state === "ready") return true;
  if (state === "unavailable") return false;
  ex = instantiateWasm(LZ4_BLOCK_WASM_BASE64) as WasmExports | undefined;
  if (ex === undefined) {
    // No WebAssembly, or one without SIMD or bulk memory: the TS codec serves.
    state = "unavailable";
    return false;
  }
  mem = new Uint8Array(ex.memory.buffer);
  state = "ready";
  return true;
}

/** Makes the memory at least `bytes` long; false if it cannot grow. */
function reserve(bytes: number): boolean {
  const have = mem.length;
  if (bytes <= have) return true;
  try {
    ex!.memory.grow(Math.ceil((bytes - have) / PAGE));
  } catch {
    return false;
  }
  mem = new Uint8Array(ex!.memory.buffer);
  return true;
}

const align16 = (n: number): number => (n + 15) & ~15;

/**
 * Whether the WebAssembly codec is in use: it loads (on first call) and has
 * not been switched off by {@link setLz4WasmEnabled}.
 */
export function lz4WasmActive(): boolean {
  return enabled && load();
}

/**
 * Switches the WebAssembly codec off (every block then goes through the
 * TypeScript codec) or back on. For tests and benchmarks that compare the two.
 *
 * @param on Whether to use WebAssembly where it applies.
 * @returns The previous setting.
 */
export function setLz4WasmEnabled(on: boolean): boolean {
  const was = enabled;
  enabled = on;
  return was;
}

/** Current size of the module's memory in bytes (0 before it is loaded). */
export function lz4WasmMemoryBytes(): number {
  return mem.length;
}

/**
 * Compresses `src[start, end)` as one independent LZ4 block (the same bytes
 * as the TypeScript codec writes).
 *
 * @returns A view of the block in the module's memory, valid until the next
 *   call into this module; `undefined` if the block is over 4 MiB or
 *   WebAssembly is unavailable.
 */
export function wasmCompressBlock(src: Uint8Array, start: number, end: number): Uint8Array | undefined {
  const len = end - start;
  if (len > WASM_MAX_BLOCK || !enabled || !load()) return undefined;
  const inAt = DATA;
  const outAt = inAt + align16(len + SLACK);
  if (!reserve(outAt + len + ((len / 255) | 0) + 16 + SLACK)) return undefined;
  mem.set(start === 0 && end === src.length ? src : src.subarray(start, end), inAt);
  const n = ex!.compress(inAt, len, outAt);
  return mem.subarray(outAt, outAt + n);
}

/**
 * Decodes the LZ4 block `src[ip, ipEnd)` to at most `capacity` bytes.
 * `history` is the output that precedes this block and that its matches may
 * reach back into (linked blocks of a frame: up to the last 64 KiB of it);
 * without it matches may not reach before the block's own output. `base` is
 * added to input positions in error messages.
 *
 * @returns A view of the decoded bytes in the module's memory, valid until
 *   the next call into this module; `undefined` if the block is over 4 MiB
 *   either way or WebAssembly is unavailable.
 * @throws {WalError} `CORRUPTION`, exactly as the TypeScript decoder would
 *   for the same input.
 */
export function wasmDecodeBlock(
  src: Uint8Array,
  ip: number,
  ipEnd: number,
  history: Uint8Array | undefined,
  capacity: number,
  base: number,
): Uint8Array | undefined {
  const inLen = ipEnd - ip;
  if (capacity > WASM_MAX_BLOCK || inLen > WASM_MAX_INPUT || !enabled || !load()) return undefined;
  const outAt = DATA;
  const inAt = outAt + align16(capacity + SLACK);
  if (!reserve(inAt + inLen + SLACK)) return undefined;
  mem.set(ip === 0 && ipEnd === src.length ? src : src.subarray(ip, ipEnd), inAt);
  let low = outAt;
  if (history !== undefined && history.length > 0) {
    const h = history.length > 65536 ? history.subarray(history.length - 65536) : history;
    low = outAt - h.length;
    mem.set(h, low);
  }
  const r = ex!.decompress(inAt, inAt + inLen, outAt, outAt + capacity, low);
  if (r >= 0) return mem.subarray(outAt, r);
  const code = -r;
  const errIp = ex!.err_ip.value;
  const a = ex!.err_a.value;
  const errOp = ex!.err_op.value;
  let left = 0;
  if (code === E_LITERALS_PAST_END) left = inAt + inLen - errIp;
  else if (code === E_LITERALS_OVERFLOW || code === E_MATCH_OVERFLOW) left = outAt + capacity - errOp;
  else if (code === E_BAD_OFFSET) left = low - (errOp - a);
  throw blockError(code, errIp - inAt + ip + base, a, left);
}
