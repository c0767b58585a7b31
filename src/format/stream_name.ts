/**
 * The reversible, collision-free mapping from a stream key to a directory
 * name (FORMAT.md §1).
 *
 * Bytes of the key's UTF-8 form in `[a-z0-9-]` stay as they are; every other
 * byte (upper case too, so case-insensitive file systems cannot merge two
 * keys) becomes `_` and two lower-case hex digits. `_` itself is escaped, so
 * decoding is unambiguous, and `.`, `/`, `\` and NUL can never appear.
 *
 * @module
 */

import { WalError } from "../errors.ts";

const enc = new TextEncoder();
const dec = new TextDecoder("utf-8", { fatal: true });
const HEX = "0123456789abcdef";

/** Longest directory name produced (most file systems allow 255 bytes). */
export const MAX_DIR_NAME = 255;

/**
 * Plain names a stream directory must not take: they equal, ignoring case,
 * a file ironwal keeps in `root` (LOCK, HEAD, SHARDS), which would be the
 * same entry on a case-insensitive file system (macOS, Windows), or a
 * Windows device name. Their first byte is escaped instead (`lock` →
 * `_6cock`).
 */
const RESERVED = new Set([
  "lock", "head", "shards", "con", "prn", "aux", "nul",
  ...[1, 2, 3, 4, 5, 6, 7, 8, 9].flatMap((d) => [`com${d}`, `lpt${d}`]),
]);

function plain(c: number): boolean {
  return (c >= 0x61 && c <= 0x7a) || (c >= 0x30 && c <= 0x39) || c === 0x2d;
}

/** The directory name of stream `key`; throws CONFIG for an empty or too long key. */
export function encodeStreamName(key: string): string {
  if (typeof key !== "string" || key.length === 0) {
    throw new WalError("CONFIG", `stream key must be a non-empty string, got ${JSON.stringify(key)}`);
  }
  const bytes = enc.encode(key);
  if (/[\uD800-\uDFFF]/.test(key) && dec.decode(bytes) !== key) {
    throw new WalError(
      "CONFIG",
      `stream key ${JSON.stringify(key)} holds a lone UTF-16 surrogate; it has no UTF-8 form, ` +
        `so two such keys could share a directory: use well-formed strings`,
    );
  }
  let out = "";
  for (let i = 0; i < bytes.length; i++) {
    const c = bytes[i];
    out += plain(c) ? String.fromCharCode(c) : "_" + HEX[c >> 4] + HEX[c & 15];
  }
  if (RESERVED.has(out)) out = "_" + HEX[bytes[0] >> 4] + HEX[bytes[0] & 15] + out.slice(1);
  if (out.length > MAX_DIR_NAME) {
    throw new WalError(
      "CONFIG",
      `stream key ${JSON.stringify(key.slice(0, 40))}... encodes to a ${out.length}-byte directory name; ` +
        `the limit is ${MAX_DIR_NAME}: use a shorter key (up to 85 arbitrary bytes or 255 of [a-z0-9-])`,
    );
  }
  return out;
}

/** The stream key of a directory name, or undefined if the name is not one we made. */
export function decodeStreamName(name: string): string | undefined {
  if (name.length === 0) return undefined;
  const bytes = new Uint8Array(name.length);
  let n = 0;
  for (let i = 0; i < name.length; i++) {
    const c = name.charCodeAt(i);
    if (plain(c)) {
      bytes[n++] = c;
    } else if (c === 0x5f && i + 2 < name.length) {
      const h = HEX.indexOf(name[i + 1]);
      const l = HEX.indexOf(name[i + 2]);
      if (h < 0 || l < 0) return undefined;
      const b = (h << 4) | l;
      // Not canonical: plain bytes are escaped only to keep a reserved name out (checked below).
      if (plain(b) && i !== 0) return undefined;
      bytes[n++] = b;
      i += 2;
    } else {
      return undefined;
    }
  }
  if (plain(bytes[0]) && name.charCodeAt(0) === 0x5f) {
    // An escaped plain first byte is canonical only for a reserved name.
    return RESERVED.has(String.fromCharCode(...bytes.subarray(0, n))) ? String.fromCharCode(...bytes.subarray(0, n)) : undefined;
  }
  try {
    return dec.decode(bytes.subarray(0, n));
  } catch {
    return undefined;
  }
}
