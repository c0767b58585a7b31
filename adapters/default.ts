/**
 * Picks the file system adapter of the running runtime.
 *
 * @module
 */

import type { WalFs } from "../src/io.ts";
import { bunFs } from "./bun.ts";
import { denoFs } from "./deno.ts";
import { nodeFs } from "./node.ts";

/**
 * Returns the adapter of the running runtime: {@link bunFs} under Bun,
 * {@link denoFs} under Deno, {@link nodeFs} otherwise.
 *
 * @returns the runtime's {@link WalFs}.
 * @example
 * ```ts
 * import { defaultFs } from "./default.ts";
 * console.log(defaultFs().name); // "node", "deno" or "bun"
 * ```
 */
export function defaultFs(): WalFs {
  const g = globalThis as { Bun?: unknown; Deno?: unknown };
  if (g.Bun !== undefined) return bunFs;
  if (g.Deno !== undefined) return denoFs;
  return nodeFs;
}
