/** Little-endian integer helpers on plain byte arrays (no DataView per call). */

/** Reads an unsigned 32-bit little-endian integer. */
export function getU32(b: Uint8Array, o: number): number {
  return (b[o] | (b[o + 1] << 8) | (b[o + 2] << 16) | (b[o + 3] << 24)) >>> 0;
}

/** Writes an unsigned 32-bit little-endian integer. */
export function putU32(b: Uint8Array, o: number, v: number): void {
  b[o] = v;
  b[o + 1] = v >>> 8;
  b[o + 2] = v >>> 16;
  b[o + 3] = v >>> 24;
}

/** Reads an unsigned 16-bit little-endian integer. */
export function getU16(b: Uint8Array, o: number): number {
  return b[o] | (b[o + 1] << 8);
}

/** Writes an unsigned 16-bit little-endian integer. */
export function putU16(b: Uint8Array, o: number, v: number): void {
  b[o] = v;
  b[o + 1] = v >>> 8;
}

/** Reads a 64-bit little-endian integer that must be a safe integer (< 2^53); -1 if not. */
export function getU53(b: Uint8Array, o: number): number {
  const lo = getU32(b, o);
  const hi = getU32(b, o + 4);
  if (hi > 0x1fffff) return -1;
  return hi * 0x100000000 + lo;
}

/** Writes a safe non-negative integer as 64-bit little-endian. */
export function putU53(b: Uint8Array, o: number, v: number): void {
  putU32(b, o, v >>> 0);
  putU32(b, o + 4, Math.floor(v / 0x100000000));
}

/** Bytes equal? */
export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
