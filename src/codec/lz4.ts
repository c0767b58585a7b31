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
 * @module
 */

import { WalError } from "../errors.ts";

// ---------------------------------------------------------------------------
// Constants of the formats
// ---------------------------------------------------------------------------

const FRAME_MAGIC = 0x184d2204;
const SKIPPABLE_MAGIC_MASK = 0xfffffff0;
const SKIPPABLE_MAGIC = 0x184d2a50;
const LEGACY_MAGIC = 0x184c2102;

/** Minimum match length of the block format. */
const MIN_MATCH = 4;
/** The last 5 bytes of a block are always literals. */
const LAST_LITERALS = 5;
/** A match may not start within the last 12 bytes of a block. */
const MF_LIMIT = 12;
/** Blocks shorter than this are stored as literals only. */
const MIN_LENGTH = MF_LIMIT + 1;
/** Largest match offset the format can express. */
const MAX_DISTANCE = 65535;

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

function corrupt(message: string): WalError {
  return new WalError("CORRUPTION", `LZ4: ${message}`);
}

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

const HASH_LOG = 14;
const HASH_SHIFT = 32 - HASH_LOG;
/**
 * The match finder's table, reused across calls. An entry holds
 * `position + delta`, where `delta` grows by the block length plus 64 KiB
 * for every block compressed: an entry left by an earlier block therefore
 * always looks more than 65535 bytes away and is never used, so the table
 * never needs clearing (except when the counter would overflow).
 */
const hashTable = new Int32Array(1 << HASH_LOG);
let hashBase = MAX_DISTANCE + 1;

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
 * Compresses `src[start, end)` as one independent LZ4 block into `dst` at
 * `op`; `dst` must have `lz4BlockBound(end - start)` bytes free at `op`.
 * Returns the new write position.
 */
function encodeBlock(src: Uint8Array, start: number, end: number, dst: Uint8Array, op: number): number {
  const len = end - start;
  let anchor = start;
  const sv = new DataView(src.buffer, src.byteOffset, src.byteLength);
  if (len >= MIN_LENGTH) {
    if (hashBase > 0x7fffffff - len - MAX_DISTANCE - 2) {
      hashTable.fill(0);
      hashBase = MAX_DISTANCE + 1;
    }
    const table = hashTable;
    const delta = hashBase - start;
    hashBase += len + MAX_DISTANCE + 1;
    // Last position at which a match may start, and where matches must stop.
    const mfLimit = end - MF_LIMIT;
    const matchLimit = end - LAST_LITERALS;

    let ip = start;
    table[Math.imul(sv.getInt32(ip, true), -1640531535) >>> HASH_SHIFT] = ip + delta;
    ip++;
    let forwardH = Math.imul(sv.getInt32(ip, true), -1640531535) >>> HASH_SHIFT;

    outer: for (;;) {
      // Find a match of 4 bytes, stepping faster through data that has none.
      let ref = 0;
      let forwardIp = ip;
      let step = 1;
      let searchMatchNb = 1 << 6;
      do {
        const h = forwardH;
        ip = forwardIp;
        forwardIp += step;
        step = searchMatchNb++ >> 6;
        if (forwardIp > mfLimit) break outer;
        ref = table[h] - delta;
        forwardH = Math.imul(sv.getInt32(forwardIp, true), -1640531535) >>> HASH_SHIFT;
        table[h] = ip + delta;
      } while (ip - ref > MAX_DISTANCE || sv.getInt32(ref, true) !== sv.getInt32(ip, true));
      // Extend the match backwards over the pending literals.
      while (ip > anchor && ref > start && src[ip - 1] === src[ref - 1]) {
        ip--;
        ref--;
      }
      // Literals.
      const litLen = ip - anchor;
      let tokenPos = op++;
      if (litLen >= 15) {
        dst[tokenPos] = 0xf0;
        let l = litLen - 15;
        while (l >= 255) {
          dst[op++] = 255;
          l -= 255;
        }
        dst[op++] = l;
      } else {
        dst[tokenPos] = litLen << 4;
      }
      if (litLen > 32) {
        dst.set(src.subarray(anchor, ip), op);
        op += litLen;
      } else {
        for (let k = anchor; k < ip; k++) dst[op++] = src[k];
      }

      for (;;) {
        // Offset and match length (the first 4 bytes are known equal).
        const offset = ip - ref;
        dst[op++] = offset;
        dst[op++] = offset >>> 8;
        let p = ip + MIN_MATCH;
        let q = ref + MIN_MATCH;
        while (p <= matchLimit - 4) {
          const diff = sv.getInt32(p, true) ^ sv.getInt32(q, true);
          if (diff !== 0) {
            // Skip the equal low bytes; the tail loop then stops at once.
            const k = (31 - Math.clz32(diff & -diff)) >>> 3;
            p += k;
            q += k;
            break;
          }
          p += 4;
          q += 4;
        }
        while (p < matchLimit && src[p] === src[q]) {
          p++;
          q++;
        }
        let ml = p - ip - MIN_MATCH;
        ip = p;
        if (ml >= 15) {
          dst[tokenPos] |= 15;
          ml -= 15;
          while (ml >= 255) {
            dst[op++] = 255;
            ml -= 255;
          }
          dst[op++] = ml;
        } else {
          dst[tokenPos] |= ml;
        }
        anchor = ip;
        if (ip > mfLimit) break outer;
        // Fill the table at ip - 2 and try an immediate match at ip.
        table[Math.imul(sv.getInt32(ip - 2, true), -1640531535) >>> HASH_SHIFT] = ip - 2 + delta;
        const h = Math.imul(sv.getInt32(ip, true), -1640531535) >>> HASH_SHIFT;
        ref = table[h] - delta;
        table[h] = ip + delta;
        if (ip - ref <= MAX_DISTANCE && sv.getInt32(ref, true) === sv.getInt32(ip, true)) {
          tokenPos = op++;
          dst[tokenPos] = 0;
          continue;
        }
        ip++;
        forwardH = Math.imul(sv.getInt32(ip, true), -1640531535) >>> HASH_SHIFT;
        break;
      }
    }
  }
  // Last literals.
  const litLen = end - anchor;
  if (litLen >= 15) {
    dst[op++] = 0xf0;
    let l = litLen - 15;
    while (l >= 255) {
      dst[op++] = 255;
      l -= 255;
    }
    dst[op++] = l;
  } else {
    dst[op++] = litLen << 4;
  }
  dst.set(src.subarray(anchor, end), op);
  return op + litLen;
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
  if (dst === undefined) {
    const out = new Uint8Array(bound);
    return out.subarray(0, encodeBlock(src, 0, src.length, out, 0));
  }
  if (dst.length < bound) {
    throw new WalError(
      "CONFIG",
      `lz4CompressBlock: dst holds ${dst.length} bytes, needs lz4BlockBound(${src.length}) = ${bound}`,
    );
  }
  return dst.subarray(0, encodeBlock(src, 0, src.length, dst, 0));
}

