/**
 * The LZ4 block codec in TypeScript: the compressor and decompressor of one
 * raw block. {@link ./lz4.ts} uses them for blocks too large for the
 * WebAssembly codec (over 4 MiB; see `_lz4_block_wasm.ts`), and the tests use
 * them as the cross-check of the WebAssembly one: both write the same bytes
 * and report the same errors.
 *
 * @module
 */

import { WalError } from "../errors.ts";

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

/** A `CORRUPTION` error about LZ4 data. */
export function corrupt(message: string): WalError {
  return new WalError("CORRUPTION", `LZ4: ${message}`);
}

// The ways a block can be malformed, in the order the decoders check them
// (the WebAssembly decoder returns these codes negated).
/** The block ends where a token is due (it must end with literals). */
export const E_NO_FINAL_LITERALS = 1;
/** The literal length's extra bytes run past the block end. */
export const E_LITERAL_LENGTH_PAST_END = 2;
/** The literals run past the block end. */
export const E_LITERALS_PAST_END = 3;
/** The literals do not fit in the output. */
export const E_LITERALS_OVERFLOW = 4;
/** The block ends inside a match offset. */
export const E_OFFSET_TRUNCATED = 5;
/** A match offset of 0, or one reaching before the start of the data. */
export const E_BAD_OFFSET = 6;
/** The match length's extra bytes run past the block end. */
export const E_MATCH_LENGTH_PAST_END = 7;
/** The match does not fit in the output. */
export const E_MATCH_OVERFLOW = 8;

/**
 * The `CORRUPTION` error for a malformed block. `pos` is the byte offset in
 * the caller's input, `a` the literal count, match length or offset involved
 * and `left` the bytes left in the input or output (for a bad offset: how far
 * before the start of the data it points).
 */
export function blockError(code: number, pos: number, a: number, left: number): WalError {
  switch (code) {
    case E_NO_FINAL_LITERALS:
      return corrupt(`block ends at byte ${pos} without final literals`);
    case E_LITERAL_LENGTH_PAST_END:
      return corrupt(`literal length runs past the block end at byte ${pos}`);
    case E_LITERALS_PAST_END:
      return corrupt(`${a} literals at byte ${pos} run past the block end (${left} bytes left)`);
    case E_LITERALS_OVERFLOW:
      return corrupt(`${a} literals at byte ${pos} overflow the output (${left} bytes left)`);
    case E_OFFSET_TRUNCATED:
      return corrupt(`match offset truncated at byte ${pos}`);
    case E_BAD_OFFSET:
      return corrupt(
        `match offset ${a} at byte ${pos} points ${a === 0 ? "at itself" : `${left} bytes before the start of the data`}`,
      );
    case E_MATCH_LENGTH_PAST_END:
      return corrupt(`match length runs past the block end at byte ${pos}`);
    case E_MATCH_OVERFLOW:
      return corrupt(`match of ${a} bytes before byte ${pos} overflows the output (${left} bytes left)`);
    default:
      return corrupt(`block decoder failed with unknown code ${code} at byte ${pos}`);
  }
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
 * Compresses `src[start, end)` as one independent LZ4 block into `dst` at
 * `op`; `dst` must have `lz4BlockBound(end - start)` bytes free at `op`.
 * Returns the new write position.
 */
export function encodeBlockJs(src: Uint8Array, start: number, end: number, dst: Uint8Array, op: number): number {
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

// ---------------------------------------------------------------------------
// Block decompression
// ---------------------------------------------------------------------------

/**
 * Decodes the LZ4 block `src[ip, ipEnd)` into `dst` from `op`, writing no
 * further than `opEnd`; matches may reach back to `low` and no further.
 * Returns the new write position. `base` is added to input positions in
 * error messages.
 */
export function decodeBlockJs(
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
      throw blockError(E_NO_FINAL_LITERALS, ip + base, 0, 0);
    }
    const token = src[ip++];
    // Literals.
    let lit = token >>> 4;
    if (lit === 15) {
      let b = 255;
      while (b === 255) {
        if (ip >= ipEnd) throw blockError(E_LITERAL_LENGTH_PAST_END, ip + base, 0, 0);
        b = src[ip++];
        lit += b;
      }
    }
    if (lit !== 0) {
      if (lit > ipEnd - ip) {
        throw blockError(E_LITERALS_PAST_END, ip + base, lit, ipEnd - ip);
      }
      if (lit > opEnd - op) {
        throw blockError(E_LITERALS_OVERFLOW, ip + base, lit, opEnd - op);
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
    if (ipEnd - ip < 2) throw blockError(E_OFFSET_TRUNCATED, ip + base, 0, 0);
    const offset = src[ip] | (src[ip + 1] << 8);
    const ref = op - offset;
    if (offset === 0 || ref < low) {
      throw blockError(E_BAD_OFFSET, ip + base, offset, low - ref);
    }
    ip += 2;
    let ml = token & 15;
    if (ml === 15) {
      let b = 255;
      while (b === 255) {
        if (ip >= ipEnd) throw blockError(E_MATCH_LENGTH_PAST_END, ip + base, 0, 0);
        b = src[ip++];
        ml += b;
      }
    }
    ml += MIN_MATCH;
    if (ml > opEnd - op) {
      throw blockError(E_MATCH_OVERFLOW, ip + base, ml, opEnd - op);
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
