/**
 * The CRC-32 of long spans by sparse reduction in WebAssembly
 * (src/format/crc32_sparse.wat, src/format/_crc32_sparse.ts): it must give
 * the table's CRC for every length, alignment, seed and content, on every
 * runtime (whether or not `crc32` picks it there), and a log written with it
 * must read without it and the reverse. Runs unchanged under `deno test -A`,
 * `bun test` and `node --test`.
 */

import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { Wal } from "../src/wal.ts";
import { WalError } from "../src/errors.ts";
import { MemoryFs } from "../adapters/memory.ts";
import { crc32, crc32Implementation, crc32Table, hashWasmCrc32, setCrc32Sparse } from "../src/format/crc32.ts";
import { defaultFs } from "../adapters/default.ts";
import { loadSparseCrc32, SPARSE_MIN } from "../src/format/_crc32_sparse.ts";
import { CRC32_SPARSE_WASM_BASE64 } from "../src/format/crc32_sparse_wasm.generated.ts";
import { encodeStreamName } from "../src/format/stream_name.ts";
import { randomBytes } from "./_wal_util.ts";
import { assertAssemblesTo } from "./_wasm_util.ts";
import { readAll, replaceFile } from "./_fs_util.ts";
import { assertSameBytes } from "./_lz4_util.ts";

/** Blocks the reduction leaves to the ordinary CRC, and blocks per piece (see the .wat). */
const KEPT = 300;
const PIECE = 4096;

/** The reduction, with the table for the blocks it keeps (so nothing else is under test). */
function sparse(): (data: Uint8Array, seed: number) => number {
  const fn = loadSparseCrc32((d, s) => crc32Table(d, s));
  assert.ok(fn !== undefined, "the WebAssembly module did not load on this runtime");
  return fn;
}

const hex = (n: number): string => n.toString(16).padStart(8, "0");

