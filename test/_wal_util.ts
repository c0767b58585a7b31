/**
 * Helpers shared by the core Wal tests (test/wal_*.test.ts): temporary
 * directories on the real file system, byte helpers, and assertions on
 * WalError codes. Not a test file itself.
 */

import assert from "node:assert/strict";
import * as nfs from "node:fs";
import * as os from "node:os";
import { WalError, type WalErrorCode } from "../mod.ts";

export const enc = new TextEncoder();
export const dec = new TextDecoder();

/** The running runtime, for messages. */
export const runtime: string = (globalThis as { Bun?: unknown }).Bun !== undefined
  ? "bun"
  : (globalThis as { Deno?: unknown }).Deno !== undefined
  ? "deno"
  : "node";

/** A fresh empty directory under the OS temp dir. */
export function tempDir(tag: string): string {
  return nfs.mkdtempSync(os.tmpdir() + "/ironwal-" + tag + "-");
}

/** Removes a directory made by {@link tempDir}. */
export function removeDir(dir: string): void {
  if (dir !== "") nfs.rmSync(dir, { recursive: true, force: true });
}

/** Bytes of a string. */
export function b(s: string): Uint8Array {
  return enc.encode(s);
}

/** String of bytes. */
export function s(x: Uint8Array | undefined): string | undefined {
  return x === undefined ? undefined : dec.decode(x);
}

/** Deterministic bytes of length `n` derived from `seed`. */
export function pattern(n: number, seed: number): Uint8Array {
  const out = new Uint8Array(n);
  let x = (seed * 2654435761 + 1) >>> 0;
  for (let i = 0; i < n; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    out[i] = x >>> 24;
  }
  return out;
}

/** Asserts `e` is a WalError with `code`; returns its message. */
export function isWalError(e: unknown, code: WalErrorCode): string {
  assert.ok(e instanceof WalError, `expected a WalError ${code}, got ${String(e)}`);
  assert.ok(e instanceof Error);
  assert.equal(e.name, "WalError");
  assert.equal(e.code, code, `expected ${code}, got ${e.code}: ${e.message}`);
  return e.message;
}

/** Asserts that the promise rejects with a WalError of `code`; returns its message. */
export async function rejectsCode(p: Promise<unknown> | (() => Promise<unknown>), code: WalErrorCode): Promise<string> {
  let message = "";
  await assert.rejects(typeof p === "function" ? p : () => p, (e: unknown) => {
    message = isWalError(e, code);
    return true;
  });
  return message;
}

/** Asserts that `fn` throws a WalError of `code`; returns its message. */
export function throwsCode(fn: () => unknown, code: WalErrorCode): string {
  let message = "";
  assert.throws(fn, (e: unknown) => {
    message = isWalError(e, code);
    return true;
  });
  return message;
}

/** Every file under `dir`, relative, sorted ("a/b.wal"). */
export function listTree(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string, pre: string) => {
    for (const e of nfs.readdirSync(d, { withFileTypes: true })) {
      if (e.isDirectory()) {
        out.push(pre + e.name + "/");
        walk(d + "/" + e.name, pre + e.name + "/");
      } else out.push(pre + e.name);
    }
  };
  walk(dir, "");
  return out.sort();
}

/** Segment files (*.wal) of the only or named stream directory, sorted. */
export function segmentFiles(streamDir: string): string[] {
  return nfs.readdirSync(streamDir).filter((n) => n.endsWith(".wal")).sort();
}

/** Flips (xors with 0xff) the byte at `offset` of a real file. */
export function flipByte(path: string, offset: number): void {
  const fd = nfs.openSync(path, "r+");
  try {
    const one = new Uint8Array(1);
    assert.equal(nfs.readSync(fd, one, 0, 1, offset), 1, `no byte at ${offset} of ${path}`);
    one[0] ^= 0xff;
    nfs.writeSync(fd, one, 0, 1, offset);
  } finally {
    nfs.closeSync(fd);
  }
}

/** Collects an async iterator. */
export async function collect<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
}

/** Waits `ms` milliseconds. */
export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Frame header size and segment header size of the format (FORMAT.md). */
export const FRAME_HEADER = 32;
export const SEGMENT_HEADER = 32;

/** Deterministic pseudo-random (incompressible) bytes (mulberry32). */
export function randomBytes(n: number, seed = 1): Uint8Array {
  let s = seed | 0;
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    s = (s + 0x6d2b79f5) | 0;
    let t = Math.imul(s ^ (s >>> 15), 1 | s);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    out[i] = (t ^ (t >>> 14)) >>> 24;
  }
  return out;
}
