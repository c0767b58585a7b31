/**
 * Raw DEFLATE (RFC 1951, no zlib or gzip wrapper) through `fflate`, with
 * ironwal's error conventions.
 *
 * @module
 */

import { deflateSync, inflateSync } from "fflate";
import { WalError } from "../errors.ts";

/** A DEFLATE compression level: 0 stores, 1 is fastest, 9 compresses most. */
export type DeflateLevel = 0 | 1 | 2 | 3 | 4 | 5 | 6 | 7 | 8 | 9;

/**
 * Compresses `data` as raw DEFLATE.
 *
 * @param data The bytes to compress.
 * @param level The compression level [6, zlib's default; 1 is several times
 *   faster for a slightly larger output].
 * @returns The compressed bytes.
 * @throws {WalError} `CONFIG` if `level` is not an integer from 0 to 9.
 *
 * @example
 * ```ts
 * import { deflateRaw, inflateRaw } from "./deflate.ts";
 * const raw = new TextEncoder().encode("abcabcabcabcabcabc");
 * const packed = deflateRaw(raw, 1);
 * console.log(inflateRaw(packed, raw.length).length); // 18
 * ```
 */
export function deflateRaw(data: Uint8Array, level: DeflateLevel = 6): Uint8Array {
  if (!Number.isInteger(level) || level < 0 || level > 9) {
    throw new WalError("CONFIG", `deflate level must be an integer from 0 to 9, got ${level}`);
  }
  return deflateSync(data, { level });
}

/**
 * Decompresses raw DEFLATE data.
 *
 * @param data The compressed bytes, exactly one DEFLATE stream.
 * @param rawLength The expected uncompressed length, when known (the WAL
 *   stores it): the output is allocated once at that size, and a stream that
 *   decodes to a different length is corruption.
 * @returns The decompressed bytes.
 * @throws {WalError} `CORRUPTION` if the stream is malformed or truncated, or
 *   does not decode to exactly `rawLength` bytes; `CONFIG` if `rawLength` is
 *   not a non-negative integer.
 *
 * @example
 * ```ts
 * import { deflateRaw, inflateRaw } from "./deflate.ts";
 * const packed = deflateRaw(new Uint8Array(1000));
 * console.log(inflateRaw(packed).length); // 1000
 * ```
 */
export function inflateRaw(data: Uint8Array, rawLength?: number): Uint8Array {
  if (rawLength === undefined) {
    try {
      return inflateSync(data);
    } catch (e) {
      throw inflateError(e, data.length);
    }
  }
  if (!Number.isSafeInteger(rawLength) || rawLength < 0) {
    throw new WalError("CONFIG", `inflateRaw: rawLength must be a non-negative integer, got ${rawLength}`);
  }
  // DEFLATE expands at most 1032-fold: refuse a length the input cannot produce
  // before allocating it.
  if (rawLength > data.length * 1032 + 1032) {
    throw new WalError(
      "CORRUPTION",
      `DEFLATE: ${data.length} compressed bytes cannot hold ${rawLength} bytes; the stored length is wrong`,
    );
  }
  // One spare byte: fflate truncates silently to the buffer it is given, so
  // a stream longer than rawLength shows up as rawLength + 1 bytes.
  const buf = new Uint8Array(rawLength + 1);
  let out: Uint8Array;
  try {
    out = inflateSync(data, { out: buf });
  } catch (e) {
    throw inflateError(e, data.length);
  }
  if (out.length !== rawLength) {
    throw new WalError(
      "CORRUPTION",
      `DEFLATE: stream decodes to ${out.length > rawLength ? "more than" : "only"} ${
        out.length > rawLength ? rawLength : out.length
      } bytes, expected ${rawLength}`,
    );
  }
  return buf.subarray(0, rawLength);
}

function inflateError(e: unknown, n: number): WalError {
  const detail = e instanceof Error ? e.message : String(e);
  return new WalError("CORRUPTION", `DEFLATE: invalid stream of ${n} bytes: ${detail}`, { cause: e });
}
