/**
 * The Deno adapter: {@link WalFs} over Deno's `node:fs` synchronous calls,
 * because `Deno.FsFile` has no positional read or write (`readSync`/`writeSync`
 * with a position are real pread/pwrite under Deno). Deno has no mmap without
 * FFI, so `map` is left undefined and the core reads with `read`.
 *
 * @module
 */

import type { WalFs } from "../src/io.ts";
import { createNodeFsImpl } from "./_node_fs.ts";

/**
 * Creates a new Deno file system adapter (named "deno").
 *
 * @returns a {@link WalFs} over Deno's `node:fs`.
 * @example
 * ```ts
 * import { createDenoFs } from "./deno.ts";
 * console.log(createDenoFs().name); // "deno"
 * ```
 */
export function createDenoFs(): WalFs {
  return createNodeFsImpl("deno");
}

/**
 * The shared Deno file system adapter (named "deno").
 *
 * @example
 * ```ts
 * import { denoFs } from "./deno.ts";
 * console.log(denoFs.name); // "deno"
 * ```
 */
export const denoFs: WalFs = createDenoFs();
