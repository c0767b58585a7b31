/**
 * `WalFs.detach` for every adapter: moves an `ArrayBuffer`'s memory to a new
 * one and detaches the old, so its views become empty.
 *
 * @module
 */

type Transferable = ArrayBuffer & { transfer?: () => ArrayBuffer };
type Clone = (value: ArrayBuffer, options: { transfer: ArrayBuffer[] }) => ArrayBuffer;

/**
 * Detaches `buf` and returns a new `ArrayBuffer` holding its bytes: with
 * `ArrayBuffer.prototype.transfer` where the engine has it (Deno, Bun),
 * else `structuredClone(buf, { transfer: [buf] })` (Node 20). Neither copies
 * on V8.
 *
 * @param buf the buffer to detach; afterwards its views have length 0.
 * @returns a buffer with the same bytes.
 * @example
 * ```ts
 * import { detachBuffer } from "./_detach.ts";
 * const a = new Uint8Array([1, 2, 3]);
 * const b = new Uint8Array(detachBuffer(a.buffer));
 * console.log(a.length, b[2]); // 0 3
 * ```
 */
export function detachBuffer(buf: ArrayBuffer): ArrayBuffer {
  const transfer = (buf as Transferable).transfer;
  if (typeof transfer === "function") return transfer.call(buf);
  return (globalThis as unknown as { structuredClone: Clone }).structuredClone(buf, { transfer: [buf] });
}
