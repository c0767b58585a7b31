/**
 * A small base64 decoder (RFC 4648, standard alphabet, `=` padding), so that
 * the core needs neither `atob` nor `Buffer` to unpack the embedded
 * WebAssembly. Not meant for untrusted input: it rejects any other character.
 *
 * @module
 */

const ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/**
 * Decodes base64 text to bytes.
 *
 * @param text Base64 text, its length a multiple of 4, with `=` padding.
 * @returns The decoded bytes.
 * @throws {Error} if the text is not well-formed base64.
 *
 * @example
 * ```ts
 * import { decodeBase64 } from "./_base64.ts";
 * console.log(decodeBase64("AGFzbQ==")); // Uint8Array [0, 97, 115, 109]
 * ```
 */
export function decodeBase64(text: string): Uint8Array {
  const lookup = new Int16Array(128).fill(-1);
  for (let i = 0; i < 64; i++) lookup[ALPHABET.charCodeAt(i)] = i;
  if (text.length % 4 !== 0) throw new Error(`base64: length ${text.length} is not a multiple of 4`);
  let pad = 0;
  if (text.endsWith("==")) pad = 2;
  else if (text.endsWith("=")) pad = 1;
  const out = new Uint8Array((text.length / 4) * 3 - pad);
  let o = 0;
  for (let i = 0; i < text.length; i += 4) {
    let word = 0;
    for (let k = 0; k < 4; k++) {
      const c = text.charCodeAt(i + k);
      let v = c < 128 ? lookup[c] : -1;
      if (v < 0) {
        if (c === 61 && i + 4 === text.length && k >= 4 - pad) v = 0; // "=" padding
        else throw new Error(`base64: unexpected character at ${i + k}`);
      }
      word = (word << 6) | v;
    }
    out[o++] = word >>> 16;
    if (o < out.length) out[o++] = (word >>> 8) & 0xff;
    if (o < out.length) out[o++] = word & 0xff;
  }
  return out;
}
