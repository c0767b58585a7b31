/**
 * LZ4, written for ironwal: the block format, the frame format (readable by
 * the reference `lz4` command-line tool and able to read what it writes) and
 * the xxHash32 checksum the frame format uses.
 *
 * - {@link lz4Compress} / {@link lz4Decompress}: one standard LZ4 frame.
 * - {@link lz4CompressBlock} / {@link lz4DecompressBlock}: raw LZ4 blocks, for
 *   callers that store the uncompressed length themselves (the WAL's frames).
 * - {@link xxhash32}: the 32-bit xxHash of the frame's checksums.
 *
 * Every decoder checks every length against its input and its output before
 * it reads, writes or allocates; malformed input throws a
 * {@link WalError} with code `CORRUPTION` naming the problem and the byte
 * offset in the input where it was found.
 *
 * The frame format, xxHash32 and all error reporting are TypeScript. The two
 * hot loops, compressing and decompressing one block, run as WebAssembly that
 * this project writes by hand (`lz4_block.wat`, assembled by the `wabt` npm
 * package at development time and embedded in `lz4_block_wasm.generated.ts`;
 * nothing is loaded from disk and there is no runtime dependency). It is
 * instantiated synchronously on first use. Blocks of up to 4 MiB (the frame
 * format's largest) go through WebAssembly, whose memory therefore stays
 * under 9 MiB and never more than 16 MiB; larger raw blocks (WAL payloads can
 * be up to 256 MiB) go through the TypeScript codec in `_lz4_block_js.ts`,
 * as does everything if WebAssembly is unavailable. Both codecs write the
 * same bytes and throw the same errors.
 *
 * @module
 */

import { WalError } from "../errors.ts";
import { corrupt, decodeBlockJs, encodeBlockJs } from "./_lz4_block_js.ts";
import { wasmCompressBlock, wasmDecodeBlock } from "./_lz4_block_wasm.ts";

// ---------------------------------------------------------------------------
// Constants of the formats
// ---------------------------------------------------------------------------

const FRAME_MAGIC = 0x184d2204;
const SKIPPABLE_MAGIC_MASK = 0xfffffff0;
const SKIPPABLE_MAGIC = 0x184d2a50;
const LEGACY_MAGIC = 0x184c2102;

/** How far back a match can reach: what linked blocks need of earlier output. */
const WINDOW = 65536;

/** The frame format's block maximum sizes, by BD code 4..7. */
const BLOCK_MAX_SIZES = [0, 0, 0, 0, 65536, 262144, 1048576, 4194304];
/** Block maximum size and BD code of the frames {@link lz4Compress} writes. */
const OUT_BLOCK_CODE = 7;
const OUT_BLOCK_SIZE = 4194304;

// xxHash32 primes.
const P1 = 0x9e3779b1 | 0;
const P2 = 0x85ebca77 | 0;
const P3 = 0xc2b2ae3d | 0;
const P4 = 0x27d4eb2f | 0;
const P5 = 0x165667b1 | 0;

function read32(a: Uint8Array, i: number): number {
  return a[i] | (a[i + 1] << 8) | (a[i + 2] << 16) | (a[i + 3] << 24);
}

function write32(a: Uint8Array, i: number, v: number): void {
  a[i] = v;
  a[i + 1] = v >>> 8;
  a[i + 2] = v >>> 16;
  a[i + 3] = v >>> 24;
}

// ---------------------------------------------------------------------------
// xxHash32
// ---------------------------------------------------------------------------

function xxh32Range(a: Uint8Array, start: number, end: number, seed: number): number {
  let i = start;
  let h: number;
  const len = end - start;
  if (len >= 16) {
    let v1 = (seed + P1 + P2) | 0;
    let v2 = (seed + P2) | 0;
    let v3 = seed | 0;
    let v4 = (seed - P1) | 0;
    const limit = end - 16;
    while (i <= limit) {
      v1 = (v1 + Math.imul(read32(a, i), P2)) | 0;
      v1 = Math.imul((v1 << 13) | (v1 >>> 19), P1);
      v2 = (v2 + Math.imul(read32(a, i + 4), P2)) | 0;
      v2 = Math.imul((v2 << 13) | (v2 >>> 19), P1);
      v3 = (v3 + Math.imul(read32(a, i + 8), P2)) | 0;
      v3 = Math.imul((v3 << 13) | (v3 >>> 19), P1);
      v4 = (v4 + Math.imul(read32(a, i + 12), P2)) | 0;
      v4 = Math.imul((v4 << 13) | (v4 >>> 19), P1);
      i += 16;
    }
    h = (((v1 << 1) | (v1 >>> 31)) + ((v2 << 7) | (v2 >>> 25)) +
      ((v3 << 12) | (v3 >>> 20)) + ((v4 << 18) | (v4 >>> 14))) | 0;
  } else {
    h = (seed + P5) | 0;
  }
  h = (h + len) | 0;
  while (i <= end - 4) {
    h = (h + Math.imul(read32(a, i), P3)) | 0;
    h = Math.imul((h << 17) | (h >>> 15), P4);
    i += 4;
  }
  while (i < end) {
    h = (h + Math.imul(a[i], P5)) | 0;
    h = Math.imul((h << 11) | (h >>> 21), P1);
    i++;
  }
  h ^= h >>> 15;
  h = Math.imul(h, P2);
  h ^= h >>> 13;
  h = Math.imul(h, P3);
  h ^= h >>> 16;
  return h >>> 0;
}