describe("CRC-32 by sparse reduction (WebAssembly)", () => {
  it("the committed bytes are what src/format/crc32_sparse.wat assembles to (npm run build:wasm)", async () => {
    await assertAssemblesTo("src/format/crc32_sparse.wat", CRC32_SPARSE_WASM_BASE64);
  });

  it("1 + x^89 + x^117 + x^155 + x^300 is a multiple of the CRC-32 polynomial", () => {
    // x^i mod P in normal bit order (P = x^32 + 0x04c11db7); the terms must cancel.
    let v = 1;
    let sum = 0;
    for (let i = 0; i <= KEPT; i++) {
      if (i === 0 || i === 89 || i === 117 || i === 155 || i === 300) sum ^= v;
      v = v & 0x80000000 ? ((v << 1) ^ 0x04c11db7) >>> 0 : (v << 1) >>> 0;
    }
    assert.equal(sum >>> 0, 0);
  });

  it("gives the table's CRC at every length around its edges: the shortest span, the kept blocks, each piece", () => {
    const fn = sparse();
    const data = randomBytes(3 * PIECE * 16 + KEPT * 16 + 64, 5);
    const lengths = new Set<number>();
    for (let d = -17; d <= 17; d++) {
      lengths.add(SPARSE_MIN + d);
      for (let p = 1; p <= 3; p++) lengths.add((p * PIECE + KEPT) * 16 + d);
    }
    lengths.add(data.length);
    for (const n of lengths) {
      const b = data.subarray(0, n);
      for (const seed of [0, 0xffffffff, 0x1234abcd]) {
        assert.equal(hex(fn(b, seed)), hex(crc32Table(b, seed)), `length ${n}, seed ${hex(seed)}`);
      }
    }
  });

  it("gives the table's CRC for random lengths, offsets, seeds and contents up to 2 MiB", () => {
    const fn = sparse();
    const data = randomBytes(2 * 1024 * 1024 + 64, 9);
    let s = 17;
    const next = (m: number): number => {
      s = (Math.imul(s, 1103515245) + 12345) >>> 0;
      return s % m;
    };
    for (let k = 0; k < 60; k++) {
      const n = SPARSE_MIN + next(2 * 1024 * 1024 - SPARSE_MIN);
      const off = next(64); // byteOffsets that are not multiples of 16
      const seed = next(0x7fffffff) * 2 + (k & 1);
      const b = data.subarray(off, off + n);
      assert.equal(hex(fn(b, seed)), hex(crc32Table(b, seed)), `length ${n} at offset ${off}, seed ${hex(seed)}`);
    }
    for (const fill of [0x00, 0xff]) {
      const b = new Uint8Array(300 * 1024).fill(fill);
      assert.equal(hex(fn(b, 0)), hex(crc32Table(b, 0)), `300 KiB of 0x${fill.toString(16)}`);
    }
  });

  it("every single-bit change anywhere in a span changes the CRC as the table says", () => {
    const fn = sparse();
    const b = randomBytes(PIECE * 16 + KEPT * 16 + 5, 21);
    const base = fn(b, 0);
    for (const pos of [0, 1, 3, 4, 15, 16, 4799, 4800, PIECE * 16 - 1, PIECE * 16, b.length - KEPT * 16 - 1, b.length - 1]) {
      for (const bit of [0, 7]) {
        b[pos] ^= 1 << bit;
        const got = fn(b, 0);
        assert.equal(hex(got), hex(crc32Table(b, 0)), `bit ${bit} of byte ${pos}`);
        assert.notEqual(got, base, `bit ${bit} of byte ${pos} went unnoticed`);
        b[pos] ^= 1 << bit;
      }
    }
    assert.equal(fn(b, 0), base, "the module keeps no state from one span to the next");
  });

  it("its kept blocks may go to any CRC-32: the runtime's, hash-wasm's (seeded, as it then is) or the table", async () => {
    const data = randomBytes(PIECE * 16 * 2 + 777, 33);
    const rests: [string, (d: Uint8Array, s: number) => number][] = [["hash-wasm", await hashWasmCrc32()]];
    const native = defaultFs().crc32;
    if (native !== undefined) rests.push(["the runtime's", (d, s) => native(d, s)]);
    for (const [name, rest] of rests) {
      const fn = loadSparseCrc32(rest);
      assert.ok(fn !== undefined);
      for (const n of [SPARSE_MIN, SPARSE_MIN + 5, PIECE * 16 + 3, data.length]) {
        const b = data.subarray(0, n);
        assert.equal(hex(fn(b, 0x0badcafe)), hex(crc32Table(b, 0x0badcafe)), `${name}: length ${n}`);
      }
    }
  });

  it("crc32 uses it when forced on, gives the same CRCs, and says so in crc32Implementation", () => {
    const data = randomBytes(200 * 1024, 3);
    const was = setCrc32Sparse("on");
    try {
      assert.match(crc32Implementation(), /^(native|table|hash-wasm)$/, "nothing is chosen before the first large span");
      assert.equal(hex(crc32(data, 7)), hex(crc32Table(data, 7)));
      assert.match(crc32Implementation(), /\+sparse$/);
      assert.equal(hex(crc32(data.subarray(0, 100), 7)), hex(crc32Table(data.subarray(0, 100), 7)), "short spans skip it");
      setCrc32Sparse("off");
      assert.equal(hex(crc32(data, 7)), hex(crc32Table(data, 7)));
      assert.doesNotMatch(crc32Implementation(), /\+sparse$/);
    } finally {
      setCrc32Sparse(was);
    }
  });

  it("a log written with it reads without it and the reverse, and damage in a large frame is still caught", async () => {
    const entries = Array.from({ length: 24 }, (_, i) => randomBytes(16 * 1024 + i * 3001, 40 + i));
    const was = setCrc32Sparse("auto");
    try {
      for (const [write, read] of [["on", "off"], ["off", "on"]] as const) {
        const fs = new MemoryFs();
        setCrc32Sparse(write);
        const wal = await Wal.open({ root: "/w", fs, syncMode: "async", maxSegmentSize: 256 * 1024 });
        await wal.appendBatch("s", entries.slice(0, 8));
        for (const e of entries.slice(8)) await wal.append("s", e);
        await wal.close();
        setCrc32Sparse(read);
        const again = await Wal.open({ root: "/w", fs, syncMode: "async", maxSegmentSize: 256 * 1024 });
        assert.equal(again.nextId("s"), entries.length, `written ${write}, read ${read}`);
        for (let i = 0; i < entries.length; i++) assertSameBytes((await again.get("s", i))!, entries[i], `get ${i}`);
        let n = 0;
        for await (const { id, data } of again.iter("s", 0)) assertSameBytes(data, entries[n++], `iter ${id}`);
        assert.equal(n, entries.length);
        await again.close();

        // One flipped byte in the payload of entry 9 (a 43 KiB frame).
        const dir = `/w/${encodeStreamName("s")}`;
        const seg = fs.readDir(dir).map((e) => e.name).filter((f) => f.endsWith(".wal")).sort();
        let hit = false;
        for (const name of seg) {
          const bytes = readAll(fs, `${dir}/${name}`);
          const at = indexOf(bytes, entries[9].subarray(1000, 1032));
          if (at < 0) continue;
          bytes[at + 5] ^= 0x20;
          replaceFile(fs, `${dir}/${name}`, bytes);
          hit = true;
        }
        assert.ok(hit, "entry 9 not found in the segments");
        const damaged = await Wal.open({ root: "/w", fs, syncMode: "async", maxSegmentSize: 256 * 1024, onCorruption: "error" })
          .catch((e: unknown) => e);
        if (damaged instanceof Wal) {
          const err = await damaged.get("s", 9).then(() => undefined, (e: unknown) => e);
          assert.ok(err instanceof WalError && err.code === "CRC_MISMATCH", `get of the damaged entry: ${String(err)}`);
          await damaged.close();
        } else {
          assert.ok(damaged instanceof WalError && (damaged.code === "CRC_MISMATCH" || damaged.code === "CORRUPTION"), String(damaged));
        }
      }
    } finally {
      setCrc32Sparse(was);
    }
  });
});

function indexOf(hay: Uint8Array, needle: Uint8Array): number {
  outer: for (let i = 0; i + needle.length <= hay.length; i++) {
    for (let j = 0; j < needle.length; j++) if (hay[i + j] !== needle[j]) continue outer;
    return i;
  }
  return -1;
}
