/**
 * Run verification (issue 4, iter): iteration checks the CRCs of a run of
 * whole frames with one call of the runtime's CRC, folding the expected
 * value from the frames' stored CRCs (crc32Combine / CrcRuns). These tests
 * pin the algebra against the real CRC, show that runs are what iteration
 * uses, and that damage anywhere in a run still stops iteration exactly at
 * the damaged frame, having handed out every entry before it and none after.
 * Runs unchanged under `deno test -A`, `bun test` and `node --test`.
 */

import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { Wal } from "../src/wal.ts";
import { WalError } from "../src/errors.ts";
import { MemoryFs } from "../adapters/memory.ts";
import { defaultFs } from "../adapters/default.ts";
import { crc32, crc32Combine, CrcRuns, crc32Table, crc32U32, hashWasmCrc32, registerNativeCrc32, setCrc32Sparse } from "../src/format/crc32.ts";
import { encodeStreamName } from "../src/format/stream_name.ts";
import { pattern } from "./_wal_util.ts";
import { readAll, replaceFile } from "./_fs_util.ts";

const FRAME_HEADER = 32;
const SEGMENT_HEADER = 32;

describe("crc32Combine and CrcRuns", () => {
  it("the CRC of A‖B follows from the CRCs of A and B and B's length", () => {
    const data = pattern(5000, 7);
    for (const [a, b] of [[0, 0], [0, 1], [1, 0], [17, 4], [4, 4096], [1000, 4000], [4999, 1], [2500, 2500]]) {
      const A = data.subarray(0, a);
      const B = data.subarray(a, a + b);
      const want = crc32Table(data.subarray(0, a + b));
      assert.equal(crc32Combine(crc32Table(A), crc32Table(B), b), want, `split ${a}+${b}`);
    }
  });

  it("the hash-wasm fallback (runtimes without zlib.crc32) gives the table's CRC at every size, with and without a seed", async () => {
    const hw = await hashWasmCrc32();
    const data = pattern(300 * 1024, 11);
    // Sizes on both sides of where it switches between the table and WASM (1 KiB; 64 KiB seeded).
    for (const n of [0, 1, 7, 128, 1023, 1024, 1025, 4096, 65535, 65536, 65537, 300 * 1024]) {
      const d = data.subarray(data.length - n);
      assert.equal(hw(d), crc32Table(d), `${n} bytes`);
      for (const seed of [1, 0xcbf43926, 0xffffffff]) {
        assert.equal(hw(d, seed), crc32Table(d, seed), `${n} bytes from seed ${seed}`);
      }
    }
    // Continuing from a prefix's CRC is the CRC of the whole.
    const cut = 70 * 1024 + 3;
    assert.equal(hw(data.subarray(cut), hw(data.subarray(0, cut))), crc32Table(data));
  });

  it("crc32U32 continues a CRC over the four little-endian bytes of a number", () => {
    const data = pattern(40, 3);
    for (const cut of [0, 1, 13, 36]) {
      const v = (data[cut] | (data[cut + 1] << 8) | (data[cut + 2] << 16) | (data[cut + 3] << 24)) >>> 0;
      assert.equal(crc32U32(crc32Table(data.subarray(0, cut)), v), crc32Table(data.subarray(0, cut + 4)), `at ${cut}`);
    }
  });

  it("CrcRuns.shift moves a CRC past n bytes as crc32Combine does", () => {
    for (const n of [0, 1, 4, 28, 4124, 65536, 1 << 20]) {
      const runs = new CrcRuns(); // a fresh user may build tables
      for (const c of [0, 1, 0xffffffff, 0x80000000, 0xcbf43926]) {
        assert.equal(runs.shift(c, n), crc32Combine(c, 0, n), `shift ${c} by ${n}`);
      }
    }
  });

  it("each user builds 2 tables, then one per 64 shifts; recurring lengths stay tabled", () => {
    const runs = new CrcRuns();
    let refused = 0;
    // Lengths no other test uses, so none is tabled yet.
    for (let n = 900_001; n <= 902_000; n++) if (runs.shift(0x12345678, n) < 0) refused++;
    assert.ok(refused >= 2000 - 3 - 2000 / 64, `${refused} of 2000 new lengths refused`);
    assert.ok(refused < 2000, "some are tabled");
    // A fresh user may build at once, and what one user built, another uses.
    const other = new CrcRuns();
    assert.equal(other.shift(0xdeadbeef, 903_001), crc32Combine(0xdeadbeef, 0, 903_001));
    assert.equal(runs.shift(0xdeadbeef, 903_001), crc32Combine(0xdeadbeef, 0, 903_001), "shared table, no build needed");
  });
});

