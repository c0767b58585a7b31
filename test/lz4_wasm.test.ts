// The WebAssembly LZ4 block codec (src/codec/lz4_block.wat) against the
// TypeScript one (src/codec/_lz4_block_js.ts) and the reference `lz4` tool:
// the committed module is what the .wat assembles to; it loads on this
// runtime; it writes the same blocks as the TS compressor, which the TS
// decoder and `lz4 -d` read; on random, fuzzed and mutated input both
// decoders return the same bytes or throw the same CORRUPTION error; its
// memory stays bounded. Runs unchanged under `deno test -A`, `bun test` and
// `node --test` (compiled).
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { lz4BlockBound, lz4Compress, lz4CompressBlock, lz4Decompress, lz4DecompressBlock } from "../src/codec/lz4.ts";
import { decodeBlockJs, encodeBlockJs } from "../src/codec/_lz4_block_js.ts";
import {
  lz4WasmActive,
  lz4WasmMemoryBytes,
  setLz4WasmEnabled,
  WASM_MAX_BLOCK,
  wasmCompressBlock,
  wasmDecodeBlock,
} from "../src/codec/_lz4_block_wasm.ts";
import { LZ4_BLOCK_WASM_BASE64 } from "../src/codec/lz4_block_wasm.generated.ts";
import { decodeBase64 } from "../src/codec/_base64.ts";
import { WalError } from "../src/errors.ts";
import { randomBytes } from "./_wal_util.ts";
import { assertAssemblesTo } from "./_wasm_util.ts";
import { assertCorruption, assertSameBytes, jsonText, lz4Tool } from "./_lz4_util.ts";

const SLOW = { timeout: 300_000 };
const MiB = 1024 * 1024;

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------

/** A small PRNG (mulberry32) for the fuzzers. */
function rng(seed: number): (n: number) => number {
  let s = seed | 0;
  return (n: number) => {
    s = (s + 0x6d2b79f5) | 0;
    let t = Math.imul(s ^ (s >>> 15), 1 | s);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) % n;
  };
}

/** The TS compressor's block for `data`. */
function jsBlock(data: Uint8Array): Uint8Array {
  const out = new Uint8Array(lz4BlockBound(data.length));
  return out.slice(0, encodeBlockJs(data, 0, data.length, out, 0));
}

/** The WASM compressor's block for `data` (a copy). */
function wasmBlock(data: Uint8Array): Uint8Array {
  const v = wasmCompressBlock(data, 0, data.length);
  assert.ok(v !== undefined, `the WASM compressor declined ${data.length} bytes`);
  return v.slice();
}

type Outcome = { ok: true; bytes: Uint8Array } | { ok: false; message: string };

function outcome(fn: () => Uint8Array, what: string): Outcome {
  try {
    return { ok: true, bytes: fn().slice() };
  } catch (e) {
    if (!(e instanceof WalError) || e.code !== "CORRUPTION") {
      assert.fail(`${what}: expected a CORRUPTION WalError, got ${e instanceof Error ? e.stack : String(e)}`);
    }
    return { ok: false, message: e.message };
  }
}

/**
 * Decodes `block` with both decoders into room for `capacity` bytes, after
 * `history` (earlier output that matches may reach into), and asserts the
 * same result: the same bytes, or CORRUPTION with the same message. Returns
 * the outcome.
 */
function decodeBoth(block: Uint8Array, capacity: number, what: string, history?: Uint8Array): Outcome {
  const h = history ?? new Uint8Array(0);
  const js = outcome(() => {
    const out = new Uint8Array(h.length + capacity);
    out.set(h);
    const n = decodeBlockJs(block, 0, block.length, out, h.length, out.length, 0, 0);
    return out.subarray(h.length, n);
  }, `${what} (TS)`);
  const wasm = outcome(() => {
    const v = wasmDecodeBlock(block, 0, block.length, history, capacity, 0);
    assert.ok(v !== undefined, `${what}: the WASM decoder declined the block`);
    return v;
  }, `${what} (WASM)`);
  if (js.ok && wasm.ok) assertSameBytes(wasm.bytes, js.bytes, what);
  else if (!js.ok && !wasm.ok) assert.equal(wasm.message, js.message, what);
  else {
    assert.fail(
      `${what}: TS ${js.ok ? `decoded ${js.bytes.length} bytes` : `threw "${js.message}"`}, ` +
        `WASM ${wasm.ok ? `decoded ${wasm.bytes.length} bytes` : `threw "${wasm.message}"`}`,
    );
  }
  return js;
}

