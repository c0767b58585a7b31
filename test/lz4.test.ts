// LZ4 codec tests: round trips, interop with the reference `lz4` tool in both
// directions, and malformed input. Runs unchanged under `deno test -A`,
// `bun test` and `node --test` (compiled).
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import {
  lz4BlockBound,
  lz4Compress,
  lz4CompressBlock,
  lz4Decompress,
  lz4DecompressBlock,
  xxhash32,
} from "../src/codec/lz4.ts";
import { WalError } from "../src/errors.ts";
import { randomBytes } from "./_wal_util.ts";
import { assertCorruption, assertSameBytes, jsonText, le32, lz4Tool } from "./_lz4_util.ts";

// ---------------------------------------------------------------------------
// Helpers (more in _lz4_util.ts)
// ---------------------------------------------------------------------------

/** Either throws CORRUPTION or returns; anything else (RangeError, ...) fails. */
function corruptionOrResult(fn: () => Uint8Array, what: string): Uint8Array | undefined {
  try {
    return fn();
  } catch (e) {
    if (!(e instanceof WalError) || e.code !== "CORRUPTION") {
      assert.fail(`${what}: expected a CORRUPTION WalError, got ${e instanceof Error ? e.stack : String(e)}`);
    }
    return undefined;
  }
}

/**
 * A hand-made frame: header with FLG/BD (+ 8-byte content size if given) and a
 * correct header checksum, then the given raw blocks (each with its size
 * word), then the EndMark.
 */
function makeFrame(
  blocks: { data: number[]; stored?: boolean }[],
  opts: { flg?: number; bd?: number; contentSize?: number; dictId?: number } = {},
): Uint8Array {
  const flg = (opts.flg ?? 0x60) | (opts.contentSize !== undefined ? 0x08 : 0);
  const desc = [flg, opts.bd ?? 0x40];
  if (opts.contentSize !== undefined) {
    desc.push(...le32(opts.contentSize >>> 0), ...le32(Math.floor(opts.contentSize / 2 ** 32)));
  }
  if (opts.dictId !== undefined) desc.push(...le32(opts.dictId));
  const hc = (xxhash32(new Uint8Array(desc)) >>> 8) & 0xff;
  const bytes = [...le32(0x184d2204), ...desc, hc];
  for (const b of blocks) bytes.push(...le32((b.data.length | (b.stored ? 0x80000000 : 0)) >>> 0), ...b.data);
  bytes.push(0, 0, 0, 0);
  return new Uint8Array(bytes);
}

const DATASETS: [string, Uint8Array][] = [
  ["empty", new Uint8Array(0)],
  ["1 byte", new Uint8Array([0x42])],
  ["12 bytes", new TextEncoder().encode("hello, world")],
  ["incompressible random 200 KiB", randomBytes(200 * 1024)],
  ["all zeros 1 MiB", new Uint8Array(1 << 20)],
  ["JSON-like text 300 KiB", jsonText(300 * 1024)],
  ["JSON-like text 4 MiB + 4321 (two blocks)", jsonText(4 * 1024 * 1024 + 4321, 3)],
];

// ---------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------

describe("xxhash32", () => {
  it("matches the published test vectors", () => {
    assert.equal(xxhash32(new Uint8Array(0)), 0x02cc5d05);
    assert.equal(xxhash32(new TextEncoder().encode("abc")), 0x32d153ff);
    // Both lane paths (>= 16 bytes and the tail) are also exercised by the
    // content and block checksums the lz4 tool writes (see interop below).
  });
});

