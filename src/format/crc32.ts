/**
 * CRC-32 (IEEE 802.3, the zlib/PNG polynomial 0xEDB88320): the checksum of
 * every frame, segment header, index file and checkpoint record.
 *
 * Three implementations give the same bytes: the runtime's `zlib.crc32`
 * (registered by the runtime adapters; 4 GB/s on Node, 60+ GB/s on Deno and
 * Bun), `hash-wasm` (loaded by {@link initCrc32} where no native one exists),
 * and a table-driven fallback used only until one of those is ready.
 *
 * @module
 */

type CrcFn = (data: Uint8Array, seed: number) => number;

const TABLE = /* @__PURE__ */ (() => {
  const t = new Int32Array(256 * 8);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c;
  }
  for (let n = 0; n < 256; n++) {
    let c = t[n];
    for (let k = 1; k < 8; k++) {
      c = t[c & 0xff] ^ (c >>> 8);
      t[k * 256 + n] = c;
    }
  }
  return t;
})();

/** Slicing-by-8 CRC-32 in plain TypeScript. */
export function crc32Table(data: Uint8Array, seed = 0): number {
  return crc32Range(data, 0, data.length, seed);
}

/**
 * CRC-32 of `buf[start..end)` by table, without a subarray: for short spans
 * such as a frame header, where a call into the runtime's CRC costs more
 * than the bytes. `seed` continues a previous CRC, as with {@link crc32}.
 */
export function crc32Range(buf: Uint8Array, start: number, end: number, seed = 0): number {
  let c = ~seed;
  let i = start;
  const t = TABLE;
  for (; i + 8 <= end; i += 8) {
    const a = c ^ (buf[i] | (buf[i + 1] << 8) | (buf[i + 2] << 16) | (buf[i + 3] << 24));
    c = t[1792 + (a & 0xff)] ^ t[1536 + ((a >>> 8) & 0xff)] ^ t[1280 + ((a >>> 16) & 0xff)] ^
      t[1024 + (a >>> 24)] ^ t[768 + buf[i + 4]] ^ t[512 + buf[i + 5]] ^
      t[256 + buf[i + 6]] ^ t[buf[i + 7]];
  }
  for (; i < end; i++) c = t[(c ^ buf[i]) & 0xff] ^ (c >>> 8);
  return ~c >>> 0;
}

let impl: CrcFn = crc32Table;
let implName = "table";

/**
 * CRC-32 (IEEE) of `data`, continuing from `seed` (the CRC of the bytes
 * before it; 0 to start).
 *
 * @example
 * ```ts
 * import { crc32 } from "./crc32.ts";
 * const enc = new TextEncoder();
 * console.assert(crc32(enc.encode("123456789")) === 0xcbf43926);
 * console.assert(crc32(enc.encode("6789"), crc32(enc.encode("12345"))) === 0xcbf43926);
 * ```
 */
export function crc32(data: Uint8Array, seed = 0): number {
  return impl(data, seed);
}

/** Which implementation {@link crc32} uses now: "native", "hash-wasm" or "table". */
export function crc32Implementation(): string {
  return implName;
}

/**
 * Registers the runtime's native CRC-32 (e.g. `zlib.crc32`), called as is
 * (no wrapper on the hot path): it must return the unsigned CRC and continue
 * from `seed` like zlib's.
 */
export function registerNativeCrc32(fn: (data: Uint8Array, seed?: number) => number): void {
  impl = fn as CrcFn;
  implName = "native";
}

let wasmInit: Promise<void> | undefined;

/**
 * Makes sure a fast CRC-32 is in place: keeps a registered native one, else
 * loads `hash-wasm`. Called by `Wal.open`; safe to call many times.
 */
export function initCrc32(): Promise<void> {
  if (implName !== "table") return Promise.resolve();
  wasmInit ??= (async () => {
    try {
      const { createCRC32 } = await import("hash-wasm");
      const hasher = await createCRC32();
      const out = new Uint8Array(4);
      impl = (data, seed) => {
        // hash-wasm cannot continue from a seed; the table handles that rare case.
        if (seed !== 0) return crc32Table(data, seed);
        hasher.init();
        hasher.update(data);
        const d = hasher.digest("binary");
        out.set(d);
        return ((out[0] << 24) | (out[1] << 16) | (out[2] << 8) | out[3]) >>> 0;
      };
      implName = "hash-wasm";
    } catch {
      // Keep the table: same bytes, only slower.
    }
  })();
  return wasmInit;
}