// ---------------------------------------------------------------------------
// Block decompression
// ---------------------------------------------------------------------------

/**
 * Decodes the LZ4 block `src[ip, ipEnd)` into `dst` from `op`, writing no
 * further than `opEnd`; matches may reach back to `low` and no further.
 * Returns the new write position. `base` is added to input positions in
 * error messages.
 */
function decodeBlock(
  src: Uint8Array,
  ip: number,
  ipEnd: number,
  dst: Uint8Array,
  op: number,
  opEnd: number,
  low: number,
  base: number,
): number {
  const dv = new DataView(dst.buffer, dst.byteOffset, dst.byteLength);
  const sv = new DataView(src.buffer, src.byteOffset, src.byteLength);
  const srcLen = src.length;
  for (;;) {
    if (ip >= ipEnd) {
      throw corrupt(`block ends at byte ${ip + base} without final literals`);
    }
    const token = src[ip++];
    // Literals.
    let lit = token >>> 4;
    if (lit === 15) {
      let b = 255;
      while (b === 255) {
        if (ip >= ipEnd) throw corrupt(`literal length runs past the block end at byte ${ip + base}`);
        b = src[ip++];
        lit += b;
      }
    }
    if (lit !== 0) {
      if (lit > ipEnd - ip) {
        throw corrupt(`${lit} literals at byte ${ip + base} run past the block end (${ipEnd - ip} bytes left)`);
      }
      if (lit > opEnd - op) {
        throw corrupt(`${lit} literals at byte ${ip + base} overflow the output (${opEnd - op} bytes left)`);
      }
      if (lit > 64) {
        dst.set(src.subarray(ip, ip + lit), op);
        ip += lit;
        op += lit;
      } else if (lit <= 8 && op + 8 <= opEnd && ip + 8 <= srcLen) {
        dv.setInt32(op, sv.getInt32(ip, true), true);
        dv.setInt32(op + 4, sv.getInt32(ip + 4, true), true);
        ip += lit;
        op += lit;
      } else if (op + lit + 4 <= opEnd && ip + lit + 4 <= srcLen) {
        // Copy 4 bytes at a time; the last store may spill up to 3 bytes
        // past the literals, which later output overwrites.
        const e = op + lit;
        do {
          dv.setInt32(op, sv.getInt32(ip, true), true);
          op += 4;
          ip += 4;
        } while (op < e);
        ip -= op - e;
        op = e;
      } else {
        const e = ip + lit;
        while (ip < e) dst[op++] = src[ip++];
      }
    }
    if (ip === ipEnd) return op;
    // Match.
    if (ipEnd - ip < 2) throw corrupt(`match offset truncated at byte ${ip + base}`);
    const offset = src[ip] | (src[ip + 1] << 8);
    const ref = op - offset;
    if (offset === 0 || ref < low) {
      throw corrupt(
        `match offset ${offset} at byte ${ip + base} points ${
          offset === 0 ? "at itself" : `${low - ref} bytes before the start of the data`
        }`,
      );
    }
    ip += 2;
    let ml = token & 15;
    if (ml === 15) {
      let b = 255;
      while (b === 255) {
        if (ip >= ipEnd) throw corrupt(`match length runs past the block end at byte ${ip + base}`);
        b = src[ip++];
        ml += b;
      }
    }
    ml += MIN_MATCH;
    if (ml > opEnd - op) {
      throw corrupt(`match of ${ml} bytes before byte ${ip + base} overflows the output (${opEnd - op} bytes left)`);
    }
    if (ml <= 16 && offset >= 4 && op + 16 <= opEnd) {
      // Short match: a fixed 16-byte copy, 4 bytes at a time (each load reads
      // bytes already written as offset >= 4); bytes past the match are
      // overwritten by later output.
      dv.setInt32(op, dv.getInt32(ref, true), true);
      dv.setInt32(op + 4, dv.getInt32(ref + 4, true), true);
      dv.setInt32(op + 8, dv.getInt32(ref + 8, true), true);
      dv.setInt32(op + 12, dv.getInt32(ref + 12, true), true);
      op += ml;
    } else if (ml <= 64 && offset >= 4 && op + ml + 4 <= opEnd) {
      // 4 bytes at a time: each load reads bytes already written (offset >= 4).
      let r = ref;
      const e = op + ml;
      do {
        dv.setInt32(op, dv.getInt32(r, true), true);
        op += 4;
        r += 4;
      } while (op < e);
      op = e;
    } else if (ml <= 64) {
      let r = ref;
      const e = op + ml;
      while (op < e) dst[op++] = dst[r++];
    } else if (offset >= ml) {
      dst.copyWithin(op, ref, ref + ml);
      op += ml;
    } else {
      // Overlapping: replicate the period `offset`, doubling each time.
      let done = offset;
      dst.copyWithin(op, ref, op);
      while (done < ml) {
        const n = done < ml - done ? done : ml - done;
        dst.copyWithin(op + done, ref, ref + n);
        done += n;
      }
      op += ml;
    }
  }
}

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
    const out = new Uint8Array(dst);
    const n = decodeBlock(src, 0, src.length, out, 0, dst, 0, 0);
    if (n !== dst) throw corrupt(`block decoded to ${n} bytes, expected ${dst}`);
    return out;
  }
  return dst.subarray(0, decodeBlock(src, 0, src.length, dst, 0, dst.length, 0, 0));
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
  const blocks = Math.ceil(n / OUT_BLOCK_SIZE);
  const bound = 15 + blocks * 4 + lz4BlockBound(n) + blocks * 16 + 8;
  const out = new Uint8Array(bound);
  write32(out, 0, FRAME_MAGIC);
  // FLG: version 01, independent blocks, content size, [content checksum].
  out[4] = 0x40 | 0x20 | 0x08 | (checksum ? 0x04 : 0);
  out[5] = OUT_BLOCK_CODE << 4;
  write32(out, 6, n >>> 0);
  write32(out, 10, Math.floor(n / 0x100000000));
  out[14] = (xxh32Range(out, 4, 14, 0) >>> 8) & 0xff;
  let op = 15;
  for (let start = 0; start < n; start += OUT_BLOCK_SIZE) {
    const end = Math.min(n, start + OUT_BLOCK_SIZE);
    const size = encodeBlock(data, start, end, out, op + 4) - op - 4;
    if (size >= end - start) {
      write32(out, op, (end - start) | 0x80000000);
      out.set(data.subarray(start, end), op + 4);
      op += 4 + end - start;
    } else {
      write32(out, op, size);
      op += 4 + size;
    }
  }
  write32(out, op, 0);
  op += 4;
  if (checksum) {
    write32(out, op, xxh32Range(data, 0, n, 0));
    op += 4;
  }
  return out.slice(0, op);
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
        op = decodeBlock(src, data, data + size, out, op, opEnd, info.independent ? op : frameStart, 0);
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