describe("lz4 round trip (ours → ours)", () => {
  for (const [name, data] of DATASETS) {
    it(`frame: ${name}`, () => {
      for (const contentChecksum of [false, true]) {
        const frame = lz4Compress(data, { contentChecksum });
        assertSameBytes(lz4Decompress(frame), data, `${name}, checksum=${contentChecksum}`);
      }
    });
    it(`raw block: ${name}`, () => {
      const block = lz4CompressBlock(data);
      assert.ok(block.length <= lz4BlockBound(data.length));
      assertSameBytes(lz4DecompressBlock(block, data.length), data, name);
      const dst = new Uint8Array(data.length + 10);
      assertSameBytes(lz4DecompressBlock(block, dst), data, `${name} into dst`);
    });
  }

  it("compresses text and zeros, and does not grow random data past the bound", () => {
    assert.ok(lz4Compress(jsonText(100_000)).length < 50_000);
    assert.ok(lz4Compress(new Uint8Array(1 << 20)).length < 5000);
    const rnd = randomBytes(100_000);
    assert.ok(lz4Compress(rnd).length <= 100_000 + 32, "stored as an uncompressed block");
  });

  it("round-trips many sizes and patterns (match/literal boundaries)", () => {
    const base = jsonText(3000, 11);
    for (let n = 0; n < 300; n++) {
      const data = base.subarray(0, n * 9);
      assertSameBytes(lz4DecompressBlock(lz4CompressBlock(data), data.length), data, `n=${n * 9}`);
    }
    for (const period of [1, 2, 3, 4, 5, 7, 8, 15, 16, 17, 100, 65535, 65536]) {
      const data = new Uint8Array(70_000 + period * 2);
      const unit = randomBytes(period, period);
      for (let i = 0; i < data.length; i++) data[i] = unit[i % period];
      assertSameBytes(lz4Decompress(lz4Compress(data)), data, `period ${period}`);
    }
  });

  it("reuses its match table across calls without leaking matches between them", () => {
    const a = jsonText(50_000, 1);
    const b = jsonText(50_000, 2);
    for (let i = 0; i < 50; i++) {
      const x = i % 2 === 0 ? a : b;
      assertSameBytes(lz4DecompressBlock(lz4CompressBlock(x), x.length), x, `call ${i}`);
    }
  });

  it("rejects a destination smaller than the bound", () => {
    assert.throws(() => lz4CompressBlock(new Uint8Array(100), new Uint8Array(50)), (e: unknown) => {
      return e instanceof WalError && e.code === "CONFIG";
    });
  });
});

describe("lz4 interop with the reference tool", () => {
  it("the lz4 tool is installed (interop tests fail, not skip, without it)", () => {
    lz4Tool(["-V"]);
  });

  for (const [name, data] of DATASETS) {
    it(`ours → lz4 -d: ${name}`, () => {
      for (const contentChecksum of [false, true]) {
        const out = lz4Tool(["-d", "-c"], lz4Compress(data, { contentChecksum }));
        assertSameBytes(out, data, `${name}, checksum=${contentChecksum}`);
      }
    });
  }

  const VARIANTS: string[][] = [
    [],
    ["-BD"],
    ["-B4"],
    ["-B4", "-BD"],
    ["-B5"],
    ["-B6"],
    ["--content-size"],
    ["--no-frame-crc"],
    ["-BX"],
    ["-B4", "-BX", "-BD", "--content-size"],
    ["-9"],
    ["-1"],
    ["--fast=3"],
  ];
  for (const [name, data] of DATASETS) {
    it(`lz4 → ours: ${name}`, () => {
      for (const args of VARIANTS) {
        const frame = lz4Tool(["-c", "-z", ...args], data);
        assertSameBytes(lz4Decompress(frame), data, `${name}, lz4 ${args.join(" ")}`);
      }
    });
  }

  it("lz4 → ours: concatenated frames and skippable frames", () => {
    const a = jsonText(10_000, 5);
    const b = randomBytes(3000, 9);
    const fa = lz4Tool(["-c"], a);
    const fb = lz4Tool(["-c", "-BD", "-B4"], b);
    const skip = new Uint8Array([...le32(0x184d2a53), ...le32(5), 1, 2, 3, 4, 5]);
    const all = new Uint8Array([...skip, ...fa, ...lz4Compress(b), ...skip, ...fb]);
    const expected = new Uint8Array([...a, ...b, ...b]);
    assertSameBytes(lz4Decompress(all), expected, "concatenation");
    // The reference tool agrees on the same input.
    assertSameBytes(lz4Tool(["-d", "-c"], all), expected, "lz4 -d on the concatenation");
  });

  it("legacy frames (lz4 -l) are rejected clearly", () => {
    const legacy = lz4Tool(["-c", "-l"], jsonText(1000));
    assertCorruption(() => lz4Decompress(legacy), "legacy", /legacy/);
  });
});