/**
 * The 32-bit xxHash of `data` (the checksum of the LZ4 frame format).
 *
 * @param data The bytes to hash.
 * @param seed The seed, 0 unless told otherwise (the frame format uses 0).
 * @returns The hash as an unsigned 32-bit number.
 *
 * @example
 * ```ts
 * import { xxhash32 } from "./lz4.ts";
 * console.log(xxhash32(new Uint8Array(0)).toString(16)); // "2cc5d05"
 * ```
 */
export function xxhash32(data: Uint8Array, seed = 0): number {
  return xxh32Range(data, 0, data.length, seed | 0);
}

// ---------------------------------------------------------------------------
// Block compression
// ---------------------------------------------------------------------------

/**
 * The largest size {@link lz4CompressBlock} can produce for `length` input
 * bytes (incompressible data grows by 1 byte per 255, plus a few).
 *
 * @param length The uncompressed length.
 * @returns The size of a destination that always suffices.
 *
 * @example
 * ```ts
 * import { lz4BlockBound } from "./lz4.ts";
 * console.log(lz4BlockBound(1000)); // 1019
 * ```
 */
export function lz4BlockBound(length: number): number {
  return length + ((length / 255) | 0) + 16;
}

/**
 * Compresses `src` as one raw, independent LZ4 block (no frame, no length,
 * no checksum). The block does not record the uncompressed length: store it
 * alongside and pass it to {@link lz4DecompressBlock}. The output of
 * incompressible data is slightly larger than the input; see
 * {@link lz4BlockBound}.
 *
 * @param src The bytes to compress.
 * @param dst Optional destination with at least `lz4BlockBound(src.length)`
 *   bytes; a new one is allocated when absent.
 * @returns The compressed block, a view into `dst` when it was given.
 * @throws {WalError} `CONFIG` if `dst` is smaller than the bound.
 *
 * @example
 * ```ts
 * import { lz4CompressBlock, lz4DecompressBlock } from "./lz4.ts";
 * const raw = new TextEncoder().encode("hello hello hello hello hello");
 * const block = lz4CompressBlock(raw);
 * const back = lz4DecompressBlock(block, raw.length);
 * console.log(new TextDecoder().decode(back));
 * ```
 */
export function lz4CompressBlock(src: Uint8Array, dst?: Uint8Array): Uint8Array {
  const bound = lz4BlockBound(src.length);
  if (dst !== undefined && dst.length < bound) {
    throw new WalError(
      "CONFIG",
      `lz4CompressBlock: dst holds ${dst.length} bytes, needs lz4BlockBound(${src.length}) = ${bound}`,
    );
  }
  const block = wasmCompressBlock(src, 0, src.length);
  if (block !== undefined) {
    if (dst === undefined) return block.slice();
    dst.set(block);
    return dst.subarray(0, block.length);
  }
  if (dst === undefined) {
    const out = new Uint8Array(bound);
    return out.subarray(0, encodeBlockJs(src, 0, src.length, out, 0));
  }
  return dst.subarray(0, encodeBlockJs(src, 0, src.length, dst, 0));
}

// ---------------------------------------------------------------------------
// Block decompression
// ---------------------------------------------------------------------------

/**
 * Decompresses one raw LZ4 block (as written by {@link lz4CompressBlock}, or
 * any LZ4 block without dictionary).
 *
 * @param src The compressed block, exactly (no trailing bytes).
 * @param dst The uncompressed length, in which case the block must decode to
 *   exactly that many bytes; or a destination array, in which case the block
 *   may decode to at most `dst.length` bytes.
 * @returns The decoded bytes (a view into `dst` when it was given).
 * @throws {WalError} `CORRUPTION` if the block is malformed or its size does
 *   not match; the message names the byte offset in `src`.
 *
 * @example
 * ```ts
 * import { lz4CompressBlock, lz4DecompressBlock } from "./lz4.ts";
 * const raw = new Uint8Array(4096).fill(7);
 * const block = lz4CompressBlock(raw);
 * console.log(block.length, lz4DecompressBlock(block, 4096).length); // 21 4096
 * ```
 */