/** The match offsets of a well-formed block, in order. */
function offsetsOf(block: Uint8Array): number[] {
  const offsets: number[] = [];
  let ip = 0;
  for (;;) {
    const token = block[ip++];
    let lit = token >>> 4;
    if (lit === 15) for (let b = 255; b === 255;) lit += b = block[ip++];
    ip += lit;
    if (ip >= block.length) return offsets;
    offsets.push(block[ip] | (block[ip + 1] << 8));
    ip += 2;
    if ((token & 15) === 15) while (block[ip++] === 255);
  }
}

/** Appends the LZ4 length extension of `n` (the part beyond 15). */
function pushLength(out: number[], n: number): void {
  let l = n - 15;
  while (l >= 255) {
    out.push(255);
    l -= 255;
  }
  out.push(l);
}

/** A block of sequences [literals, offset, match length], then final literals. */
function makeBlock(seqs: [number[], number, number][], last: number[]): Uint8Array {
  const out: number[] = [];
  for (const [lit, offset, ml] of seqs) {
    out.push((Math.min(lit.length, 15) << 4) | Math.min(ml - 4, 15));
    if (lit.length >= 15) pushLength(out, lit.length);
    out.push(...lit, offset & 0xff, offset >>> 8);
    if (ml - 4 >= 15) pushLength(out, ml - 4);
  }
  out.push(Math.min(last.length, 15) << 4);
  if (last.length >= 15) pushLength(out, last.length);
  out.push(...last);
  return new Uint8Array(out);
}

/** Data sets named by what they exercise. */
function datasets(): [string, Uint8Array][] {
  const periodic = (n: number, period: number) => {
    const unit = randomBytes(period, period);
    return Uint8Array.from({ length: n }, (_, i) => unit[i % period]);
  };
  return [
    ["0 bytes", new Uint8Array(0)],
    ["1 byte", new Uint8Array([0x42])],
    ["12 bytes (literals only)", jsonText(12)],
    ["13 bytes (smallest with a match search)", new Uint8Array(13).fill(65)],
    ["13 bytes of text", jsonText(13, 2)],
    ["64 KiB - 1 of text", jsonText(65535, 3)],
    ["64 KiB of text", jsonText(65536, 4)],
    ["64 KiB + 1 of text", jsonText(65537, 5)],
    ["300 KiB of text", jsonText(300 * 1024, 6)],
    ["4 MiB of text (the WASM maximum)", jsonText(4 * MiB, 8)],
    ["incompressible 1 MiB", randomBytes(MiB, 3)],
    ["zeros 1 MiB", new Uint8Array(MiB)],
    ["period 3, 100 KiB", periodic(100_000, 3)],
    ["period 17, 100 KiB", periodic(100_000, 17)],
    ["half random, half zeros", Uint8Array.from({ length: 200_000 }, (_, i) => (i & 4096 ? 0 : (i * 2654435761) >>> 24))],
  ];
}

// ---------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------

describe("lz4 WebAssembly module", () => {
  it("loads on this runtime (no silent fallback to the TS codec)", () => {
    assert.equal(lz4WasmActive(), true);
  });

  it("the committed bytes are what src/codec/lz4_block.wat assembles to (npm run build:wasm)", async () => {
    await assertAssemblesTo("src/codec/lz4_block.wat", LZ4_BLOCK_WASM_BASE64);
  });

  it("decodeBase64 decodes RFC 4648 vectors and rejects malformed text", () => {
    const vectors: [string, string][] = [
      ["", ""],
      ["Zg==", "f"],
      ["Zm8=", "fo"],
      ["Zm9v", "foo"],
      ["Zm9vYg==", "foob"],
      ["Zm9vYmE=", "fooba"],
      ["Zm9vYmFy", "foobar"],
    ];
    for (const [b64, text] of vectors) assertSameBytes(decodeBase64(b64), new TextEncoder().encode(text), b64);
    assertSameBytes(decodeBase64("//79"), new Uint8Array([0xff, 0xfe, 0xfd]), "high bytes");
    for (const bad of ["Zg=", "Zm9v!A==", "=m9v", "Zg==Zg==", "Zé=="]) assert.throws(() => decodeBase64(bad), bad);
  });
});

