/**
 * The `ACTIVE` hint of a stream directory (FORMAT.md §1.3): 20 bytes naming
 * the first id of a segment U such that every older segment is sealed, whole
 * and durable, so open finds the newest segment without listing the
 * directory. A flag says whether segments from U on may have been sealed
 * without being fsynced ("deferred", async and interval modes): open then
 * lists the directory and scans every segment from U on. A hint, never the
 * truth: open checks that the segment it names exists and follows the chain
 * of segment names forward from it, and lists the directory when the hint
 * is missing, damaged or names a file that is gone.
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

/** Flag: segments from the named one on may be sealed without being durable. */
const FLAG_DEFERRED = 1;

/** A decoded hint. */
export interface ActiveHint {
  /** First id of the segment named (U). */
  firstId: number;
  /** True if segments from U on may have been sealed without an fsync (open lists and scans them all). */
  deferred: boolean;
}

/**
 * Encodes a hint naming the segment whose first id is `firstId`, with the
 * deferred flag if `deferred`.
 *
 * @example
 * ```ts
 * import { decodeActiveHint, encodeActiveHint } from "./active_hint.ts";
 * console.log(decodeActiveHint(encodeActiveHint(4096))); // 4096
 * ```
 */
export function encodeActiveHint(firstId: number, deferred = false): Uint8Array {
  const b = new Uint8Array(ACTIVE_HINT_SIZE);
  putU32(b, 0, MAGIC);
  putU16(b, 4, VERSION);
  putU16(b, 6, deferred ? FLAG_DEFERRED : 0);
  putU53(b, 8, firstId);
  putU32(b, 16, crc32(b.subarray(0, 16)));
  return b;
}

/**
 * Decodes a hint: the first id of the segment it names, or -1 if the bytes
 * are not a valid hint (wrong size, magic, version, flags or CRC, id ≥ 2^53).
 *
 * @example
 * ```ts
 * import { decodeActiveHint, encodeActiveHint } from "./active_hint.ts";
 * console.log(decodeActiveHint(encodeActiveHint(7, true))); // 7
 * ```
 */
export function decodeActiveHint(b: Uint8Array): number {
  return readActiveHint(b)?.firstId ?? -1;
}

/**
 * Decodes a hint with its flag, or returns undefined if the bytes are not a
 * valid hint (wrong size, magic, version, flags or CRC, id ≥ 2^53).
 *
 * @example
 * ```ts
 * import { encodeActiveHint, readActiveHint } from "./active_hint.ts";
 * console.log(readActiveHint(encodeActiveHint(7, true))); // { firstId: 7, deferred: true }
 * ```
 */
export function readActiveHint(b: Uint8Array): ActiveHint | undefined {
  if (b.length !== ACTIVE_HINT_SIZE) return undefined;
  if (getU32(b, 0) !== MAGIC) return undefined;
  if (getU32(b, 16) !== crc32(b.subarray(0, 16))) return undefined;
  const flags = getU16(b, 6);
  if (getU16(b, 4) !== VERSION || (flags & ~FLAG_DEFERRED) !== 0) return undefined;
  const firstId = getU53(b, 8);
  if (firstId < 0) return undefined;
  return { firstId, deferred: flags === FLAG_DEFERRED };
}
