/**
 * Instantiates one of our embedded WebAssembly modules (base64 text from a
 * `*.generated.ts` file), synchronously and without imports.
 *
 * @module
 */

import { decodeBase64 } from "./_base64.ts";

// The WebAssembly API as far as we use it (the ES and Node type libraries do
// not declare it; Deno, Bun and Node all provide it).
interface WasmApi {
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object, imports: object) => { exports: unknown };
}

/**
 * The exports of the module in `base64`, or `undefined` where WebAssembly is
 * missing or rejects the module (e.g. an engine without SIMD or bulk memory).
 */
export function instantiateWasm(base64: string): unknown {
  const api = (globalThis as { WebAssembly?: WasmApi }).WebAssembly;
  if (api === undefined) return undefined;
  try {
    return new api.Instance(new api.Module(decodeBase64(base64)), {}).exports;
  } catch {
    return undefined;
  }
}