describe("lz4 WebAssembly compressor", () => {
  it("writes the same blocks as the TS compressor, which both decoders and lz4 -d read", SLOW, () => {
    for (const [name, data] of datasets()) {
      const block = wasmBlock(data);
      assertSameBytes(block, jsBlock(data), `${name}: WASM block = TS block`);
      assert.ok(block.length <= lz4BlockBound(data.length), `${name}: within the bound`);
      const js = new Uint8Array(data.length);
      assert.equal(decodeBlockJs(block, 0, block.length, js, 0, js.length, 0, 0), data.length, name);
      assertSameBytes(js, data, `${name}: TS decoder`);
      assertSameBytes(lz4DecompressBlock(block, data.length), data, `${name}: WASM decoder`);
    }
  });

  it("lz4 -d reads its frames", SLOW, () => {
    for (const [name, data] of datasets()) {
      for (const contentChecksum of [false, true]) {
        assertSameBytes(lz4Tool(["-d", "-c"], lz4Compress(data, { contentChecksum })), data, `${name}, ${contentChecksum}`);
      }
    }
  });

  it("the same blocks for every length up to 600 and at the 13-byte threshold", () => {
    const text = jsonText(600, 12);
    const zeros = new Uint8Array(600);
    for (let n = 0; n <= 600; n++) {
      for (const [name, src] of [["text", text], ["zeros", zeros]] as const) {
        const data = src.subarray(0, n);
        const block = wasmBlock(data);
        assertSameBytes(block, jsBlock(data), `${name} n=${n}`);
        assertSameBytes(lz4DecompressBlock(block, n), data, `${name} n=${n} round trip`);
      }
    }
  });

  it("finds matches at offset 65535, the largest the format allows", () => {
    // 65535 random bytes, then their first 30000 again: the only matches
    // are exactly 65535 bytes back.
    const head = randomBytes(65535, 21);
    const data = new Uint8Array(65535 + 30000);
    data.set(head);
    data.set(head.subarray(0, 30000), 65535);
    const block = wasmBlock(data);
    assertSameBytes(block, jsBlock(data), "same as TS");
    assert.ok(offsetsOf(block).includes(65535), `offsets: ${offsetsOf(block).slice(0, 10).join(", ")}`);
    assert.ok(block.length < data.length - 25_000, `compressed to ${block.length}`);
    assertSameBytes(lz4DecompressBlock(block, data.length), data, "round trip");
    assertSameBytes(lz4Tool(["-d", "-c"], lz4Compress(data)), data, "lz4 -d");
  });

  it("overlapping matches (offset < length, offset 1) on periodic data", () => {
    for (let period = 1; period <= 40; period++) {
      const unit = randomBytes(period, period + 100);
      const data = Uint8Array.from({ length: 5000 + period }, (_, i) => unit[i % period]);
      const block = wasmBlock(data);
      assertSameBytes(block, jsBlock(data), `period ${period}`);
      const offs = offsetsOf(block);
      assert.ok(offs.length > 0 && Math.min(...offs) <= period, `period ${period}: offsets ${offs}`);
      assertSameBytes(lz4DecompressBlock(block, data.length), data, `period ${period}`);
    }
  });

  it("keeps no matches between calls (the hash table's generations)", () => {
    const a = jsonText(40_000, 31);
    for (let i = 0; i < 200; i++) {
      // Alternate the same text with other text: a stale table entry would
      // produce an offset into the previous call's input.
      const x = i % 2 === 0 ? a : jsonText(1000 + i * 13, i);
      assertSameBytes(wasmBlock(x), jsBlock(x), `call ${i}`);
    }
  });
});

