/**
 * Helpers shared by the tests that read and write files through a WalFs
 * (adapter tests, and Wal tests that damage or inspect files).
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

/** Replaces `path` (if present) with a new file holding `data`. */
export function replaceFile(fs: WalFs, path: string, data: Uint8Array): void {
  if (fs.stat(path) !== undefined) fs.remove(path);
  const f = fs.open(path, "create");
  try {
    f.write(data, 0);
  } finally {
    f.close();
  }
}