export function lz4DecompressBlock(src: Uint8Array, dst: Uint8Array | number): Uint8Array {
  if (typeof dst === "number") {
    if (!Number.isSafeInteger(dst) || dst < 0) {
      throw new WalError("CONFIG", `lz4DecompressBlock: length must be a non-negative integer, got ${dst}`);
    }
    // A block can expand at most 255-fold (plus a little): never trust a
    // length the input could not produce.
    if (dst > src.length * 255 + 16) {
      throw corrupt(`a block of ${src.length} bytes cannot decode to ${dst} bytes`);
    }
    const decoded = wasmDecodeBlock(src, 0, src.length, undefined, dst, 0);
    if (decoded !== undefined) {
      if (decoded.length !== dst) throw corrupt(`block decoded to ${decoded.length} bytes, expected ${dst}`);
      return decoded.slice();
    }
    const out = new Uint8Array(dst);
    const n = decodeBlockJs(src, 0, src.length, out, 0, dst, 0, 0);
    if (n !== dst) throw corrupt(`block decoded to ${n} bytes, expected ${dst}`);
    return out;
  }
  const decoded = wasmDecodeBlock(src, 0, src.length, undefined, dst.length, 0);
  if (decoded !== undefined) {
    dst.set(decoded);
    return dst.subarray(0, decoded.length);
  }
  return dst.subarray(0, decodeBlockJs(src, 0, src.length, dst, 0, dst.length, 0, 0));
}

// ---------------------------------------------------------------------------
// Frames
// ---------------------------------------------------------------------------

/** Options of {@link lz4Compress}. */
export interface Lz4CompressOptions {
  /**
   * Append the xxHash32 of the content after the EndMark, as the `lz4` tool
   * does by default [false: ironwal's own frames carry a CRC-32].
   */
  contentChecksum?: boolean;
}

/**
 * Compresses `data` as one standard LZ4 frame: independent blocks of up to
 * 4 MiB, the content size in the header, an optional content checksum and the
 * EndMark. Blocks that do not shrink are stored uncompressed. The output is
 * readable by `lz4 -d` and by {@link lz4Decompress}.
 *
 * @param data The bytes to compress.
 * @param options See {@link Lz4CompressOptions}.
 * @returns The frame.
 *
 * @example
 * ```ts
 * import { lz4Compress, lz4Decompress } from "./lz4.ts";
 * const text = new TextEncoder().encode('{"a":1,"b":2,"a":1,"b":2,"a":1,"b":2}');
 * const frame = lz4Compress(text);
 * console.log(lz4Decompress(frame).length === text.length); // true
 * ```
 */
export function lz4Compress(data: Uint8Array, options: Lz4CompressOptions = {}): Uint8Array {
  const checksum = options.contentChecksum === true;
  const n = data.length;
  // What each block stores: its compressed bytes, or the input itself when
  // compression does not shrink it. A block from the WebAssembly codec is a
  // view into its memory, valid until the next block is compressed: all but
  // the last are copied out, the last goes straight into the frame.
  const parts: Uint8Array[] = [];
  const stored: boolean[] = [];
  let lastIsView = false;
  let scratch: Uint8Array | undefined;
  let size = 15 + 4 + (checksum ? 4 : 0);
  for (let start = 0; start < n; start += OUT_BLOCK_SIZE) {
    const end = Math.min(n, start + OUT_BLOCK_SIZE);
    if (lastIsView) parts[parts.length - 1] = parts[parts.length - 1].slice();
    let block = wasmCompressBlock(data, start, end);
    lastIsView = block !== undefined;
    if (block === undefined) {
      scratch ??= new Uint8Array(lz4BlockBound(OUT_BLOCK_SIZE));
      block = scratch.slice(0, encodeBlockJs(data, start, end, scratch, 0));
    }
    const raw = block.length >= end - start;
    if (raw) lastIsView = false;
    parts.push(raw ? data.subarray(start, end) : block);
    stored.push(raw);
    size += 4 + parts[parts.length - 1].length;
  }
  const out = new Uint8Array(size);
  write32(out, 0, FRAME_MAGIC);
  // FLG: version 01, independent blocks, content size, [content checksum].
  out[4] = 0x40 | 0x20 | 0x08 | (checksum ? 0x04 : 0);
  out[5] = OUT_BLOCK_CODE << 4;
  write32(out, 6, n >>> 0);
  write32(out, 10, Math.floor(n / 0x100000000));
  out[14] = (xxh32Range(out, 4, 14, 0) >>> 8) & 0xff;
  let op = 15;
  for (let i = 0; i < parts.length; i++) {
    write32(out, op, stored[i] ? (parts[i].length | 0x80000000) : parts[i].length);
    out.set(parts[i], op + 4);
    op += 4 + parts[i].length;
  }
  write32(out, op, 0);
  op += 4;
  if (checksum) write32(out, op, xxh32Range(data, 0, n, 0));
  return out;
}

