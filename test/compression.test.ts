/**
 * Frame compression (SPEC §2 compression / minCompressionSize, §3): a frame
 * is compressed with "lz4" or "deflate" only when its raw payload is at least
 * minCompressionSize and the result is smaller; frames of every kind mix in
 * one segment and a log written under one setting reads under any other; a
 * corrupted compressed payload whose CRC was fixed up is CORRUPTION, never a
 * hang or a huge allocation. On MemoryFs and on a real temporary directory.
 * Runs unchanged under `deno test -A`, `bun test` and `node --test`.
 */

import { afterEach, describe, it } from "node:test";
import assert from "node:assert/strict";
import * as nfs from "node:fs";
import * as os from "node:os";
import { Wal } from "../src/wal.ts";
import { WalError } from "../src/errors.ts";
import type { WalFs } from "../src/io.ts";
import type { Compression, WalOptions } from "../src/options.ts";
import { MemoryFs } from "../adapters/memory.ts";
import { defaultFs } from "../adapters/default.ts";
import { encodeStreamName } from "../src/format/stream_name.ts";
import { crc32, initCrc32 } from "../src/format/crc32.ts";
import { getU32, putU32 } from "../src/format/bytes.ts";
import { randomBytes } from "./_wal_util.ts";

const g = globalThis as { Bun?: unknown; Deno?: unknown };
const runtime = g.Bun !== undefined ? "bun" : g.Deno !== undefined ? "deno" : "node";
const SLOW = { timeout: 120_000 };

// ---------------------------------------------------------------- helpers


/** Deterministic compressible JSON-like text of exactly `n` bytes. */
function text(n: number, seed = 7): Uint8Array {
  const r = randomBytes(Math.max(n, 16), seed);
  const names = ["alpha", "bravo", "ledger", "account", "transfer", "settled", "pending", "refund"];
  let t = "";
  let i = 0;
  while (t.length < n) {
    const a = r[i++ % r.length];
    const b = r[i++ % r.length];
    t += `{"id":${100000 + i},"user":"user_${a}","status":"${names[a & 7]}","tags":["${names[b & 7]}"]}\n`;
  }
  return new TextEncoder().encode(t.slice(0, n));
}

function same(actual: Uint8Array | undefined, expected: Uint8Array, what: string): void {
  assert.ok(actual !== undefined, `${what}: got undefined`);
  assert.equal(actual.length, expected.length, `${what}: length`);
  for (let i = 0; i < expected.length; i++) {
    if (actual[i] !== expected[i]) assert.fail(`${what}: first difference at byte ${i}`);
  }
}

/** A place to put a WAL: MemoryFs or a real temporary directory with this runtime's adapter. */
interface Place {
  fs: WalFs;
  root: string;
}

const tmpDirs: string[] = [];
afterEach(() => {
  while (tmpDirs.length > 0) nfs.rmSync(tmpDirs.pop()!, { recursive: true, force: true });
});

const BACKENDS: { name: string; make: () => Place }[] = [
  { name: "MemoryFs", make: () => ({ fs: new MemoryFs(), root: "/wal" }) },
  {
    name: `${runtime} fs (tmp dir)`,
    make: () => {
      const dir = nfs.mkdtempSync(os.tmpdir() + "/ironwal-compression-");
      tmpDirs.push(dir);
      return { fs: defaultFs(), root: dir + "/wal" };
    },
  },
];

function open(p: Place, extra: WalOptions = {}): Promise<Wal> {
  return Wal.open({ root: p.root, fs: p.fs, syncMode: "async", ...extra });
}

/** Whole content of a file through the adapter. */
function readAll(fs: WalFs, path: string): Uint8Array {
  const st = fs.stat(path);
  assert.ok(st !== undefined, `${path} exists`);
  const f = fs.open(path, "read");
  try {
    const b = new Uint8Array(st.size);
    assert.equal(f.read(b, 0), st.size);
    return b;
  } finally {
    f.close();
  }
}

function writeAt(fs: WalFs, path: string, bytes: Uint8Array, pos: number): void {
  const f = fs.open(path, "write");
  try {
    f.write(bytes, pos);
    f.datasync();
  } finally {
    f.close();
  }
}

/** Segment file paths of `stream`, oldest first. */
function segments(p: Place, stream: string): string[] {
  const dir = p.root + "/" + encodeStreamName(stream);
  return p.fs.readDir(dir).map((e) => e.name).filter((n) => n.endsWith(".wal")).sort().map((n) => dir + "/" + n);
}

