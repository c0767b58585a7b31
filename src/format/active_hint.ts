/**
 * The `ACTIVE` hint of a stream directory (FORMAT.md §1.3): 20 bytes naming
 * the first id of the stream's active segment, so open finds the newest
 * segment without listing the directory. A hint, never the truth: open
 * checks that the segment it names exists and follows the chain of segment
 * names forward from it, and lists the directory when the hint is missing,
 * damaged or names a file that is gone.
 *
 * @module
 */

import { crc32 } from "./crc32.ts";
import { getU16, getU32, getU53, putU16, putU32, putU53 } from "./bytes.ts";

/** File name of the hint inside a stream directory. */
export const ACTIVE_HINT_NAME = "ACTIVE";
/** Size of the hint file in bytes. */
export const ACTIVE_HINT_SIZE = 20;
/** "IWAS": magic of the hint (ironwal active segment). */
const MAGIC = 0x53415749;
const VERSION = 1;

/**
 * Encodes a hint naming the segment whose first id is `firstId`.
 *
 * @example
 * ```ts
 * import { decodeActiveHint, encodeActiveHint } from "./active_hint.ts";
 * console.log(decodeActiveHint(encodeActiveHint(4096))); // 4096
 * ```
 */
export function encodeActiveHint(firstId: number): Uint8Array {
  const b = new Uint8Array(ACTIVE_HINT_SIZE);
  putU32(b, 0, MAGIC);
  putU16(b, 4, VERSION);
  putU16(b, 6, 0);
  putU53(b, 8, firstId);
  putU32(b, 16, crc32(b.subarray(0, 16)));
  return b;
}

/**
 * Decodes a hint: the first id of the segment it names, or -1 if the bytes
 * are not a valid hint (wrong size, magic, version or CRC, id ≥ 2^53).
 */
export function decodeActiveHint(b: Uint8Array): number {
  if (b.length !== ACTIVE_HINT_SIZE) return -1;
  if (getU32(b, 0) !== MAGIC) return -1;
  if (getU32(b, 16) !== crc32(b.subarray(0, 16))) return -1;
  if (getU16(b, 4) !== VERSION || getU16(b, 6) !== 0) return -1;
  return getU53(b, 8);
}
