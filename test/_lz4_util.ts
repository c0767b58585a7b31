// Helpers shared by the LZ4 suites (test/lz4.test.ts, test/lz4_wasm.test.ts).
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { WalError } from "../src/errors.ts";
import { randomBytes } from "./_wal_util.ts";

/** Deterministic JSON-like text of exactly `n` bytes. */
export function jsonText(n: number, seed = 7): Uint8Array {
  const r = randomBytes(n, seed);
  const names = ["alpha", "bravo", "ledger", "account", "transfer", "settled", "pending", "refund"];
  let text = "";
  let i = 0;
  while (text.length < n) {
    const a = r[i++ % n];
    const b = r[i++ % n];
    text += `{"id":${100000 + i},"user":"user_${a * 7}","status":"${names[a & 7]}",` +
      `"amount":${(a * 257 + b) / 100},"tags":["${names[b & 7]}","${names[(a ^ b) & 7]}"]}\n`;
  }
  return new TextEncoder().encode(text.slice(0, n));
}

/** Fails at the first differing byte (assert.deepEqual on megabytes is slow and unreadable). */
export function assertSameBytes(actual: Uint8Array, expected: Uint8Array, what: string): void {
  assert.equal(actual.length, expected.length, `${what}: length`);
  for (let i = 0; i < expected.length; i++) {
    if (actual[i] !== expected[i]) {
      assert.fail(`${what}: first difference at byte ${i}: ${actual[i]} != ${expected[i]}`);
    }
  }
}

/**
 * Runs the reference `lz4` tool on `input` and returns its stdout; fails
 * (never skips) when the tool is missing. The input goes through a temporary
 * file, not stdin: Deno's `spawnSync` writes all of `input` before reading
 * stdout, which deadlocks once both exceed the pipe buffers (~200 KB).
 */
export function lz4Tool(args: string[], input?: Uint8Array): Uint8Array {
  const dir = mkdtempSync(join(tmpdir(), "ironwal-lz4-"));
  try {
    const file = join(dir, "input");
    if (input !== undefined) writeFileSync(file, input);
    const r = spawnSync("lz4", input === undefined ? args : [...args, file], { maxBuffer: 1 << 28 });
    if (r.error !== undefined) {
      assert.fail(
        `the reference lz4 tool could not be run (${r.error.message}); ` +
          "install it (Debian: apt-get install lz4) — the interop tests need it",
      );
    }
    if (r.status !== 0) assert.fail(`lz4 ${args.join(" ")} exited ${r.status}: ${String(r.stderr)}`);
    return new Uint8Array(r.stdout);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Asserts that `fn` throws a `CORRUPTION` WalError (whose message matches `pattern`). */
export function assertCorruption(fn: () => unknown, what: string, pattern?: RegExp): void {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof WalError, `${what}: expected a WalError, got ${String(e)}`);
    assert.equal(e.code, "CORRUPTION", `${what}: code (${e.message})`);
    if (pattern !== undefined) assert.match(e.message, pattern, what);
    return;
  }
  assert.fail(`${what}: no error thrown`);
}

/** Little-endian bytes of a u32. */
export function le32(v: number): number[] {
  return [v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, (v >>> 24) & 0xff];
}