interface FrameInfo {
  /** Position of the first block header. */
  blocksStart: number;
  /** Position of the EndMark. */
  endMark: number;
  independent: boolean;
  blockChecksum: boolean;
  contentChecksum: boolean;
  /** Declared content size, or -1. */
  contentSize: number;
  /** Most bytes this frame can decode to. */
  bound: number;
  /** The frame's block maximum size. */
  blockMax: number;
}

/**
 * Parses the frame header at `pos` and walks its block headers (validating
 * every size against the input and the block maximum) without decoding.
 */
function scanFrame(src: Uint8Array, pos: number): FrameInfo {
  const n = src.length;
  if (n - pos < 7) throw corrupt(`frame header truncated at byte ${pos} (${n - pos} bytes left, need at least 7)`);
  const flg = src[pos + 4];
  const bd = src[pos + 5];
  if (flg >>> 6 !== 1) throw corrupt(`unsupported frame version ${flg >>> 6} in FLG at byte ${pos + 4}`);
  if ((flg & 0x02) !== 0) throw corrupt(`reserved FLG bit set at byte ${pos + 4}`);
  if ((bd & 0x8f) !== 0) throw corrupt(`reserved BD bits set at byte ${pos + 5}`);
  const code = (bd >>> 4) & 7;
  if (code < 4) throw corrupt(`invalid block maximum size code ${code} in BD at byte ${pos + 5}`);
  const blockMax = BLOCK_MAX_SIZES[code];
  const hasSize = (flg & 0x08) !== 0;
  const hasDict = (flg & 0x01) !== 0;
  const headerEnd = pos + 6 + (hasSize ? 8 : 0) + (hasDict ? 4 : 0);
  if (headerEnd >= n) throw corrupt(`frame header truncated at byte ${n} (needs ${headerEnd + 1 - pos} bytes)`);
  const hc = (xxh32Range(src, pos + 4, headerEnd, 0) >>> 8) & 0xff;
  if (hc !== src[headerEnd]) {
    throw corrupt(`header checksum mismatch at byte ${headerEnd}: stored ${src[headerEnd]}, computed ${hc}`);
  }
  let contentSize = -1;
  if (hasSize) {
    const lo = read32(src, pos + 6) >>> 0;
    const hi = read32(src, pos + 10) >>> 0;
    if (hi >= 0x200000) throw corrupt(`declared content size at byte ${pos + 6} is too large`);
    contentSize = hi * 0x100000000 + lo;
  }
  if (hasDict) {
    throw corrupt(
      `frame at byte ${pos} needs dictionary ${read32(src, headerEnd - 4) >>> 0}; dictionaries are not supported`,
    );
  }
  const blockChecksum = (flg & 0x10) !== 0;
  const contentChecksum = (flg & 0x04) !== 0;
  let p = headerEnd + 1;
  let bound = 0;
  for (;;) {
    if (n - p < 4) throw corrupt(`block header truncated at byte ${p}`);
    const word = read32(src, p) >>> 0;
    if (word === 0) break;
    const size = word & 0x7fffffff;
    const stored = word !== size;
    if (size > blockMax) {
      throw corrupt(`block size ${size} at byte ${p} exceeds the frame's block maximum ${blockMax}`);
    }
    if (size === 0) throw corrupt(`empty uncompressed block at byte ${p}`);
    const next = p + 4 + size + (blockChecksum ? 4 : 0);
    if (next > n) {
      throw corrupt(`block at byte ${p} of ${size} bytes runs past the end of the input (${n} bytes)`);
    }
    bound += stored ? size : Math.min(blockMax, size * 255 + 16);
    p = next;
  }
  if (contentChecksum && n - p < 8) throw corrupt(`content checksum truncated at byte ${p + 4}`);
  if (contentSize > bound) {
    throw corrupt(`frame at byte ${pos} declares ${contentSize} bytes but its blocks hold at most ${bound}`);
  }
  return {
    blocksStart: headerEnd + 1,
    endMark: p,
    independent: (flg & 0x20) !== 0,
    blockChecksum,
    contentChecksum,
    contentSize,
    bound: contentSize >= 0 ? contentSize : bound,
    blockMax,
  };
}