describe("lz4 WebAssembly decoder against the TS decoder", () => {
  it("hand-made blocks: overlaps of every small offset, offset 65535, the data start", () => {
    // Every offset below 80 (the decoder copies overlaps < 64 bytes back in
    // phases: to 64, 256 and beyond), lengths around each phase boundary.
    const lits = Array.from({ length: 80 }, (_, i) => 97 + ((i * 7) % 26));
    for (let offset = 1; offset <= 80; offset++) {
      for (const ml of [4, 5, 15, 16, 17, 18, 19, 31, 32, 33, 63, 64, 65, 100, 255, 256, 257, 300, 1000]) {
        const block = makeBlock([[lits, offset, ml]], [1, 2, 3, 4, 5]);
        const r = decodeBoth(block, 2000, `offset ${offset} ml ${ml}`);
        assert.ok(r.ok, `offset ${offset} ml ${ml}`);
        for (let i = 80; i < 80 + ml; i++) assert.equal(r.bytes[i], r.bytes[i - offset]);
      }
    }
    // A match 65535 back, and one at exactly the first byte of the output.
    const big = Array.from(randomBytes(65535, 5));
    const far = decodeBoth(makeBlock([[big, 65535, 1000]], [9, 9, 9, 9, 9]), 70_000, "offset 65535");
    assert.ok(far.ok);
    assertSameBytes(far.bytes.subarray(65535, 66535), far.bytes.subarray(0, 1000), "offset 65535 copy");
    const start = decodeBoth(makeBlock([[[1, 2, 3], 3, 4]], []), 100, "ref = start");
    assert.ok(start.ok);
    // One byte too far, and offset 0.
    assertCorruption(() => lz4DecompressBlock(makeBlock([[[1, 2, 3], 4, 4]], []), 100), "before start", /1 bytes before/);
    assert.equal(decodeBoth(makeBlock([[[1, 2, 3], 4, 4]], []), 100, "before start").ok, false);
    assert.equal(decodeBoth(makeBlock([[[1, 2, 3], 0, 4]], []), 100, "offset 0").ok, false);
  });

  it("long literal runs and long matches (the memory.copy paths), exact output sizes", () => {
    for (const n of [15, 16, 17, 255, 256, 257, 270, 1000, 70_000]) {
      // n literals, a match of ml bytes from ml back (not overlapping), n final literals.
      const ml = Math.min(n, 65535);
      const lits = Array.from(randomBytes(n, n));
      const block = makeBlock([[lits, ml, ml]], Array.from(randomBytes(n, n + 1)));
      const total = 2 * n + ml;
      const exact = decodeBoth(block, total, `n=${n} exact`);
      assert.ok(exact.ok && exact.bytes.length === total);
      assertSameBytes(exact.bytes.subarray(n, n + ml), exact.bytes.subarray(n - ml, n), `n=${n} match`);
      // One byte too little room, in the final literals and in the match.
      assert.equal(decodeBoth(block, total - 1, `n=${n} short`).ok, false);
      assert.equal(decodeBoth(block, n + ml - 1, `n=${n} match overflow`).ok, false);
      // Truncated anywhere: never a result with the full size.
      for (const cut of [1, 2, n, block.length - 1]) {
        const r = decodeBoth(block.subarray(0, block.length - cut), total, `n=${n} cut ${cut}`);
        assert.ok(!r.ok || r.bytes.length < total, `n=${n} cut ${cut}`);
      }
    }
  });

  it("linked blocks: matches into the history, at most 64 KiB of it", () => {
    const history = jsonText(100_000, 41);
    for (const hLen of [0, 1, 4, 1000, 65535, 65536, 65537, 100_000]) {
      const h = history.subarray(0, hLen);
      for (const offset of [1, 4, 16, 1000, 65535]) {
        const block = makeBlock([[[7, 7], offset, 40]], [1, 2, 3, 4, 5]);
        const r = decodeBoth(block, 100, `history ${hLen} offset ${offset}`, h);
        assert.equal(r.ok, offset <= hLen + 2, `history ${hLen} offset ${offset}`);
      }
    }
  });

  it("random, fuzzed and mutated blocks: same bytes or the same CORRUPTION error", SLOW, () => {
    const rand = rng(1234);
    const seen = new Map<string, number>();
    const count = (r: Outcome) => {
      const key = r.ok ? "ok" : r.message.replace(/\d+/g, "N");
      seen.set(key, (seen.get(key) ?? 0) + 1);
    };
    // Valid blocks of both compressors' kinds, then mutated.
    const sources = [jsonText(5000, 1), jsonText(70_000, 2), randomBytes(3000, 3), new Uint8Array(4000)];
    const blocks = sources.map((s) => wasmBlock(s));
    for (let round = 0; round < 3000; round++) {
      const k = round % blocks.length;
      const b = blocks[k].slice();
      const flips = 1 + rand(4);
      for (let j = 0; j < flips; j++) b[rand(b.length)] = rand(3) === 0 ? 255 : rand(256);
      const cut = rand(4) === 0 ? b.subarray(0, rand(b.length + 1)) : b;
      const cap = rand(3) === 0 ? sources[k].length : sources[k].length + rand(200) - 100;
      count(decodeBoth(cut, Math.max(0, cap), `mutated ${round}`));
    }
    // Structured random sequences: plausible tokens, random lengths and
    // offsets, some of them wrong.
    for (let round = 0; round < 3000; round++) {
      const seqs: [number[], number, number][] = [];
      let produced = 0;
      for (let s = rand(6); s > 0; s--) {
        const lit = Array.from(randomBytes(rand(3) === 0 ? rand(300) : rand(20), round * 7 + s));
        produced += lit.length;
        const offset = rand(5) === 0 ? rand(65536) : 1 + rand(Math.max(1, produced + 2));
        const ml = 4 + (rand(4) === 0 ? rand(600) : rand(30));
        seqs.push([lit, offset, ml]);
        produced += ml;
      }
      const block = makeBlock(seqs, Array.from(randomBytes(rand(30), round)));
      const cut = rand(5) === 0 ? block.subarray(0, rand(block.length + 1)) : block;
      const cap = rand(2) === 0 ? produced + 40 : rand(produced + 40);
      count(decodeBoth(cut, cap, `sequences ${round}`));
    }
    // One of each malformation, made by hand.
    const edge: [number[], number][] = [
      [[], 10], // ends where a token is due
      [[0x10, 65, 1, 0], 10], // ends after a match
      [[0xf0], 10], // literal length runs past the end
      [[0xf0, 255, 255], 10],
      [[0x50, 1, 2], 10], // 5 literals, 2 present
      [[0x30, 1, 2, 3], 2], // 3 literals, room for 2
      [[0x10, 65, 1], 10], // offset truncated
      [[0x10, 65, 0, 0, 0x00], 10], // offset 0
      [[0x10, 65, 2, 0, 0x00], 10], // 1 byte before the start
      [[0x1f, 65, 1, 0], 10], // match length runs past the end
      [[0x1f, 65, 1, 0, 255], 1000],
      [[0x10, 65, 1, 0, 0x10, 66], 3], // match of 4, room for 3
    ];
    for (const [bytes, cap] of edge) count(decodeBoth(new Uint8Array(bytes), cap, `edge ${bytes}`));
    // Pure garbage.
    const g = randomBytes(500_000, 77);
    for (let round = 0; round < 3000; round++) {
      const at = rand(g.length - 600);
      count(decodeBoth(g.subarray(at, at + rand(600)), rand(70_000), `garbage ${round}`));
    }
    // Every check of the decoders was reached (so the comparison covered it).
    const kinds = [...seen.keys()].join("\n");
    for (
      const re of [/^ok$/, /without final literals/, /literal length runs past/, /literals at byte N run past/,
        /literals at byte N overflow/, /offset truncated/, /points at itself/, /bytes before the start/,
        /match length runs past/, /match of N bytes .* overflows/]
    ) {
      assert.ok([...seen.keys()].some((key) => re.test(key)), `never seen: ${re}\nseen:\n${kinds}`);
    }
  });

  it("frames: WASM and TS agree on the tool's frames (linked, checksummed, mutated)", SLOW, () => {
    const data = jsonText(300_000, 17);
    const frames = [
      lz4Compress(data),
      lz4Compress(data, { contentChecksum: true }),
      lz4Tool(["-c", "-BD"], data),
      lz4Tool(["-c", "-BD", "-B4"], data),
      lz4Tool(["-c", "-B4", "--no-frame-crc"], data),
      lz4Tool(["-c", "-BD", "-B4", "--no-frame-crc"], data),
    ];
    const rand = rng(99);
    const both = (f: Uint8Array, what: string): Outcome => {
      const wasm = outcome(() => lz4Decompress(f), `${what} (WASM)`);
      const was = setLz4WasmEnabled(false);
      let js: Outcome;
      try {
        js = outcome(() => lz4Decompress(f), `${what} (TS)`);
      } finally {
        setLz4WasmEnabled(was);
      }
      if (js.ok && wasm.ok) assertSameBytes(wasm.bytes, js.bytes, what);
      else assert.equal(wasm.ok ? "decoded" : wasm.message, js.ok ? "decoded" : js.message, what);
      return wasm;
    };
    for (const [i, f] of frames.entries()) {
      const r = both(f, `frame ${i}`);
      assert.ok(r.ok, `frame ${i}`);
      assertSameBytes(r.bytes, data, `frame ${i}`);
      for (let round = 0; round < 150; round++) {
        const m = f.slice();
        for (let j = 1 + rand(3); j > 0; j--) m[15 + rand(m.length - 15)] = rand(256);
        both(m, `frame ${i} mutated ${round}`);
      }
    }
  });
});

