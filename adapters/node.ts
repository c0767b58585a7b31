/**
 * The Node.js adapter: {@link WalFs} over `node:fs` synchronous calls
 * (positional read/write are pread/pwrite, `datasync` is fdatasync). Node has
 * no mmap without a native addon, so `map` is not provided.
 *
 * @module
 */

import type { WalFs } from "../src/io.ts";
import { createNodeFsImpl } from "./_node_fs.ts";

/**
 * Creates a new Node.js file system adapter (named "node").
 *
 * @returns a {@link WalFs} over `node:fs`.
 * @example
 * ```ts
 * import { createNodeFs } from "./node.ts";
 * const fs = createNodeFs();
 * console.log(fs.name); // "node"
 * ```
 */
export function createNodeFs(): WalFs {
  return createNodeFsImpl("node");
}

/**
 * The shared Node.js file system adapter (named "node").
 *
 * @example
 * ```ts
 * import { nodeFs } from "./node.ts";
 * console.log(nodeFs.stat("/no/such/path")); // undefined
 * ```
 */
export const nodeFs: WalFs = createNodeFs();