/** A stream "s" of `n` entries of `size` bytes in 1-2 sealed segments plus an active one. */
async function build(n: number, size: number): Promise<{ fs: MemoryFs; data: Uint8Array[]; segs: string[] }> {
  const fs = new MemoryFs();
  const wal = await Wal.open({ root: "/r", fs, syncMode: "async", maxSegmentSize: 64 * 1024 });
  const data: Uint8Array[] = [];
  for (let i = 0; i < n; i++) {
    data.push(pattern(size, i));
    await wal.append("s", data[i]);
  }
  await wal.close();
  const dir = `/r/${encodeStreamName("s")}`;
  const segs = fs.readDir(dir).map((e) => e.name).filter((x) => x.endsWith(".wal")).sort().map((x) => `${dir}/${x}`);
  return { fs, data, segs };
}

function same(a: Uint8Array, b: Uint8Array, what: string): void {
  assert.equal(a.length, b.length, `${what}: length`);
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) assert.fail(`${what}: byte ${i} differs`);
}

describe("iteration checks runs of frames with one CRC call", () => {
  it("an iteration over equal frames makes far fewer CRC calls than there are frames", async () => {
    const { fs, data } = await build(600, 200);
    const native = defaultFs().crc32 ?? crc32Table;
    let calls = 0;
    registerNativeCrc32((d: Uint8Array, seed?: number) => {
      calls++;
      return native(d, seed ?? 0);
    });
    // Every CRC through the counter, none measured against the sparse reduction first.
    const sparseWas = setCrc32Sparse("off");
    try {
      const wal = await Wal.open({ root: "/r", fs, syncMode: "async", maxSegmentSize: 64 * 1024 });
      calls = 0;
      let k = 0;
      for (const e of wal.iterSync("s", 0)) {
        assert.equal(e.id, k);
        same(e.data, data[k], `entry ${k}`);
        k++;
      }
      assert.equal(k, 600);
      assert.ok(calls < 600 / 20, `${calls} CRC calls for 600 frames`); // one per run of up to 1 MiB
      await wal.close();
    } finally {
      setCrc32Sparse(sparseWas);
      registerNativeCrc32(native);
    }
  });

  // Where in frame number `bad` of the first segment one byte is flipped.
  const spots: [string, number][] = [
    ["its CRC field", 0],
    ["its length field", 5],
    ["its durable field", 25],
    ["its first payload byte", FRAME_HEADER],
    ["its last payload byte", FRAME_HEADER + 199],
  ];
  for (const strategy of ["standard", "mmap"] as const) {
    for (const reuseBuffer of [false, true]) {
      for (const [where, at] of spots) {
        it(`${strategy}${reuseBuffer ? ", reuseBuffer" : ""}: a flip in ${where} mid-run stops iteration at that frame`, async () => {
          const { fs, data, segs } = await build(600, 200);
          assert.ok(segs.length >= 2, "the first segment is sealed");
          const frame = FRAME_HEADER + 200;
          const bad = 123; // a frame well inside a run
          const img = readAll(fs, segs[0]);
          const off = SEGMENT_HEADER + bad * frame;
          img[off + at] ^= 0x10;
          replaceFile(fs, segs[0], img);
          const wal = await Wal.open({ root: "/r", fs, syncMode: "async", maxSegmentSize: 64 * 1024, readStrategy: strategy });
          let k = 0;
          let err: unknown;
          try {
            for (const e of wal.iterSync("s", 0, { reuseBuffer })) {
              assert.equal(e.id, k);
              same(e.data, data[k], `entry ${k}`);
              k++;
            }
          } catch (e) {
            err = e;
          }
          assert.equal(k, bad, "every entry before the damaged frame was handed out, none after");
          assert.ok(err instanceof WalError, `iteration threw ${err}`);
          assert.ok(err.code === "CRC_MISMATCH" || err.code === "CORRUPTION", err.code);
          assert.ok(err.message.includes(`offset ${off}`), err.message);
          // Starting after the damage reads on (a later run holds no bad frame).
          let m = bad + 1;
          for (const e of wal.iterSync("s", bad + 1)) {
            assert.equal(e.id, m);
            same(e.data, data[m], `entry ${m} after the damage`);
            m++;
          }
          assert.equal(m, 600);
          await wal.close();
        });
      }
    }
  }

  it("frames of changing sizes read back exactly, in runs or one by one", async () => {
    const fs = new MemoryFs();
    const wal = await Wal.open({ root: "/r", fs, syncMode: "async", maxSegmentSize: 256 * 1024 });
    const data: Uint8Array[] = [];
    for (let i = 0; i < 3000; i++) {
      data.push(pattern(i % 7 === 0 ? 3 + (i % 1000) : 64, i));
      await wal.append("s", data[i]);
    }
    await wal.appendBatch("s", [pattern(10, 1), pattern(0, 2), pattern(300, 3)]);
    await wal.close();
    for (const readStrategy of ["standard", "mmap"] as const) {
      const reader = await Wal.open({ root: "/r", fs, syncMode: "async", maxSegmentSize: 256 * 1024, readStrategy });
      let k = 0;
      for (const e of reader.iterSync("s", 0)) {
        if (k < 3000) same(e.data, data[k], `${readStrategy} entry ${k}`);
        k++;
      }
      assert.equal(k, 3003, readStrategy);
      await reader.close();
    }
    assert.equal(crc32(new TextEncoder().encode("123456789")), 0xcbf43926);
  });
});