interface FrameInfo {
  off: number;
  storedLen: number;
  rawLen: number;
  count: number;
  codec: number;
}

/** Walks the frames of a segment file (FORMAT: 32-byte segment header, 32-byte frame headers). */
function frames(fs: WalFs, path: string): FrameInfo[] {
  const b = readAll(fs, path);
  const out: FrameInfo[] = [];
  let pos = 32;
  while (pos + 32 <= b.length) {
    assert.equal(b[pos + 30], 0x57, `frame marker at ${pos}`);
    const storedLen = getU32(b, pos + 4);
    out.push({ off: pos, storedLen, rawLen: getU32(b, pos + 8), count: getU32(b, pos + 12), codec: b[pos + 28] });
    pos += 32 + storedLen;
  }
  assert.equal(pos, b.length, `${path}: frames end exactly at the end of the file`);
  return out;
}

function allFrames(p: Place, stream: string): FrameInfo[] {
  return segments(p, stream).flatMap((s) => frames(p.fs, s));
}

function segmentBytes(p: Place, stream: string): number {
  let n = 0;
  for (const s of segments(p, stream)) n += p.fs.stat(s)!.size;
  return n;
}

const CODEC: Record<Compression, number> = { none: 0, lz4: 1, deflate: 2 };

async function iterAll(wal: Wal, stream: string, start = 0): Promise<{ id: number; data: Uint8Array }[]> {
  const out: { id: number; data: Uint8Array }[] = [];
  for await (const e of wal.iter(stream, start)) out.push({ id: e.id, data: e.data.slice() });
  return out;
}

/** Checks that every entry reads back by get, iter and readRange. */
async function checkAll(wal: Wal, stream: string, expected: Uint8Array[], what: string): Promise<void> {
  for (let i = 0; i < expected.length; i++) same(await wal.get(stream, i), expected[i], `${what}: get(${i})`);
  assert.equal(await wal.get(stream, expected.length), undefined, `${what}: get past the end`);
  const it = await iterAll(wal, stream);
  assert.equal(it.length, expected.length, `${what}: iter count`);
  for (let i = 0; i < it.length; i++) {
    assert.equal(it[i].id, i);
    same(it[i].data, expected[i], `${what}: iter ${i}`);
  }
  if (expected.length === 0) return;
  const rr = await wal.readRange(stream, 1, expected.length);
  assert.equal(rr.length, expected.length - 1, `${what}: readRange count`);
  for (const e of rr) same(e.data, expected[e.id], `${what}: readRange ${e.id}`);
}

function isCorruption(e: unknown): boolean {
  assert.ok(e instanceof WalError, `expected a WalError, got ${String(e)}`);
  assert.equal(e.code, "CORRUPTION", e.message);
  return true;
}

// ---------------------------------------------------------------- tests