/**
 * Decompresses LZ4 frames as written by {@link lz4Compress} or the `lz4`
 * tool: any block maximum size, independent or linked blocks, uncompressed
 * blocks, block and content checksums, a declared content size, several
 * concatenated frames and skippable frames (which are skipped). Frames that
 * need a dictionary and the legacy format (`lz4 -l`) are rejected.
 *
 * Nothing is allocated before the whole input has been walked: the output is
 * bounded by the declared content size, or else by the blocks present.
 *
 * @param frame One or more concatenated frames, and nothing else.
 * @returns The decompressed content of all frames.
 * @throws {WalError} `CORRUPTION` on a wrong magic number, a truncated or
 *   malformed frame or block, or a checksum mismatch; the message names the
 *   byte offset.
 *
 * @example
 * ```ts
 * import { lz4Compress, lz4Decompress } from "./lz4.ts";
 * const data = new Uint8Array(100_000).map((_, i) => i % 7);
 * console.log(lz4Decompress(lz4Compress(data)).length); // 100000
 * ```
 */
export function lz4Decompress(frame: Uint8Array): Uint8Array {
  const src = frame;
  const n = src.length;
  if (n === 0) throw corrupt("empty input: no frame at byte 0");
  const frames: FrameInfo[] = [];
  let total = 0; // later frames decode right after earlier ones, within this sum
  let pos = 0;
  while (pos < n) {
    if (n - pos < 4) throw corrupt(`magic number truncated at byte ${pos}`);
    const magic = read32(src, pos) >>> 0;
    if (magic === FRAME_MAGIC) {
      const info = scanFrame(src, pos);
      frames.push(info);
      total += info.bound;
      pos = info.endMark + 4 + (info.contentChecksum ? 4 : 0);
    } else if ((magic & SKIPPABLE_MAGIC_MASK) >>> 0 === SKIPPABLE_MAGIC) {
      if (n - pos < 8) throw corrupt(`skippable frame size truncated at byte ${pos + 4}`);
      const size = read32(src, pos + 4) >>> 0;
      if (size > n - pos - 8) {
        throw corrupt(`skippable frame at byte ${pos} of ${size} bytes runs past the end of the input`);
      }
      pos += 8 + size;
    } else {
      const hex = magic.toString(16).padStart(8, "0");
      throw corrupt(
        magic === LEGACY_MAGIC
          ? `legacy LZ4 frame at byte ${pos} is not supported`
          : `wrong magic number 0x${hex} at byte ${pos}, expected 0x184d2204`,
      );
    }
  }
  const out = new Uint8Array(total);
  let op = 0;
  for (const info of frames) {
    const frameStart = op;
    const opEnd = op + info.bound;
    let p = info.blocksStart;
    while (p < info.endMark) {
      const word = read32(src, p) >>> 0;
      const size = word & 0x7fffffff;
      const data = p + 4;
      if (info.blockChecksum) {
        const stored = read32(src, data + size) >>> 0;
        const computed = xxh32Range(src, data, data + size, 0);
        if (stored !== computed) {
          throw corrupt(`block checksum mismatch at byte ${data + size} (block at byte ${p})`);
        }
      }
      if (word !== size) {
        if (size > opEnd - op) throw corrupt(`uncompressed block at byte ${p} overflows the declared content size`);
        out.set(src.subarray(data, data + size), op);
        op += size;
      } else {
        // A block decodes to at most the frame's block maximum.
        const capacity = Math.min(opEnd - op, info.blockMax);
        const history = info.independent ? undefined : out.subarray(Math.max(frameStart, op - WINDOW), op);
        const decoded = wasmDecodeBlock(src, data, data + size, history, capacity, 0);
        if (decoded !== undefined) {
          out.set(decoded, op);
          op += decoded.length;
        } else {
          op = decodeBlockJs(src, data, data + size, out, op, op + capacity, info.independent ? op : frameStart, 0);
        }
      }
      p = data + size + (info.blockChecksum ? 4 : 0);
    }
    if (info.contentSize >= 0 && op - frameStart !== info.contentSize) {
      throw corrupt(`frame declares ${info.contentSize} bytes but decoded to ${op - frameStart}`);
    }
    if (info.contentChecksum) {
      const stored = read32(src, info.endMark + 4) >>> 0;
      if (stored !== xxh32Range(out, frameStart, op, 0)) {
        throw corrupt(`content checksum mismatch at byte ${info.endMark + 4}`);
      }
    }
  }
  return op === out.length ? out : out.slice(0, op);
}