describe("lz4 frames through either codec", () => {
  it("lz4Compress writes the same frames with the WASM codec on and off", SLOW, () => {
    const mixed = new Uint8Array(2 * WASM_MAX_BLOCK + 1000);
    mixed.set(randomBytes(WASM_MAX_BLOCK, 61)); // block 1 stored, 2 and 3 compressed
    mixed.set(jsonText(WASM_MAX_BLOCK + 1000, 62), WASM_MAX_BLOCK);
    const cases: [string, Uint8Array][] = [
      ["empty", new Uint8Array(0)],
      ["text, 3 blocks", jsonText(2 * WASM_MAX_BLOCK + 5, 63)],
      ["stored then compressed", mixed],
      ["compressed then stored", mixed.slice().reverse()],
      ["12 bytes, stored", jsonText(12, 64)],
    ];
    for (const [name, data] of cases) {
      for (const contentChecksum of [false, true]) {
        const wasm = lz4Compress(data, { contentChecksum });
        const was = setLz4WasmEnabled(false);
        let ts: Uint8Array;
        try {
          ts = lz4Compress(data, { contentChecksum });
        } finally {
          setLz4WasmEnabled(was);
        }
        assertSameBytes(wasm, ts, `${name}, checksum ${contentChecksum}`);
        assertSameBytes(lz4Decompress(wasm), data, `${name} round trip`);
      }
      assertSameBytes(lz4Tool(["-d", "-c"], lz4Compress(data)), data, `${name}: lz4 -d`);
    }
  });
});