for (const backend of BACKENDS) {
  describe(`compression on ${backend.name}`, () => {
    for (const kind of ["lz4", "deflate"] as const) {
      it(`${kind}: compressible entries shrink the segment, random entries are stored raw`, async () => {
        const p = backend.make();
        const plain = backend.make();
        const comp: Uint8Array[] = [];
        for (let i = 0; i < 24; i++) comp.push(text(4096, i + 1));
        const rand: Uint8Array[] = [];
        for (let i = 0; i < 24; i++) rand.push(randomBytes(4096, 1000 + i));

        const wal = await open(p, { compression: kind, minCompressionSize: 512 });
        const ref = await open(plain, { compression: "none" });
        for (const e of comp) {
          await wal.append("c", e);
          await ref.append("c", e);
        }
        for (const e of rand) {
          await wal.append("r", e);
          await ref.append("r", e);
        }
        await wal.sync();
        await ref.sync();

        // Compressible: every frame is compressed and the file is far smaller than raw.
        const cf = allFrames(p, "c");
        assert.equal(cf.length, comp.length);
        for (const f of cf) {
          assert.equal(f.codec, CODEC[kind], `frame at ${f.off}: codec`);
          assert.equal(f.rawLen, 4096);
          assert.ok(f.storedLen < f.rawLen, `frame at ${f.off}: ${f.storedLen} < ${f.rawLen}`);
        }
        const cBytes = segmentBytes(p, "c");
        const cPlain = segmentBytes(plain, "c");
        assert.equal(cPlain, 32 + comp.length * (32 + 4096), "uncompressed reference size");
        assert.ok(cBytes < cPlain / 2, `compressed ${cBytes} bytes < half of ${cPlain}`);

        // Incompressible: stored raw (codec 0, storedLen = rawLen), same size as with "none".
        const rf = allFrames(p, "r");
        assert.equal(rf.length, rand.length);
        for (const f of rf) {
          assert.equal(f.codec, 0, `random frame at ${f.off} stored raw`);
          assert.equal(f.storedLen, f.rawLen);
        }
        assert.equal(segmentBytes(p, "r"), segmentBytes(plain, "r"), "random data costs exactly the raw size");

        await checkAll(wal, "c", comp, `${kind} compressible`);
        await checkAll(wal, "r", rand, `${kind} random`);
        await wal.close();
        await ref.close();

        const again = await open(p, { compression: kind });
        await checkAll(again, "c", comp, `${kind} compressible after reopen`);
        await checkAll(again, "r", rand, `${kind} random after reopen`);
        await again.close();
      });

      it(`${kind}: the threshold is on the raw payload (minCompressionSize - 1 raw, exactly it compressed)`, async () => {
        const p = backend.make();
        const min = 1000;
        const wal = await open(p, { compression: kind, minCompressionSize: min });
        const below = new Uint8Array(min - 1).fill(0x61);
        const at = new Uint8Array(min).fill(0x61);
        const above = new Uint8Array(min + 1).fill(0x61);
        await wal.append("t", below);
        await wal.append("t", at);
        await wal.append("t", above);
        // A batch's raw payload is 4 bytes of length per entry plus the entries.
        const batchBelow = [new Uint8Array(500).fill(0x62), new Uint8Array(min - 1 - 8 - 500).fill(0x62)];
        const batchAt = [new Uint8Array(500).fill(0x63), new Uint8Array(min - 8 - 500).fill(0x63)];
        await wal.appendBatch("t", batchBelow);
        await wal.appendBatch("t", batchAt);
        // An empty entry and a tiny one never compress.
        await wal.append("t", new Uint8Array(0));
        await wal.append("t", new Uint8Array([1, 2, 3]));
        await wal.sync();
        const f = allFrames(p, "t");
        assert.deepEqual(
          f.map((x) => [x.rawLen, x.codec]),
          [[min - 1, 0], [min, CODEC[kind]], [min + 1, CODEC[kind]], [min - 1, 0], [min, CODEC[kind]], [0, 0], [3, 0]],
        );
        const expected = [below, at, above, ...batchBelow, ...batchAt, new Uint8Array(0), new Uint8Array([1, 2, 3])];
        await checkAll(wal, "t", expected, `${kind} threshold`);
        await wal.close();

        // minCompressionSize 0: everything non-empty is a candidate, but only kept when smaller.
        const q = backend.make();
        const w0 = await open(q, { compression: kind, minCompressionSize: 0 });
        await w0.append("z", new Uint8Array([7])); // one byte cannot shrink
        await w0.append("z", new Uint8Array(64)); // 64 zeros can
        await w0.sync();
        assert.deepEqual(allFrames(q, "z").map((x) => x.codec), [0, CODEC[kind]]);
        same(await w0.get("z", 0), new Uint8Array([7]), "one byte");
        same(await w0.get("z", 1), new Uint8Array(64), "64 zeros");
        await w0.close();
      });

      it(`${kind}: a batch compresses as one frame`, async () => {
        const p = backend.make();
        const wal = await open(p, { compression: kind, minCompressionSize: 1024 });
        // Each entry is far below the threshold; the batch as a whole is above it.
        const batch: Uint8Array[] = [];
        for (let i = 0; i < 50; i++) batch.push(text(200, 50 + i));
        const r = await wal.appendBatch("b", batch);
        assert.deepEqual(r, { start: 0, end: 50 });
        const txn = wal.writer("b");
        for (let i = 0; i < 10; i++) txn.add(text(300, 900 + i));
        const r2 = await txn.commit();
        assert.deepEqual(r2, { start: 50, end: 60 });
        // A batch of incompressible entries is one raw frame.
        const rnd: Uint8Array[] = [];
        for (let i = 0; i < 5; i++) rnd.push(randomBytes(700, 77 + i));
        await wal.appendBatch("b", rnd);
        await wal.sync();
        const f = allFrames(p, "b");
        assert.equal(f.length, 3, "three frames");
        assert.equal(f[0].count, 50);
        assert.equal(f[0].codec, CODEC[kind]);
        assert.equal(f[0].rawLen, 50 * 4 + 50 * 200);
        assert.ok(f[0].storedLen < f[0].rawLen / 2);
        assert.equal(f[1].count, 10);
        assert.equal(f[1].codec, CODEC[kind]);
        assert.equal(f[2].count, 5);
        assert.equal(f[2].codec, 0);
        assert.equal(f[2].storedLen, 5 * 4 + 5 * 700);
        const expected = [...batch];
        for (let i = 0; i < 10; i++) expected.push(text(300, 900 + i));
        expected.push(...rnd);
        await checkAll(wal, "b", expected, `${kind} batch`);
        // Every entry of a compressed batch, in random order.
        for (const id of [49, 0, 17, 55, 50, 59, 3, 62]) same(await wal.get("b", id), expected[id], `get(${id})`);
        await wal.close();
        const again = await open(p, { compression: "none" });
        await checkAll(again, "b", expected, `${kind} batch reopened without compression`);
        await again.close();
      });
    }

    it("frames of every kind mix in one segment; any setting reads a log written under any other", SLOW, async () => {
      const p = backend.make();
      const expected: Uint8Array[] = [];
      const settings: Compression[] = ["none", "lz4", "deflate", "lz4", "none", "deflate"];
      let n = 0;
      for (const kind of settings) {
        const wal = await open(p, { compression: kind, minCompressionSize: 256 });
        // Earlier data reads under this setting before more is appended.
        await checkAll(wal, "mix", expected, `before appending under ${kind}`);
        for (let i = 0; i < 6; i++) {
          const e = i % 3 === 2 ? randomBytes(1500, n) : text(1500 + i, n);
          expected.push(e);
          assert.equal(await wal.append("mix", e), n++);
        }
        const batch = [text(100, n), text(180, n + 1), text(90, n + 2)];
        const r = await wal.appendBatch("mix", batch);
        assert.equal(r.start, n);
        n = r.end;
        expected.push(...batch);
        await checkAll(wal, "mix", expected, `after appending under ${kind}`);
        await wal.close();
      }
      // One segment holding frames of all three codecs.
      const segs = segments(p, "mix");
      assert.equal(segs.length, 1);
      const codecs = new Set(frames(p.fs, segs[0]).map((f) => f.codec));
      assert.deepEqual([...codecs].sort(), [0, 1, 2]);

      for (const kind of ["none", "lz4", "deflate"] as const) {
        for (const readStrategy of ["standard", "mmap"] as const) {
          for (const blockCacheSize of [0, 1 << 20]) {
            const wal = await open(p, { compression: kind, readStrategy, blockCacheSize });
            await checkAll(wal, "mix", expected, `read under ${kind}/${readStrategy}/cache ${blockCacheSize}`);
            await wal.close();
          }
        }
      }
    });

    it("mixed codecs across sealed segments read by get, iter and after reopen (mmap too)", SLOW, async () => {
      const p = backend.make();
      const expected: Uint8Array[] = [];
      for (const kind of ["deflate", "none", "lz4"] as const) {
        const wal = await open(p, { compression: kind, minCompressionSize: 128, maxSegmentSize: 8192 });
        for (let i = 0; i < 20; i++) {
          const e = i % 4 === 3 ? randomBytes(900, expected.length) : text(900 + i * 7, expected.length);
          await wal.append("seg", e);
          expected.push(e);
        }
        await wal.close();
      }
      assert.ok(segments(p, "seg").length > 3, "several segments");
      const codecs = new Set(allFrames(p, "seg").map((f) => f.codec));
      assert.deepEqual([...codecs].sort(), [0, 1, 2]);
      for (const readStrategy of ["standard", "mmap"] as const) {
        const wal = await open(p, { compression: "deflate", readStrategy });
        await checkAll(wal, "seg", expected, `sealed segments, ${readStrategy}`);
        // iter from the middle of a segment.
        const tail = await iterAll(wal, "seg", 33);
        assert.equal(tail.length, expected.length - 33);
        for (const e of tail) same(e.data, expected[e.id], `iter from 33: ${e.id}`);
        await wal.close();
      }
    });

    for (const kind of ["lz4", "deflate"] as const) {
      it(`${kind}: a corrupted compressed payload with a fixed-up CRC is CORRUPTION (no hang, no huge allocation)`, SLOW, async () => {
        await initCrc32();
        const p = backend.make();
        const entry = text(8192, 3);
        const batch = [text(3000, 4), text(3000, 5)];
        {
          const wal = await open(p, { compression: kind, minCompressionSize: 64, maxEntriesPerSegment: 1 });
          await wal.append("x", entry); // segment 0 (sealed by the next append)
          await wal.appendBatch("x", batch); // segment 1 (active)
          await wal.close();
        }
        const segs = segments(p, "x");
        assert.equal(segs.length, 2);
        const originals = segs.map((s) => readAll(p.fs, s));
        const restore = () => segs.forEach((s, i) => writeAt(p.fs, s, originals[i], 0));

        /** Rewrites the frame at offset 32 of segment `si` with `mutate`, then fixes its CRC. */
        const craft = (si: number, mutate: (frame: Uint8Array) => void) => {
          const b = originals[si].slice();
          const storedLen = getU32(b, 32 + 4);
          const frame = b.subarray(32, 32 + 32 + storedLen);
          assert.equal(frame[28], CODEC[kind], "the crafted frame is compressed");
          mutate(frame);
          putU32(frame, 0, crc32(frame.subarray(4, 32 + getU32(frame, 4))));
          writeAt(p.fs, segs[si], b, 0);
        };

        const expectCorruption = async (what: string, ids: number[]) => {
          const wal = await open(p, { compression: "none" });
          try {
            for (const id of ids) {
              const t0 = performance.now();
              await assert.rejects(wal.get("x", id), isCorruption, `${what}: get(${id})`);
              assert.ok(performance.now() - t0 < 2000, `${what}: get(${id}) fails fast`);
            }
            await assert.rejects(iterAll(wal, "x"), isCorruption, `${what}: iter`);
          } finally {
            await wal.close();
          }
        };

        for (const si of [0, 1]) {
          const ids = si === 0 ? [0] : [1, 2];
          const where = si === 0 ? "sealed" : "active";
          // Garbage instead of the compressed bytes.
          craft(si, (f) => f.subarray(32).fill(0xff));
          await expectCorruption(`${where}: 0xff payload`, ids);
          restore();
          // The second half of the compressed stream zeroed.
          craft(si, (f) => f.subarray(32 + (f.length - 32) / 2).fill(0));
          await expectCorruption(`${where}: zeroed second half`, ids);
          restore();
          // rawLen says one byte more than the payload decodes to.
          craft(si, (f) => putU32(f, 8, getU32(f, 8) + 1));
          await expectCorruption(`${where}: rawLen + 1`, ids);
          restore();
          // rawLen says one byte less.
          craft(si, (f) => putU32(f, 8, getU32(f, 8) - 1));
          await expectCorruption(`${where}: rawLen - 1`, ids);
          restore();
          // rawLen claims 255 MiB: refused before allocating it.
          craft(si, (f) => putU32(f, 8, 255 * 1024 * 1024));
          await expectCorruption(`${where}: rawLen 255 MiB`, ids);
          restore();
        }

        // Random single-byte damage (CRC fixed up): each read either fails with CORRUPTION
        // or returns some bytes of the header's length; never another error, never a hang.
        const t0 = performance.now();
        let corrupt = 0;
        for (let trial = 0; trial < 120; trial++) {
          const r = randomBytes(3, 4242 + trial);
          craft(0, (f) => {
            const at = 32 + ((r[0] << 8 | r[1]) % (f.length - 32));
            f[at] ^= r[2] | 1;
          });
          const wal = await open(p, { compression: kind });
          try {
            const got = await wal.get("x", 0);
            assert.ok(got instanceof Uint8Array);
            assert.equal(got.length, entry.length);
          } catch (e) {
            isCorruption(e);
            corrupt++;
          } finally {
            await wal.close();
          }
        }
        restore();
        assert.ok(corrupt > 0, "some random damage is detected by the decoder");
        assert.ok(performance.now() - t0 < 60_000, "fuzzing finished in time");

        const wal = await open(p, { compression: kind });
        same(await wal.get("x", 0), entry, "restored entry");
        same(await wal.get("x", 2), batch[1], "restored batch entry");
        await wal.close();
      });
    }
  });
}
