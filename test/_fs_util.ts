/**
 * Helpers shared by the file-system adapter tests (MemoryFs, FaultyFs).
 * @module
 */

import assert from "node:assert/strict";
import { errorCode, type WalFs } from "../src/io.ts";

/** Bytes from a list of numbers. */
export const bytes = (...xs: number[]): Uint8Array => new Uint8Array(xs);

/** Asserts `fn` throws an Error with POSIX `code`, whose message names `pathPart` if given. */
export function throwsCode(fn: () => unknown, code: string, pathPart?: string): void {
  assert.throws(fn, (e: unknown) => {
    assert.equal(errorCode(e), code);
    assert.ok(e instanceof Error);
    if (pathPart !== undefined) assert.ok(e.message.includes(pathPart), e.message);
    return true;
  });
}

/** The whole content of `path`, read through a fresh handle (the read must fill it). */
export function readAll(fs: WalFs, path: string): Uint8Array {
  const f = fs.open(path, "read");
  const buf = new Uint8Array(f.size());
  assert.equal(f.read(buf, 0), buf.length);
  f.close();
  return buf;
}