describe("lz4 malformed input", () => {
  const small = jsonText(2000, 4);
  // [name, frame, content, has a content checksum]
  const frames: [string, Uint8Array, Uint8Array, boolean][] = [
    ["ours, no checksum", lz4Compress(small), small, false],
    ["ours, content checksum", lz4Compress(small, { contentChecksum: true }), small, true],
    ["ours, incompressible", lz4Compress(randomBytes(300)), randomBytes(300), false],
    ["lz4 default", lz4ToolOrEmpty(["-c"], small), small, true],
    ["lz4 -BX -BD -B4", lz4ToolOrEmpty(["-c", "-BX", "-BD", "-B4"], small), small, true],
  ];

  function lz4ToolOrEmpty(args: string[], data: Uint8Array): Uint8Array {
    // Built at collection time; a missing tool fails the tests that use it.
    try {
      return lz4Tool(args, data);
    } catch {
      return new Uint8Array(0);
    }
  }

  it("every truncation of a small frame throws CORRUPTION", { timeout: 60_000 }, () => {
    for (const [name, frame] of frames) {
      assert.ok(frame.length > 0, `${name}: frame available (is lz4 installed?)`);
      for (let n = 0; n < frame.length; n++) {
        assertCorruption(() => lz4Decompress(frame.subarray(0, n)), `${name} cut at ${n}`, /byte \d+/);
      }
    }
  });

  it("wrong magic number", () => {
    const f = lz4Compress(small);
    f[0] ^= 1;
    assertCorruption(() => lz4Decompress(f), "magic", /wrong magic number .* at byte 0/);
    assertCorruption(() => lz4Decompress(new Uint8Array(0)), "empty input", /byte 0/);
    assertCorruption(() => lz4Decompress(new TextEncoder().encode("not lz4 at all")), "text");
  });

  it("bad header checksum, version and reserved bits", () => {
    const f = lz4Compress(small);
    f[14] ^= 0x55;
    assertCorruption(() => lz4Decompress(f), "HC", /header checksum mismatch at byte 14/);
    assertCorruption(() => lz4Decompress(makeFrame([], { flg: 0xa0 })), "version", /version/);
    assertCorruption(() => lz4Decompress(makeFrame([], { flg: 0x62 })), "reserved FLG bit", /reserved/);
    assertCorruption(() => lz4Decompress(makeFrame([], { bd: 0x41 })), "reserved BD bits", /reserved/);
    assertCorruption(() => lz4Decompress(makeFrame([], { bd: 0x30 })), "block size code 3", /block maximum/);
    assertCorruption(() => lz4Decompress(makeFrame([], { flg: 0x61, dictId: 77 })), "dictionary", /dictionar/);
  });

  it("bad block sizes", () => {
    // 64 KiB maximum (BD 0x40), block declares 65537 bytes.
    const big = makeFrame([{ data: Array.from({ length: 65537 }, () => 0), stored: true }]);
    assertCorruption(() => lz4Decompress(big), "block > max", /exceeds the frame's block maximum/);
    // Block size larger than the rest of the input.
    const f = lz4Compress(small);
    f[15] = 0xff;
    f[16] = 0xff;
    f[17] = 0x3f;
    assertCorruption(() => lz4Decompress(f), "block past end", /byte 15/);
  });

  it("declared content size that the blocks cannot hold is refused before allocating", () => {
    const huge = makeFrame([{ data: [0x10, 0x41] }], { contentSize: 2 ** 40 });
    assertCorruption(() => lz4Decompress(huge), "huge content size", /declares/);
    const wrong = makeFrame([{ data: [0x10, 0x41] }], { contentSize: 2 });
    assertCorruption(() => lz4Decompress(wrong), "short content", /decoded to 1/);
    // A block that decodes to more than the declared size.
    const over = makeFrame([{ data: [0x1f, 0x41, 1, 0, 0x40, 0x41, 0x41, 0x41, 0x41] }], { contentSize: 5 });
    assertCorruption(() => lz4Decompress(over), "over content", /overflow/);
    assertCorruption(() => lz4DecompressBlock(new Uint8Array([0x10, 0x41]), 1e9), "raw length too large");
  });

  it("match offsets before the start, zero offsets, lengths past the end", () => {
    // literal "A", then a match with offset 2 (only 1 byte of history).
    const before = makeFrame([{ data: [0x10, 0x41, 2, 0, 0x00] }]);
    assertCorruption(() => lz4Decompress(before), "offset before start", /offset 2 at byte \d+ points 1 bytes before/);
    const zero = makeFrame([{ data: [0x10, 0x41, 0, 0, 0x00] }]);
    assertCorruption(() => lz4Decompress(zero), "offset 0", /offset 0/);
    // Independent blocks: the second block may not reach into the first.
    const indep = makeFrame([{ data: [0x40, 0x41, 0x42, 0x43, 0x44] }, { data: [0x00, 4, 0, 0x00] }]);
    assertCorruption(() => lz4Decompress(indep), "cross-block offset", /before the start/);
    // ... but linked blocks (FLG bit 5 clear) may.
    const linked = makeFrame([{ data: [0x40, 0x41, 0x42, 0x43, 0x44] }, { data: [0x00, 4, 0, 0x00] }], { flg: 0x40 });
    assertSameBytes(lz4Decompress(linked), new TextEncoder().encode("ABCDABCD"), "linked");
    // Literal length says 15 + 200 literals, only 3 present.
    const litPast = makeFrame([{ data: [0xf0, 200, 1, 2, 3] }]);
    assertCorruption(() => lz4Decompress(litPast), "literals past end", /run past the block end/);
    // Length extension bytes running off the end.
    assertCorruption(() => lz4DecompressBlock(new Uint8Array([0xf0, 255, 255]), 700), "ext past end", /byte 3/);
    // Block ends right after a match (no final literals).
    assertCorruption(
      () => lz4DecompressBlock(new Uint8Array([0x10, 0x41, 1, 0]), new Uint8Array(100)),
      "ends with a match",
      /without final literals/,
    );
    assertCorruption(() => lz4DecompressBlock(new Uint8Array([0x10, 0x41, 1]), 10), "offset truncated", /truncated/);
    assertCorruption(() => lz4DecompressBlock(new Uint8Array(0), 0), "empty block", /byte 0/);
  });

  it("raw block of the wrong length", () => {
    const data = jsonText(5000);
    const block = lz4CompressBlock(data);
    assertCorruption(() => lz4DecompressBlock(block, 4999), "too short a length", /overflow/);
    assertCorruption(() => lz4DecompressBlock(block, 5001), "too long a length", /expected 5001/);
    assertCorruption(() => lz4DecompressBlock(block, new Uint8Array(4000)), "small dst", /overflow/);
  });

  it("checksum mismatches", () => {
    const data = jsonText(3000, 8);
    const f = lz4Compress(data, { contentChecksum: true });
    f[f.length - 1] ^= 1;
    assertCorruption(() => lz4Decompress(f), "content checksum", /content checksum mismatch at byte/);
    const bx = lz4Tool(["-c", "-BX"], data);
    bx[bx.length - 9] ^= 1; // last byte of the block checksum (before EndMark + content checksum)
    assertCorruption(() => lz4Decompress(bx), "block checksum", /block checksum mismatch/);
  });

  it("every single-byte flip: checksummed frames always throw; others throw or keep the declared size", {
    timeout: 120_000,
  }, () => {
    for (const [name, frame, content, checked] of frames) {
      for (let i = 0; i < frame.length; i++) {
        for (const mask of [0x01, 0x80, 0xff]) {
          const f = frame.slice();
          f[i] ^= mask;
          const out = corruptionOrResult(() => lz4Decompress(f), `${name} flip ${mask} at ${i}`);
          if (out === undefined) continue;
          if (checked) {
            // Header, block and content checksums cover every byte: a flip can
            // only go unnoticed if it changes nothing that is decoded.
            assertSameBytes(out, content, `${name} ${i}`);
          } else {
            // Without a content checksum the only guarantee is a well-formed
            // result of the declared size (the WAL's CRC covers the rest).
            assert.equal(out.length, content.length, `${name} ${i}`);
          }
        }
      }
    }
  });

  it("random garbage and random mutations never escape as another error or hang", { timeout: 120_000 }, () => {
    const frame = lz4Compress(jsonText(20_000, 2));
    const block = lz4CompressBlock(jsonText(20_000, 2));
    const r = randomBytes(200_000, 99);
    let k = 0;
    for (let round = 0; round < 2000; round++) {
      const f = frame.slice();
      const b = block.slice();
      for (let j = 0; j < 1 + (r[k++ % r.length] & 7); j++) {
        f[((r[k++ % r.length] << 8) | r[k++ % r.length]) % f.length] = r[k++ % r.length];
        b[((r[k++ % r.length] << 8) | r[k++ % r.length]) % b.length] = r[k++ % r.length];
      }
      corruptionOrResult(() => lz4Decompress(f), `mutated frame ${round}`);
      corruptionOrResult(() => lz4DecompressBlock(b, 20_000), `mutated block ${round}`);
      corruptionOrResult(() => lz4DecompressBlock(b, new Uint8Array(25_000)), `mutated block/dst ${round}`);
      const g = r.subarray((round * 97) % 100_000, (round * 97) % 100_000 + (round % 300));
      corruptionOrResult(() => lz4DecompressBlock(g, new Uint8Array(70_000)), `garbage block ${round}`);
      corruptionOrResult(
        () => lz4Decompress(new Uint8Array([...le32(0x184d2204), ...g])),
        `garbage frame ${round}`,
      );
    }
  });
});
