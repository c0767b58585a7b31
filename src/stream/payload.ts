/**
 * Frame payload codecs: which bytes a frame stores for a raw payload, and
 * back. LZ4 frames store one LZ4 block, DEFLATE frames raw DEFLATE; the raw
 * length is in the frame header, so decoding never allocates more than it.
 *
 * @module
 */

import { WalError } from "../errors.ts";
import { CODEC_DEFLATE, CODEC_LZ4, CODEC_NONE } from "../format/frame.ts";
import { lz4CompressBlock, lz4DecompressBlock } from "../codec/lz4.ts";
import { deflateRaw, inflateRaw } from "../codec/deflate.ts";
import type { Compression } from "../options.ts";

/** Compresses `raw` with `kind`; the caller keeps it only if it is smaller. */
export function compressPayload(kind: Compression, raw: Uint8Array): { codec: number; data: Uint8Array } | undefined {
  if (kind === "lz4") return { codec: CODEC_LZ4, data: lz4CompressBlock(raw) };
  if (kind === "deflate") return { codec: CODEC_DEFLATE, data: deflateRaw(raw, 1) };
  return undefined;
}

/** Decodes a stored payload of `codec` to exactly `rawLen` bytes; `where` names the frame in errors. */
export function decodePayload(codec: number, stored: Uint8Array, rawLen: number, where: string): Uint8Array {
  if (codec === CODEC_NONE) return stored;
  try {
    const out = codec === CODEC_LZ4 ? lz4DecompressBlock(stored, rawLen) : inflateRaw(stored, rawLen);
    if (out.length !== rawLen) throw new Error(`decoded ${out.length} bytes, header says ${rawLen}`);
    return out;
  } catch (e) {
    throw new WalError(
      "CORRUPTION",
      `${where}: ${codec === CODEC_LZ4 ? "LZ4" : "DEFLATE"} payload does not decode (${e instanceof Error ? e.message : String(e)}); ` +
        `the frame passed its CRC, so the writer was faulty: restore from a backup`,
      { cause: e },
    );
  }
}
