// DEFLATE wrapper tests. Runs unchanged under `deno test -A`, `bun test` and
// `node --test` (compiled).
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { deflateRawSync, inflateRawSync } from "node:zlib";
import { deflateRaw, inflateRaw } from "../src/codec/deflate.ts";
import { WalError } from "../src/errors.ts";
import { randomBytes } from "./_wal_util.ts";

function text(n: number): Uint8Array {
  let t = "";
  for (let i = 0; t.length < n; i++) t += `{"id":${i},"kind":"event","value":${(i * 7919) % 1000}}\n`;
  return new TextEncoder().encode(t.slice(0, n));
}

function same(a: Uint8Array, b: Uint8Array, what: string): void {
  assert.equal(a.length, b.length, `${what}: length`);
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) assert.fail(`${what}: differs at byte ${i}`);
}

function isCode(code: string) {
  return (e: unknown) => e instanceof WalError && e.code === code;
}

const DATA: [string, Uint8Array][] = [
  ["empty", new Uint8Array(0)],
  ["1 byte", new Uint8Array([9])],
  ["random 100 KiB", randomBytes(100 * 1024)],
  ["zeros 1 MiB", new Uint8Array(1 << 20)],
  ["JSON-like 200 KiB", text(200 * 1024)],
];

describe("deflateRaw / inflateRaw", () => {
  for (const [name, data] of DATA) {
    it(`round trip: ${name}`, () => {
      for (const level of [0, 1, 6, 9] as const) {
        const packed = deflateRaw(data, level);
        same(inflateRaw(packed), data, `${name} level ${level}`);
        same(inflateRaw(packed, data.length), data, `${name} level ${level} with rawLength`);
      }
      same(inflateRaw(deflateRaw(data)), data, `${name} default level`);
    });
    it(`interop with the runtime's zlib: ${name}`, () => {
      same(new Uint8Array(inflateRawSync(deflateRaw(data, 1))), data, "ours → zlib");
      same(inflateRaw(new Uint8Array(deflateRawSync(data)), data.length), data, "zlib → ours");
    });
  }

  it("rejects bad levels and lengths with CONFIG", () => {
    assert.throws(() => deflateRaw(new Uint8Array(1), 10 as 9), isCode("CONFIG"));
    assert.throws(() => deflateRaw(new Uint8Array(1), 1.5 as 1), isCode("CONFIG"));
    assert.throws(() => inflateRaw(deflateRaw(new Uint8Array(1)), -1), isCode("CONFIG"));
  });

  it("output longer or shorter than rawLength is CORRUPTION", () => {
    const data = text(10_000);
    const packed = deflateRaw(data);
    assert.throws(() => inflateRaw(packed, 9_999), isCode("CORRUPTION"));
    assert.throws(() => inflateRaw(packed, 10_001), isCode("CORRUPTION"));
    assert.throws(() => inflateRaw(packed, 0), isCode("CORRUPTION"));
  });

  it("refuses a rawLength the input cannot produce, before allocating", () => {
    assert.throws(() => inflateRaw(deflateRaw(new Uint8Array(10)), 2 ** 40), isCode("CORRUPTION"));
  });

  it("truncated and garbage streams are CORRUPTION", () => {
    const data = text(5000);
    const packed = deflateRaw(data, 6);
    for (let n = 0; n < packed.length; n++) {
      assert.throws(() => inflateRaw(packed.subarray(0, n), data.length), isCode("CORRUPTION"), `cut at ${n}`);
    }
    // Block type 3 is reserved: always invalid.
    assert.throws(() => inflateRaw(new Uint8Array([0x07, 0, 0, 0])), isCode("CORRUPTION"));
    assert.throws(() => inflateRaw(new Uint8Array([0xff, 0xff, 0xff, 0xff]), 100), isCode("CORRUPTION"));
  });

  it("random mutations throw CORRUPTION or return rawLength bytes, nothing else", () => {
    const data = text(5000);
    const packed = deflateRaw(data, 6);
    const r = randomBytes(10_000, 3);
    for (let i = 0; i < 1000; i++) {
      const m = packed.slice();
      m[((r[i * 2] << 8) | r[i * 2 + 1]) % m.length] ^= 1 + (r[(i * 7) % r.length] % 255);
      try {
        assert.equal(inflateRaw(m, data.length).length, data.length);
      } catch (e) {
        assert.ok(e instanceof WalError && e.code === "CORRUPTION", `mutation ${i}: ${String(e)}`);
      }
    }
  });
});
