/**
 * The Bun adapter: {@link WalFs} over Bun's `node:fs` synchronous calls, plus
 * `map` through `Bun.mmap` (a private, read-only-in-practice mapping). The core
 * maps only sealed segments, which are never written or truncated again:
 * truncating a mapped file would kill the process with SIGBUS.
 *
 * @module
 */

import type { WalFs, WalMapping } from "../src/io.ts";
import { createNodeFsImpl } from "./_node_fs.ts";
import * as fs from "node:fs";

/** The part of the `Bun` global this adapter uses. */
interface BunMmap {
  mmap?(path: string, options?: { shared?: boolean }): Uint8Array;
}

/** A mapping whose bytes are dropped on close; Bun unmaps when it is collected. */
class BunMapping implements WalMapping {
  #bytes: Uint8Array;

  constructor(bytes: Uint8Array) {
    this.#bytes = bytes;
  }

  get bytes(): Uint8Array {
    return this.#bytes;
  }

  close(): void {
    this.#bytes = new Uint8Array(0);
  }
}

function bunMap(mmap: NonNullable<BunMmap["mmap"]>): (path: string) => WalMapping {
  return (path: string): WalMapping => {
    // mmap of an empty file fails with EINVAL; an empty view needs no mapping.
    if (fs.statSync(path).size === 0) return new BunMapping(new Uint8Array(0));
    return new BunMapping(mmap(path, { shared: false }));
  };
}

/**
 * Creates a new Bun file system adapter (named "bun"); `map` is present when
 * `Bun.mmap` is.
 *
 * @returns a {@link WalFs} over Bun's `node:fs` and `Bun.mmap`.
 * @example
 * ```ts
 * import { createBunFs } from "./bun.ts";
 * console.log(createBunFs().name); // "bun"
 * ```
 */
export function createBunFs(): WalFs {
  const bun = (globalThis as { Bun?: BunMmap }).Bun;
  const mmap = bun?.mmap;
  if (typeof mmap !== "function") return createNodeFsImpl("bun");
  return createNodeFsImpl("bun", { map: bunMap(mmap.bind(bun)) });
}

/**
 * The shared Bun file system adapter (named "bun").
 *
 * @example
 * ```ts
 * import { bunFs } from "./bun.ts";
 * console.log(bunFs.name); // "bun"
 * ```
 */
export const bunFs: WalFs = createBunFs();