describe("lz4 WebAssembly limits", () => {
  it("blocks over 4 MiB go to the TS codec; the WASM memory stays under 16 MiB", SLOW, () => {
    const big = jsonText(WASM_MAX_BLOCK + 1, 51);
    assert.equal(wasmCompressBlock(big, 0, big.length), undefined, "compress declines 4 MiB + 1");
    assert.equal(wasmDecodeBlock(new Uint8Array(10), 0, 10, undefined, WASM_MAX_BLOCK + 1, 0), undefined);
    const block = lz4CompressBlock(big);
    assertSameBytes(block, jsBlock(big), "4 MiB + 1 through the TS codec");
    assertSameBytes(lz4DecompressBlock(block, big.length), big, "4 MiB + 1 back");
    const huge = new Uint8Array(24 * MiB).fill(3);
    assertSameBytes(lz4DecompressBlock(lz4CompressBlock(huge), huge.length), huge, "24 MiB block");
    // The largest blocks WASM takes, both ways, incompressible (largest bound).
    const rnd = randomBytes(WASM_MAX_BLOCK, 52);
    const rb = lz4CompressBlock(rnd);
    assertSameBytes(lz4DecompressBlock(rb, rnd.length), rnd, "4 MiB random");
    assertSameBytes(lz4Decompress(lz4Compress(rnd)), rnd, "4 MiB random frame");
    const bytes = lz4WasmMemoryBytes();
    assert.ok(bytes > WASM_MAX_BLOCK && bytes <= 16 * MiB, `WASM memory is ${bytes} bytes`);
  });

  it("a declared length the input cannot produce is refused before anything is allocated", () => {
    assertCorruption(() => lz4DecompressBlock(new Uint8Array([0x10, 0x41]), 1e9), "1e9", /cannot decode/);
    const before = lz4WasmMemoryBytes();
    assertCorruption(() => lz4DecompressBlock(new Uint8Array(100), 4 * MiB), "4 MiB from 100 bytes", /cannot decode/);
    assert.equal(lz4WasmMemoryBytes(), before);
  });
});
