/**
 * Read paths (SPEC §2 blockCacheSize / readStrategy, §3 indexed get, §6
 * meter, §7): get(id) is one positional read through the in-memory or
 * persisted index; iter reads in large chunks; the block cache is bounded and
 * hands out copies; readStrategy "mmap" reads sealed segments through a
 * bounded view and survives truncation under a running iterator; the meter
 * sees cache, roll, fsync, append and corruption events. Read calls are
 * counted by a wrapper around MemoryFs (and the runtime's adapter).
 * Runs unchanged under `deno test -A`, `bun test` and `node --test`.
 */

import { afterEach, describe, it } from "node:test";
import assert from "node:assert/strict";
import * as nfs from "node:fs";
import * as os from "node:os";
import { Wal } from "../src/wal.ts";
import { WalError } from "../src/errors.ts";
import type { OpenMode, WalDirEntry, WalFile, WalFs, WalLock, WalMapping, WalStat } from "../src/io.ts";
import type { WalEvent, WalOptions } from "../src/options.ts";
import { MemoryFs } from "../adapters/memory.ts";
import { AHEAD_FROM, CHUNK, FIRST_CHUNK } from "../src/stream/cursor.ts";
import { defaultFs } from "../adapters/default.ts";
import { encodeStreamName } from "../src/format/stream_name.ts";
import { pattern } from "./_wal_util.ts";
import { registerNativeCrc32 } from "../src/format/crc32.ts";
import { readAll, replaceFile } from "./_fs_util.ts";

const g = globalThis as { Bun?: unknown; Deno?: unknown };
const runtime = g.Bun !== undefined ? "bun" : g.Deno !== undefined ? "deno" : "node";
const SLOW = { timeout: 120_000 };

// ---------------------------------------------------------------- helpers


function same(actual: Uint8Array | undefined, expected: Uint8Array, what: string): void {
  assert.ok(actual !== undefined, `${what}: got undefined`);
  assert.equal(actual.length, expected.length, `${what}: length`);
  for (let i = 0; i < expected.length; i++) {
    if (actual[i] !== expected[i]) assert.fail(`${what}: first difference at byte ${i}`);
  }
}

/**
 * Wraps a WalFs and counts positional reads (per path; `read` and
 * `readInto` alike; background `readAsync` reads are also counted in
 * `aheadReads`) and mappings. `map` is offered only when `withMap` is
 * true and the inner adapter has one; files offer `readInto` only when
 * `withReadInto` is true and the inner file has it. `ahead` says how files
 * answer `readAsync`: as the inner file does ("ok"), not at all ("none"),
 * always rejecting with EIO ("fail"), throwing it before returning a promise
 * ("throw"), or with half the bytes asked ("short").
 */
class CountingFs implements WalFs {
  readonly name: string;
  readonly inner: WalFs;
  reads = 0;
  readBytes = 0;
  readsByPath = new Map<string, number>();
  maps = 0;
  unmaps = 0;
  mapped: string[] = [];
  /** Paths mapped while they were the newest segment of their directory (must stay empty). */
  mappedActive: string[] = [];
  map?: (path: string) => WalMapping;

  readonly withReadInto: boolean;
  readonly ahead: "ok" | "none" | "fail" | "throw" | "short";
  aheadReads = 0;
  /** Foreground reads (`read`, `readInto`) of segment files (.wal). */
  walForeground = 0;
  /** Reads of 64 KiB or more, and those of them not landing half a page from their source (see `landing`). */
  bigReads = 0;
  misplaced: string[] = [];
  /** Reads of at least this many bytes count in `bigReads`. */
  placeFrom = 64 * 1024;
  /** With `garbage`: an `alloc` whose memory is all 0xEE, as uninitialized memory may be; calls counted. */
  alloc?: (size: number) => Uint8Array;
  allocs = 0;

  constructor(
    inner: WalFs,
    withMap = true,
    withReadInto = true,
    ahead: "ok" | "none" | "fail" | "throw" | "short" = "ok",
    garbage = false,
  ) {
    this.inner = inner;
    if (garbage) {
      this.alloc = (size: number): Uint8Array => {
        this.allocs++;
        return new Uint8Array(size).fill(0xee);
      };
    }
    this.withReadInto = withReadInto;
    this.ahead = ahead;
    this.name = "counting-" + inner.name;
    if (withMap && inner.map !== undefined) {
      this.map = (path: string): WalMapping => {
        const dir = path.slice(0, path.lastIndexOf("/"));
        const newest = inner.readDir(dir).map((e) => e.name).filter((n) => n.endsWith(".wal")).sort().pop();
        if (dir + "/" + newest === path) this.mappedActive.push(path);
        const m = inner.map!(path);
        this.maps++;
        this.mapped.push(path);
        let closed = false;
        return {
          get bytes() {
            return m.bytes;
          },
          close: () => {
            if (!closed) this.unmaps++;
            closed = true;
            m.close();
          },
        };
      };
    }
  }

  /** Reads of files whose path ends with `suffix`. */
  readsOf(suffix: string): number {
    let n = 0;
    for (const [p, c] of this.readsByPath) if (p.endsWith(suffix)) n += c;
    return n;
  }

  reset(): void {
    this.reads = 0;
    this.readBytes = 0;
    this.aheadReads = 0;
    this.walForeground = 0;
    this.bigReads = 0;
    this.misplaced = [];
    this.readsByPath.clear();
  }

  open(path: string, mode: OpenMode): WalFile {
    const f = this.inner.open(path, mode);
    const placed = (buf: Uint8Array, offset: number, length: number, position: number): void => {
      if (length < this.placeFrom) return;
      this.bigReads++;
      const at = buf.byteOffset + offset;
      if (((at - position) & 4095) !== 2048) this.misplaced.push(`${length} B of ${path} @${position} to buffer offset ${at}`);
    };
    const isWal = path.endsWith(".wal");
    const foreground = (): void => {
      if (isWal) this.walForeground++;
    };
    const count = (n: number): number => {
      this.reads++;
      this.readsByPath.set(path, (this.readsByPath.get(path) ?? 0) + 1);
      this.readBytes += n;
      return n;
    };
    const into = this.withReadInto ? f.readInto?.bind(f) : undefined;
    const inner = f.readAsync?.bind(f);
    const ahead = this.ahead;
    const readAsync = inner === undefined || ahead === "none" ? undefined : (buf: Uint8Array, offset: number, length: number, position: number): Promise<number> => {
      this.aheadReads++;
      if (ahead === "fail" || ahead === "throw") {
        const err = new Error(`EIO: i/o error, read ${path}`);
        (err as Error & { code: string }).code = "EIO";
        if (ahead === "throw") throw err;
        return Promise.reject(err);
      }
      placed(buf, offset, length, position);
      return inner(buf, offset, ahead === "short" ? length >> 1 : length, position).then(count);
    };
    return {
      read: (buf: Uint8Array, position: number): number => {
        placed(buf, 0, buf.length, position);
        foreground();
        return count(f.read(buf, position));
      },
      readInto: into && ((buf, offset, length, position) => {
        placed(buf, offset, length, position);
        foreground();
        return count(into(buf, offset, length, position));
      }),
      readAsync,
      write: (buf, position) => f.write(buf, position),
      datasync: () => f.datasync(),
      sync: () => f.sync(),
      truncate: (n) => f.truncate(n),
      size: () => f.size(),
      close: () => f.close(),
    };
  }
  readDir(path: string): WalDirEntry[] {
    return this.inner.readDir(path);
  }
  stat(path: string): WalStat | undefined {
    return this.inner.stat(path);
  }
  mkdir(path: string): void {
    this.inner.mkdir(path);
  }
  rename(from: string, to: string): void {
    this.inner.rename(from, to);
  }
  remove(path: string): void {
    this.inner.remove(path);
  }
  removeDir(path: string): void {
    this.inner.removeDir(path);
  }
  syncDir(path: string): void {
    this.inner.syncDir(path);
  }
  lock(root: string): WalLock {
    return this.inner.lock(root);
  }
}

const tmpDirs: string[] = [];
afterEach(() => {
  while (tmpDirs.length > 0) nfs.rmSync(tmpDirs.pop()!, { recursive: true, force: true });
});

function tmpRoot(tag: string): string {
  const dir = nfs.mkdtempSync(os.tmpdir() + "/ironwal-read-" + tag + "-");
  tmpDirs.push(dir);
  return dir + "/wal";
}

/** Segment file names of `stream`, oldest first. */
function segmentNames(fs: WalFs, root: string, stream: string): string[] {
  return fs.readDir(root + "/" + encodeStreamName(stream)).map((e) => e.name).filter((n) => n.endsWith(".wal")).sort();
}

function streamDir(root: string, stream: string): string {
  return root + "/" + encodeStreamName(stream);
}



/** First ids of the segments of `stream` (from the file names). */
function segmentFirstIds(fs: WalFs, root: string, stream: string): number[] {
  return segmentNames(fs, root, stream).map((n) => Number(n.slice(0, 20)));
}

/** A deterministic shuffle of 0..n-1. */
function shuffled(n: number, seed: number): number[] {
  const a = Array.from({ length: n }, (_, i) => i);
  let x = seed >>> 0;
  for (let i = n - 1; i > 0; i--) {
    x = (x * 1103515245 + 12345) >>> 0;
    const j = x % (i + 1);
    [a[i], a[j]] = [a[j], a[i]];
  }
  return a;
}

async function fill(wal: Wal, stream: string, n: number, size: number, seedBase = 0): Promise<Uint8Array[]> {
  const out: Uint8Array[] = [];
  for (let i = 0; i < n; i++) {
    const e = pattern(size, seedBase + i);
    out.push(e);
    await wal.append(stream, e);
  }
  return out;
}

async function iterAll(wal: Wal, stream: string, start = 0): Promise<{ id: number; data: Uint8Array }[]> {
  const out: { id: number; data: Uint8Array }[] = [];
  for await (const e of wal.iter(stream, start)) out.push({ id: e.id, data: e.data.slice() });
  return out;
}

// ---------------------------------------------------------------- indexed get

describe("indexed get: one positional read", () => {
  for (const withReadInto of [true, false]) {
  it(`a random get in a sealed segment with a warm index, and in the active segment, reads once (${withReadInto ? "readInto" : "an adapter without readInto"})`, async () => {
    const fs = new CountingFs(new MemoryFs(), true, withReadInto);
    // More segments than open handles (handles are evicted and reopened), fewer than cached indexes (8).
    const wal = await Wal.open({ root: "/w", fs, syncMode: "async", maxSegmentSize: 4096, maxOpenSegments: 3 });
    const data = await fill(wal, "s", 200, 100);
    const batch = [pattern(50, 1000), pattern(60, 1001), pattern(70, 1002)];
    const r = await wal.appendBatch("s", batch);
    data.push(...batch);
    const firsts = segmentFirstIds(fs, "/w", "s");
    assert.ok(firsts.length >= 5 && firsts.length <= 8, `${firsts.length} segments`);
    const activeFirst = firsts[firsts.length - 1];
    assert.ok(r.start >= activeFirst, "the batch is in the active segment");
    // Warm every sealed index.
    for (const f of firsts) await wal.get("s", f);
    for (const id of shuffled(activeFirst, 99)) {
      fs.reset();
      same(await wal.get("s", id), data[id], `get(${id})`);
      assert.equal(fs.reads, 1, `get(${id}) in a sealed segment: ${fs.reads} reads`);
    }
    for (let id = activeFirst; id < data.length; id++) {
      fs.reset();
      same(await wal.get("s", id), data[id], `get(${id})`);
      assert.equal(fs.reads, 1, `get(${id}) in the active segment: ${fs.reads} reads`);
    }
    fs.reset();
    assert.equal(await wal.get("s", data.length), undefined);
    assert.equal(await wal.get("nope", 0), undefined);
    assert.equal(fs.reads, 0, "a get past the end reads nothing");
    // Entries handed out are the caller's: changing one changes no other, nor what get reads next.
    const a = (await wal.get("s", 1))!;
    const b = (await wal.get("s", 2))!;
    a.fill(0xee);
    same(b, data[2], "get(2) after changing get(1)'s bytes");
    same(await wal.get("s", 1), data[1], "get(1) again");
    await wal.close();
  });
  }

  it("the index of a sealed segment is persisted (.idx); a cold get reads it, not the segment", async () => {
    const mem = new MemoryFs();
    {
      const wal = await Wal.open({ root: "/w", fs: mem, syncMode: "async", maxSegmentSize: 4096 });
      await fill(wal, "s", 200, 100);
      await wal.close();
    }
    const dir = streamDir("/w", "s");
    const names = segmentNames(mem, "/w", "s");
    for (const n of names.slice(0, -1)) assert.ok(mem.stat(dir + "/" + n.replace(".wal", ".idx"))?.isFile, `${n} has an index`);
    assert.equal(mem.stat(dir + "/" + names[names.length - 1].replace(".wal", ".idx")), undefined, "the active segment has none");

    const fs = new CountingFs(mem);
    const wal = await Wal.open({ root: "/w", fs, syncMode: "async", maxSegmentSize: 4096 });
    const firsts = segmentFirstIds(mem, "/w", "s");
    const id = firsts[2] + 5;
    fs.reset();
    same(await wal.get("s", id), pattern(100, id), "cold get");
    assert.equal(fs.readsOf(names[2]), 1, "the segment is read once");
    assert.equal(fs.readsOf(names[2].replace(".wal", ".idx")), 1, "its index file is read once");
    assert.equal(fs.reads, 2);
    fs.reset();
    same(await wal.get("s", id + 1), pattern(100, id + 1), "warm get");
    assert.equal(fs.reads, 1);
    await wal.close();
  });

  it("a deleted, empty, truncated or garbage .idx is rebuilt from the segment", async () => {
    const mem = new MemoryFs();
    {
      const wal = await Wal.open({ root: "/w", fs: mem, syncMode: "async", maxSegmentSize: 4096 });
      await fill(wal, "s", 200, 100);
      await wal.close();
    }
    const dir = streamDir("/w", "s");
    const names = segmentNames(mem, "/w", "s");
    const firsts = segmentFirstIds(mem, "/w", "s");
    const idx = dir + "/" + names[1].replace(".wal", ".idx");
    const original = readAll(mem, idx);
    const damage: [string, () => void][] = [
      ["deleted", () => mem.remove(idx)],
      ["empty", () => replaceFile(mem, idx, new Uint8Array(0))],
      ["truncated", () => replaceFile(mem, idx, original.subarray(0, original.length >> 1))],
      ["garbage", () => replaceFile(mem, idx, pattern(original.length, 7))],
      ["one bit flipped", () => {
        const b = original.slice();
        b[40] ^= 4;
        replaceFile(mem, idx, b);
      }],
      ["a directory", () => {
        mem.remove(idx);
        mem.mkdir(idx);
      }],
    ];
    for (const [what, hurt] of damage) {
      hurt();
      const wal = await Wal.open({ root: "/w", fs: mem, syncMode: "async", maxSegmentSize: 4096 });
      for (let id = firsts[1]; id < firsts[2]; id++) same(await wal.get("s", id), pattern(100, id), `${what}: get(${id})`);
      const it = await iterAll(wal, "s");
      assert.equal(it.length, 200, `${what}: iter`);
      await wal.close();
      if (what === "a directory") {
        mem.removeDir(idx);
        continue;
      }
      assert.ok(mem.stat(idx)?.isFile, `${what}: the index was rewritten`);
      same(readAll(mem, idx), original, `${what}: the rebuilt index equals the one written at seal`);
    }
    assert.equal(mem.readDir(dir).filter((e) => e.name.endsWith(".tmp")).length, 0, "no temporary files left");
  });

  it("iter reads in large chunks, not one read per frame", SLOW, async () => {
    const fs = new CountingFs(new MemoryFs());
    const MiB = 1 << 20;
    {
      const wal = await Wal.open({ root: "/w", fs, syncMode: "async", maxSegmentSize: 2 * MiB });
      const batch: Uint8Array[] = [];
      for (let i = 0; i < 2048; i++) batch.push(pattern(4096, i));
      for (let i = 0; i < 2048; i += 64) for (let k = i; k < i + 64; k++) void wal.append("it", batch[k]);
      await wal.sync();
      await wal.close();
    }
    const segs = segmentNames(fs, "/w", "it").length;
    assert.ok(segs >= 4, `${segs} segments`);
    const wal = await Wal.open({ root: "/w", fs, syncMode: "async", maxSegmentSize: 2 * MiB });
    fs.reset();
    let n = 0;
    for await (const e of wal.iter("it", 0)) {
      if (n % 97 === 0) same(e.data, pattern(4096, e.id), `iter ${e.id}`);
      assert.equal(e.id, n++);
    }
    assert.equal(n, 2048);
    const mib = fs.readBytes / MiB;
    assert.ok(fs.readBytes >= 8 * MiB, `read ${fs.readBytes} bytes`);
    assert.ok(fs.reads <= 2 * Math.ceil(mib) + 2, `${fs.reads} reads for ${mib.toFixed(2)} MiB in ${segs} segments`);
    // iter reads the chunks after a segment's first in the background: at least one per 2 MiB segment.
    assert.ok(fs.aheadReads >= segs - 1, `${fs.aheadReads} of ${fs.reads} reads made ahead (${segs} segments)`);
    // Every chunk lands half a page from where its bytes sit in their page
    // (the copy out of the page cache is 4× slower on AMD Zen 3 when the two
    // are 1 to 31 bytes apart).
    assert.ok(fs.bigReads >= segs, `${fs.bigReads} chunk reads`);
    assert.deepEqual(fs.misplaced, []);
    fs.reset();
    let m = 0;
    for (const e of wal.iterSync("it", 0, { reuseBuffer: true })) assert.equal(e.id, m++);
    assert.equal(m, 2048);
    assert.ok(fs.bigReads >= segs, `${fs.bigReads} chunk reads by iterSync`);
    assert.deepEqual(fs.misplaced, []);
    // From the middle of a segment: still chunked, and it starts at the right frame.
    fs.reset();
    const tail = await iterAll(wal, "it", 1500);
    assert.equal(tail.length, 548);
    assert.equal(tail[0].id, 1500);
    same(tail[0].data, pattern(4096, 1500), "iter from 1500");
    // A cursor's first read is FIRST_CHUNK long, and each next one twice as long up to CHUNK.
    const ramp = Math.log2(CHUNK / FIRST_CHUNK);
    assert.ok(fs.reads <= 2 * Math.ceil(fs.readBytes / MiB) + 2 + ramp, `${fs.reads} reads from the middle`);
    await wal.close();
  });

  it("a short iteration reads about what it hands out, not a whole chunk", async () => {
    const fs = new CountingFs(new MemoryFs());
    const MiB = 1 << 20;
    {
      const wal = await Wal.open({ root: "/w", fs, syncMode: "async", maxSegmentSize: 2 * MiB });
      for (let i = 0; i < 1024; i++) void wal.append("s", pattern(4096, i));
      await wal.close();
    }
    const wal = await Wal.open({ root: "/w", fs, syncMode: "async", maxSegmentSize: 2 * MiB });
    try {
      // Warm the segments' frame indexes, so only chunk reads are counted below.
      for (const id of [100, 700]) same(await wal.get("s", id), pattern(4096, id), `get(${id})`);
      for (const [label, sync] of [["iterSync", true], ["iter", false]] as const) {
        for (const start of [100, 700]) {
          fs.reset();
          const got: number[] = [];
          if (sync) {
            for (const e of wal.iterSync("s", start)) if (got.push(e.id) === 3) break;
          } else {
            for await (const e of wal.iter("s", start)) if (got.push(e.id) === 3) break;
          }
          assert.deepEqual(got, [start, start + 1, start + 2], `${label} from ${start}`);
          // The first read is FIRST_CHUNK long; reads that short are not made ahead.
          const most = FIRST_CHUNK;
          assert.ok(fs.readBytes <= most, `${label} from ${start}: read ${fs.readBytes} bytes for 3 entries of 4 KiB`);
        }
      }
      // Longer ones grow to whole chunks: 1000 entries in few reads.
      fs.reset();
      let n = 0;
      for (const e of wal.iterSync("s", 0)) assert.equal(e.id, n++);
      assert.equal(n, 1024);
      assert.ok(fs.reads <= Math.log2(CHUNK / FIRST_CHUNK) + 6, `${fs.reads} reads for 4 MiB`);
    } finally {
      await wal.close();
    }
  });
});

// ---------------------------------------------------------------- read ahead

/** Entry `i` of the read-ahead tests: sizes from 3 B to 1.3 MiB, so frames straddle chunks by every amount. */
const AHEAD_SIZES = [100, 4096, 70_000, 3, 300_000, 65_500, 1_300_000, 9000, 64 * 1024 - 20, 500_000];
function aheadEntry(i: number): Uint8Array {
  return pattern(AHEAD_SIZES[i % AHEAD_SIZES.length], i);
}

/** Writes `n` entries to stream "s": single appends, with a batch of 3 every 7 entries. */
async function aheadFill(wal: Wal, n: number): Promise<void> {
  for (let i = 0; i < n;) {
    if (i % 7 === 0 && i + 3 <= n) {
      await wal.appendBatch("s", [aheadEntry(i), aheadEntry(i + 1), aheadEntry(i + 2)]);
      i += 3;
    } else {
      await wal.append("s", aheadEntry(i++));
    }
  }
}

describe("iter reads ahead", () => {
  const N = 60; // ~14 MiB over 4 MiB segments
  for (const ahead of ["ok", "none", "fail", "throw", "short"] as const) {
    it(`entries are exact across chunks read ahead, kept or reused (readAsync ${ahead})`, SLOW, async () => {
      const fs = new CountingFs(new MemoryFs(), false, true, ahead);
      const wal = await Wal.open({ root: "/w", fs, syncMode: "async", maxSegmentSize: 4 << 20 });
      try {
        await aheadFill(wal, N);
        for (const start of [0, 1, 6, 29, N - 1]) {
          fs.reset();
          const kept: { id: number; data: Uint8Array }[] = [];
          for await (const e of wal.iter("s", start)) kept.push(e);
          assert.deepEqual(kept.map((e) => e.id), Array.from({ length: N - start }, (_, k) => start + k), `ids from ${start}`);
          // Kept views are checked after the whole iteration: no later chunk overwrote them.
          for (const e of kept) same(e.data, aheadEntry(e.id), `kept entry ${e.id} from ${start}`);
          if (ahead === "none") assert.equal(fs.aheadReads, 0);
          else if (start < N - 2) assert.ok(fs.aheadReads > 0, `from ${start}: ${fs.aheadReads} reads ahead`);
          let want = start;
          for await (const e of wal.iter("s", start, { reuseBuffer: true })) {
            assert.equal(e.id, want);
            same(e.data, aheadEntry(want++), `reused entry ${e.id} from ${start}`);
          }
          assert.equal(want, N);
        }
      } finally {
        await wal.close();
      }
    });
  }

  /** True if `b` holds 16 bytes of 0xEE in a row (2^-128 by chance in these entries' bytes). */
  const staleRun = (b: Uint8Array): boolean => {
    let run = 0;
    for (let i = 0; i < b.length; i++) if ((run = b[i] === 0xee ? run + 1 : 0) >= 16) return true;
    return false;
  };
  for (const ahead of ["ok", "none", "short"] as const) {
    it(`chunks in uninitialized memory (WalFs.alloc): entries exact, no stale byte visible through .buffer (readAsync ${ahead})`, SLOW, async () => {
      const fs = new CountingFs(new MemoryFs(), false, true, ahead, true);
      const wal = await Wal.open({ root: "/w", fs, syncMode: "async", maxSegmentSize: 4 << 20 });
      try {
        await aheadFill(wal, N);
        for (const start of [0, 6, N - 1]) {
          fs.allocs = 0;
          const kept: { id: number; data: Uint8Array }[] = [];
          for await (const e of wal.iter("s", start)) kept.push(e);
          assert.deepEqual(kept.map((e) => e.id), Array.from({ length: N - start }, (_, k) => start + k), `ids from ${start}`);
          assert.ok(fs.allocs > 0, "iter took its chunk buffers from WalFs.alloc");
          const seen = new Set<ArrayBufferLike>();
          for (const e of kept) {
            same(e.data, aheadEntry(e.id), `kept entry ${e.id} from ${start}`);
            assert.equal(Object.getPrototypeOf(e.data), Uint8Array.prototype, "a plain Uint8Array");
            if (seen.has(e.data.buffer)) continue;
            seen.add(e.data.buffer);
            assert.ok(!staleRun(new Uint8Array(e.data.buffer)), `the buffer behind entry ${e.id} shows uninitialized bytes`);
          }
        }
        // reuseBuffer (this adapter cannot detach, so fresh chunks again) gives the same entries.
        let want = 0;
        for await (const e of wal.iter("s", 0, { reuseBuffer: true })) same(e.data, aheadEntry(want++), `reused entry ${e.id}`);
        assert.equal(want, N);
      } finally {
        await wal.close();
      }
    });
  }

  it("the first chunk of each next sealed segment is read ahead too; a truncation under it drops it", SLOW, async () => {
    const fs = new CountingFs(new MemoryFs(), false);
    const wal = await Wal.open({ root: "/w", fs, syncMode: "async", maxSegmentSize: 1 << 20 });
    try {
      const n = 1200; // 4 KiB entries: 4 sealed segments of 1 MiB and an active one
      for (let i = 0; i < n; i += 100) {
        await Promise.all(Array.from({ length: 100 }, (_, k) => wal.append("f", pattern(4096, i + k))));
      }
      const firsts = segmentFirstIds(fs, "/w", "f");
      assert.ok(firsts.length >= 5, `${firsts.length} segments`);
      for (const reuseBuffer of [false, true]) {
        fs.reset();
        let want = 0;
        for await (const e of wal.iter("f", 0, { reuseBuffer })) same(e.data, pattern(4096, want++), `entry ${e.id}`);
        assert.equal(want, n);
        // In the foreground: the first segment's first reads, up to AHEAD_FROM (16, 32, 64
        // and 128 KiB: reads that short are not made ahead), and the active segment's first.
        const first = Math.log2(AHEAD_FROM / FIRST_CHUNK);
        assert.equal(fs.walForeground, first + 1, `${fs.walForeground} segment reads in the foreground over ${firsts.length} segments`);
      }
      // The last chunk of segment 0 is in, so the first of segment 1 is read
      // ahead; segments 0 and 1 are deleted under the iterator: it goes on
      // from segment 2, with none of segment 1's bytes.
      const it = wal.iter("f", 0);
      for (let id = 0; id < firsts[1] - 1; id++) assert.equal((await it.next()).value?.id, id);
      assert.equal(await wal.truncate("f", firsts[2]), 2);
      const rest: number[] = [];
      for (let r = await it.next(); !r.done; r = await it.next()) {
        if (r.value.id >= firsts[2]) same(r.value.data, pattern(4096, r.value.id), `entry ${r.value.id} after the truncation`);
        rest.push(r.value.id);
      }
      // The entry in hand when the segments went (the last of segment 0) may still be handed out.
      const from = rest[0] === firsts[1] - 1 ? firsts[1] - 1 : firsts[2];
      assert.deepEqual(rest.filter((id) => id >= firsts[2]), Array.from({ length: n - firsts[2] }, (_, k) => firsts[2] + k));
      assert.ok(rest[0] === from && rest.every((id) => id < firsts[1] || id >= firsts[2]), `ids after the truncation: ${rest.slice(0, 3)}...`);
    } finally {
      await wal.close();
    }
  });

  it(`on the ${runtime} adapter: exact entries, and reads ahead of a truncation or close do no harm`, SLOW, async () => {
    const root = tmpRoot("ahead");
    const fs = new CountingFs(defaultFs(), false);
    const wal = await Wal.open({ root, fs, syncMode: "async", maxSegmentSize: 4 << 20 });
    try {
      await aheadFill(wal, N);
      const all = await iterAll(wal, "s");
      assert.equal(all.length, N);
      for (const e of all) same(e.data, aheadEntry(e.id), `entry ${e.id}`);
      assert.ok(fs.aheadReads > 0, "the runtime's adapter reads ahead");
      // A truncation while the next chunk of the segment being read is read ahead.
      const it = wal.iter("s", 0, { reuseBuffer: true });
      assert.equal((await it.next()).value?.id, 0);
      assert.ok(await wal.truncate("s", 40) > 0, "segments deleted under the iterator");
      const first = wal.firstId("s");
      const rest: number[] = [];
      for (let r = await it.next(); !r.done; r = await it.next()) {
        same(r.value.data, aheadEntry(r.value.id), `entry ${r.value.id} after the truncation`);
        rest.push(r.value.id);
      }
      assert.deepEqual(rest, Array.from({ length: N - first }, (_, k) => first + k), "goes on from the first id still stored");
      // A close while a chunk is read ahead: the next step is CLOSED, nothing else.
      const it2 = wal.iter("s", first);
      assert.equal((await it2.next()).value?.id, first);
      await wal.close();
      await assert.rejects(it2.next(), (e) => e instanceof WalError && e.code === "CLOSED", "a read ahead pending at close");
    } finally {
      await wal.close().catch(() => {});
    }
  });
});

// ---------------------------------------------------------------- block cache

describe("blockCacheSize", () => {
  it("repeated gets hit the cache; hits do no read; stats and events count both", async () => {
    const fs = new CountingFs(new MemoryFs());
    const events: WalEvent[] = [];
    const wal = await Wal.open({
      root: "/w",
      fs,
      syncMode: "async",
      maxSegmentSize: 8192,
      blockCacheSize: 64 * 1024,
      meter: (e) => events.push(e),
    });
    const data = await fill(wal, "c", 40, 1000);
    const ev = () => events.filter((e) => e.type === "cacheHit" || e.type === "cacheMiss").map((e) => e.type);
    for (const id of [3, 39]) {
      events.length = 0;
      const s0 = wal.stats();
      fs.reset();
      same(await wal.get("c", id), data[id], `miss ${id}`);
      assert.equal(fs.reads, 1);
      fs.reset();
      same(await wal.get("c", id), data[id], `hit ${id}`);
      same(await wal.get("c", id), data[id], `hit ${id}`);
      assert.equal(fs.reads, 0, "cache hits read nothing");
      const s1 = wal.stats();
      assert.equal(s1.cacheMisses - s0.cacheMisses, 1);
      assert.equal(s1.cacheHits - s0.cacheHits, 2);
      assert.deepEqual(ev(), ["cacheMiss", "cacheHit", "cacheHit"]);
      for (const e of events) if (e.type === "cacheHit" || e.type === "cacheMiss") assert.equal(e.stream, "c");
    }
    assert.ok(wal.stats().cacheBytes > 2000);
    await wal.close();
  });

  it("the cache stays within blockCacheSize bytes", async () => {
    const cap = 16 * 1024;
    const wal = await Wal.open({ root: "/w", fs: new MemoryFs(), syncMode: "async", maxSegmentSize: 8192, blockCacheSize: cap });
    const data = await fill(wal, "c", 200, 1000);
    const big = pattern(40_000, 5);
    const bigId = await wal.append("c", big);
    const batch = await wal.appendBatch("c", [pattern(3000, 6), pattern(3000, 7), pattern(3000, 8)]);
    for (const id of [...shuffled(200, 3), ...shuffled(200, 4)]) {
      same(await wal.get("c", id), data[id], `get(${id})`);
      const st = wal.stats();
      assert.ok(st.cacheBytes <= cap, `cacheBytes ${st.cacheBytes} <= ${cap}`);
    }
    assert.ok(wal.stats().cacheBytes > cap / 2, "the cache is used");
    assert.ok(wal.stats().cacheHits > 0);
    same(await wal.get("c", bigId), big, "an entry larger than the cache");
    same(await wal.get("c", bigId), big, "an entry larger than the cache, again");
    assert.ok(wal.stats().cacheBytes <= cap);
    for (let id = batch.start; id < batch.end; id++) same(await wal.get("c", id), pattern(3000, id - batch.start + 6), `batch ${id}`);
    assert.ok(wal.stats().cacheBytes <= cap);
    await wal.close();
  });

  for (const readStrategy of ["standard", "mmap"] as const) {
    for (const compression of ["none", "lz4"] as const) {
      it(`entries from the cache are copies (${readStrategy}, ${compression})`, async () => {
        const wal = await Wal.open({
          root: "/w",
          fs: new MemoryFs(),
          syncMode: "async",
          maxSegmentSize: 4096,
          blockCacheSize: 1 << 20,
          readStrategy,
          compression,
          minCompressionSize: 16,
        });
        const data = await fill(wal, "c", 20, 1000);
        const r = await wal.appendBatch("c", [new Uint8Array(300).fill(1), new Uint8Array(300).fill(2)]);
        data.push(new Uint8Array(300).fill(1), new Uint8Array(300).fill(2));
        const ids = [0, 5, 19, r.start, r.start + 1];
        for (const id of ids) {
          for (let round = 0; round < 3; round++) {
            const got = await wal.get("c", id);
            same(got, data[id], `get(${id}) round ${round}`);
            got!.fill(0xee);
          }
        }
        // Scribbling on entries must not damage what iter and readRange see either.
        const all = await iterAll(wal, "c");
        for (const e of all) same(e.data, data[e.id], `iter ${e.id}`);
        const rr = await wal.readRange("c", 0, data.length);
        for (const e of rr) e.data.fill(0xdd);
        for (const id of ids) same(await wal.get("c", id), data[id], `get(${id}) after readRange`);
        await wal.close();
      });
    }
  }

  it("without a cache, entries from get are still the caller's to change", async () => {
    for (const readStrategy of ["standard", "mmap"] as const) {
      const wal = await Wal.open({ root: "/w", fs: new MemoryFs(), syncMode: "async", maxSegmentSize: 4096, readStrategy });
      const data = await fill(wal, "c", 20, 1000);
      for (const id of [0, 7, 19]) {
        for (let round = 0; round < 2; round++) {
          const got = await wal.get("c", id);
          same(got, data[id], `${readStrategy}: get(${id}) round ${round}`);
          got!.fill(0xee);
        }
      }
      const all = await iterAll(wal, "c");
      assert.equal(all.length, 20);
      for (const e of all) same(e.data, data[e.id], `${readStrategy}: iter ${e.id} after scribbling`);
      await wal.close();
    }
  });

  it("truncate drops the cached frames of the deleted segments only", async () => {
    const cap = 1 << 20;
    const wal = await Wal.open({ root: "/w", fs: new MemoryFs(), syncMode: "async", maxSegmentSize: 4096, blockCacheSize: cap });
    const data = await fill(wal, "c", 60, 1000);
    await fill(wal, "other", 5, 1000);
    const firsts = segmentFirstIds(wal.fs, "/w", "c");
    assert.ok(firsts.length >= 5);
    // Cache every frame of the stream and of another stream.
    for (let id = 0; id < 60; id++) await wal.get("c", id);
    for (let id = 0; id < 5; id++) await wal.get("other", id);
    const before = wal.stats();
    assert.equal(before.cacheMisses, 65);
    const cut = firsts[2];
    assert.equal(await wal.truncate("c", cut), 2);
    const after = wal.stats();
    assert.ok(after.cacheBytes <= before.cacheBytes - cut * 1000, `cacheBytes ${before.cacheBytes} -> ${after.cacheBytes}`);
    assert.ok(after.cacheBytes >= (65 - cut) * 1000, "frames of the remaining segments stay cached");
    for (let id = 0; id < cut; id++) assert.equal(await wal.get("c", id), undefined, `get(${id}) after truncate`);
    const s0 = wal.stats();
    for (let id = cut; id < 60; id++) same(await wal.get("c", id), data[id], `get(${id})`);
    for (let id = 0; id < 5; id++) same(await wal.get("other", id), pattern(1000, id), `other ${id}`);
    const s1 = wal.stats();
    assert.equal(s1.cacheMisses, s0.cacheMisses, "the remaining frames are still cached");
    assert.equal(s1.cacheHits - s0.cacheHits, 60 - cut + 5);
    // Writing again after truncation never serves a stale frame.
    const more = await fill(wal, "c", 30, 1000, 500);
    for (let i = 0; i < 30; i++) same(await wal.get("c", 60 + i), more[i], `new ${60 + i}`);
    const it = await iterAll(wal, "c");
    assert.equal(it[0].id, cut);
    assert.equal(it.length, 90 - cut);
    await wal.close();
  });
});

// ---------------------------------------------------------------- mmap

interface MmapCase {
  name: string;
  make: () => { fs: CountingFs; root: string };
}

const MMAP_CASES: MmapCase[] = [
  { name: "MemoryFs map", make: () => ({ fs: new CountingFs(new MemoryFs()), root: "/w" }) },
  { name: "MemoryFs without map (whole-file copies)", make: () => ({ fs: new CountingFs(new MemoryFs(), false), root: "/w" }) },
  { name: `${runtime} fs (tmp dir)`, make: () => ({ fs: new CountingFs(defaultFs()), root: tmpRoot("mmap") }) },
];

describe('readStrategy "mmap"', () => {
  it("Bun's adapter maps with Bun.mmap; Deno's and Node's have no map (whole-file copies)", () => {
    assert.equal(typeof defaultFs().map === "function", runtime === "bun");
  });

  for (const c of MMAP_CASES) {
    it(`${c.name}: sealed segments are read through the view, never the active segment`, async () => {
      const { fs, root } = c.make();
      const opts: WalOptions = { root, fs, syncMode: "async", maxSegmentSize: 4096, readStrategy: "mmap" };
      const wal = await Wal.open(opts);
      const data = await fill(wal, "m", 100, 200);
      const names = segmentNames(fs, root, "m");
      const firsts = segmentFirstIds(fs, root, "m");
      assert.ok(firsts.length >= 4);
      const real = fs.map !== undefined;
      fs.placeFrom = 2049; // above the reads of single small frames
      // Sealed: the first get maps (or copies) the file, later gets read nothing.
      for (let s = 0; s + 1 < firsts.length; s++) {
        const maps0 = fs.maps;
        fs.reset();
        same(await wal.get("m", firsts[s]), data[firsts[s]], `first get in segment ${s}`);
        if (real) {
          assert.equal(fs.maps - maps0, 1, "one mapping");
          assert.equal(fs.readsOf(names[s]), 0, "no positional read of a mapped segment");
        } else {
          assert.equal(fs.readsOf(names[s]), 1, "one whole-file read");
          // It lands where the copy out of the page cache is fast (see `landing`).
          assert.equal(fs.bigReads, 1, "one read larger than a frame");
          assert.deepEqual(fs.misplaced, []);
        }
        fs.reset();
        for (let id = firsts[s] + 1; id < firsts[s + 1]; id++) same(await wal.get("m", id), data[id], `get(${id})`);
        assert.equal(fs.readsOf(names[s]), 0, "later gets read the view");
        assert.equal(fs.maps - maps0, real ? 1 : 0, "the view is kept, not remade per get");
      }
      // Active: positional reads, never a view.
      const act = firsts[firsts.length - 1];
      for (let id = act; id < 100; id++) {
        fs.reset();
        same(await wal.get("m", id), data[id], `active get(${id})`);
        assert.equal(fs.reads, 1, "one positional read in the active segment");
      }
      assert.deepEqual(fs.mappedActive, [], "the active segment is never mapped");
      assert.ok(!fs.mapped.includes(root + "/" + encodeStreamName("m") + "/" + names[names.length - 1]));

      // Appending after reads: the old active segment is sealed, later read through a view, and new data is read correctly.
      const more = await fill(wal, "m", 100, 200, 100);
      data.push(...more);
      for (let id = 0; id < 200; id++) same(await wal.get("m", id), data[id], `get(${id}) after more appends`);
      const all = await iterAll(wal, "m");
      assert.equal(all.length, 200);
      for (const e of all) same(e.data, data[e.id], `iter ${e.id}`);
      // Interleave: read the active segment, append to it, read again.
      for (let i = 0; i < 30; i++) {
        const e = pattern(300, 5000 + i);
        const id = await wal.append("m", e);
        data.push(e);
        same(await wal.get("m", id), e, `fresh ${id}`);
        same(await wal.get("m", id - 3), data[id - 3], `recent ${id - 3}`);
        const t = await iterAll(wal, "m", id - 2);
        assert.deepEqual(t.map((x) => x.id), [id - 2, id - 1, id]);
      }
      assert.deepEqual(fs.mappedActive, [], "the active segment is never mapped");
      await wal.close();
      if (real) assert.equal(fs.unmaps, fs.maps, "close drops every view");

      const again = await Wal.open(opts);
      const all2 = await iterAll(again, "m");
      assert.equal(all2.length, data.length);
      for (const e of all2) same(e.data, data[e.id], `after reopen: iter ${e.id}`);
      for (const id of shuffled(data.length, 5)) same(await again.get("m", id), data[id], `after reopen: get(${id})`);
      await again.close();
    });

    it(`${c.name}: views are bounded`, async () => {
      const { fs, root } = c.make();
      const wal = await Wal.open({ root, fs, syncMode: "async", maxSegmentSize: 1024, maxOpenSegments: 3, readStrategy: "mmap" });
      const data = await fill(wal, "m", 120, 200);
      const firsts = segmentFirstIds(fs, root, "m");
      assert.ok(firsts.length >= 20);
      for (let round = 0; round < 2; round++) {
        for (let s = 0; s + 1 < firsts.length; s++) {
          same(await wal.get("m", firsts[s]), data[firsts[s]], `get(${firsts[s]})`);
          if (fs.map !== undefined) assert.ok(fs.maps - fs.unmaps <= 3, `${fs.maps - fs.unmaps} live mappings`);
        }
      }
      if (fs.map !== undefined) assert.ok(fs.maps > 3, "views were dropped and remade");
      await wal.close();
      if (fs.map !== undefined) assert.equal(fs.maps, fs.unmaps);
    });
  }

  it("whole-file copies: a damaged frame is caught on its first read; a frame checked once is not checked again", async () => {
    const mem = new MemoryFs();
    const fs = new CountingFs(mem, false);
    const wal = await Wal.open({ root: "/w", fs, syncMode: "async", maxSegmentSize: 4096, readStrategy: "mmap" });
    const data = await fill(wal, "m", 90, 200);
    const names = segmentNames(fs, "/w", "m");
    const firsts = segmentFirstIds(fs, "/w", "m");
    assert.ok(firsts.length >= 4);
    // Damage the payload of the second entry of segment 1 (each frame: 32 B header + 200 B).
    const path = "/w/" + encodeStreamName("m") + "/" + names[1];
    const f = mem.open(path, "write");
    const at = 32 + (32 + 200) + 32 + 17;
    const one = new Uint8Array(1);
    f.read(one, at);
    one[0] ^= 0x40;
    f.write(one, at);
    f.close();
    const bad = firsts[1] + 1;
    await assert.rejects(wal.get("m", bad), (e: Error & { code?: string }) => e.code === "CRC_MISMATCH");
    await assert.rejects(iterAll(wal, "m"), (e: Error & { code?: string }) => e.code === "CRC_MISMATCH");
    same(await wal.get("m", bad - 1), data[bad - 1], "the frame before the damage");
    await assert.rejects(wal.get("m", bad), (e: Error & { code?: string }) => e.code === "CRC_MISMATCH", "still damaged on a second read");

    // Count CRC calls on segment 2 (not read yet): the first pass checks each frame, later passes none.
    const native = defaultFs().crc32!;
    let calls = 0;
    registerNativeCrc32((d: Uint8Array, seed?: number) => {
      calls++;
      return native(d, seed);
    });
    try {
      for (let id = firsts[2]; id < firsts[3]; id++) same(await wal.get("m", id), data[id], `get(${id})`);
      const first = calls;
      assert.equal(first, firsts[3] - firsts[2], "the first reads checked each frame");
      calls = 0;
      for (let round = 0; round < 2; round++) {
        for (let id = firsts[2]; id < firsts[3]; id++) same(await wal.get("m", id), data[id], `again get(${id})`);
        for (const e of wal.iterSync("m", firsts[2])) {
          same(e.data, data[e.id], `iter ${e.id}`);
          if (e.id === firsts[3] - 1) break; // before reading segment 3's first frame
        }
      }
      assert.equal(calls, 0, "frames of a checked copy are not checked again");
    } finally {
      registerNativeCrc32(native);
    }
    await wal.close();
  });

  for (const c of [...MMAP_CASES, { name: "standard reads", make: MMAP_CASES[0].make, standard: true }]) {
    it(`${c.name}: truncate under a running iterator: it goes on from the first present id`, async () => {
      const { fs, root } = c.make();
      const strategy = "standard" in c ? "standard" : "mmap";
      const wal = await Wal.open({ root, fs, syncMode: "async", maxSegmentSize: 4096, readStrategy: strategy });
      const data = await fill(wal, "t", 150, 200);
      const firsts = segmentFirstIds(fs, root, "t");
      assert.ok(firsts.length >= 6);
      const cut = firsts[3];
      const seen: number[] = [];
      let truncated = 0;
      for await (const e of wal.iter("t", 0)) {
        same(e.data, data[e.id], `iter ${e.id}`);
        seen.push(e.id);
        if (e.id === 2) {
          // Iterate slowly: let timers run, then delete the segment being read and two more.
          await new Promise((r) => setTimeout(r, 5));
          truncated = await wal.truncate("t", cut);
          await new Promise((r) => setTimeout(r, 5));
        }
      }
      assert.equal(truncated, 3);
      assert.deepEqual(seen.slice(0, 3), [0, 1, 2]);
      assert.equal(seen[3], cut, `after the truncation the iterator goes on at ${cut}, got ${seen[3]}`);
      for (let i = 3; i < seen.length; i++) assert.equal(seen[i], cut + i - 3);
      assert.equal(seen[seen.length - 1], 149);
      // Truncating a segment the iterator is in the middle of, with appends in between.
      const it2 = wal.iter("t", cut);
      const first = await it2.next();
      assert.equal(first.value?.id, cut);
      const more = await fill(wal, "t", 60, 200, 150);
      data.push(...more);
      const cut2 = segmentFirstIds(fs, root, "t")[2];
      assert.ok(await wal.truncate("t", cut2) >= 2);
      const rest: number[] = [];
      for (;;) {
        const r = await it2.next();
        if (r.done) break;
        same(r.value.data, data[r.value.id], `iter2 ${r.value.id}`);
        rest.push(r.value.id);
      }
      assert.equal(rest[0], cut2);
      assert.equal(rest[rest.length - 1], 209);
      assert.equal(rest.length, 210 - cut2);
      assert.equal(wal.firstId("t"), cut2);
      await wal.close();
    });
  }
});

// ---------------------------------------------------------------- meter

describe("meter", () => {
  it("receives append, fsync, segmentRoll, cacheHit, cacheMiss and corruptionTruncated events", async () => {
    const mem = new MemoryFs();
    const events: WalEvent[] = [];
    const meter = (e: WalEvent) => events.push(e);
    const wal = await Wal.open({ root: "/w", fs: mem, syncMode: "strict", maxSegmentSize: 1024, blockCacheSize: 1 << 20, meter });
    const ids = await Promise.all([0, 1, 2].map((i) => wal.append("a", pattern(100, i))));
    assert.deepEqual(ids, [0, 1, 2]);
    await wal.appendBatch("a", [pattern(10, 3), pattern(10, 4), pattern(10, 5), pattern(10, 6)]);
    await wal.append("b", pattern(50, 7));
    for (let i = 0; i < 20; i++) await wal.append("a", pattern(100, 8 + i));

    const appends = events.filter((e) => e.type === "append");
    const entriesOf = (s: string) => appends.reduce((n, e) => n + (e.stream === s ? e.entries : 0), 0);
    const bytesOf = (s: string) => appends.reduce((n, e) => n + (e.stream === s ? e.bytes : 0), 0);
    assert.equal(entriesOf("a"), 27, "append events count entries");
    assert.equal(entriesOf("b"), 1);
    // 24 frames: 23 single entries of 100 bytes and one batch of 4 x (4 + 10) bytes.
    assert.equal(bytesOf("a"), 24 * 32 + 23 * 100 + 4 * 14, "append bytes are the frame bytes written");
    assert.equal(bytesOf("a") + bytesOf("b"), wal.stats().bytesWritten, "append bytes add up to bytesWritten");

    const fsyncs = events.filter((e) => e.type === "fsync");
    assert.ok(fsyncs.length >= 20, `${fsyncs.length} fsync events in strict mode`);
    for (const e of fsyncs) {
      assert.ok(e.files >= 1);
      assert.ok(e.durationUs >= 0);
    }

    const rolls = events.filter((e) => e.type === "segmentRoll");
    const names = segmentNames(mem, "/w", "a");
    assert.equal(rolls.length, names.length - 1, "one roll per sealed segment");
    assert.deepEqual(rolls.map((e) => e.segment), names.slice(0, -1));
    for (const e of rolls) {
      assert.equal(e.stream, "a");
      assert.equal(e.bytes, mem.stat(streamDir("/w", "a") + "/" + e.segment)!.size);
    }

    events.length = 0;
    await wal.get("a", 0);
    await wal.get("a", 0);
    await wal.get("a", 25);
    assert.deepEqual(events.map((e) => e.type), ["cacheMiss", "cacheHit", "cacheMiss"]);
    await wal.close();

    // A torn tail cut at open is reported.
    const last = streamDir("/w", "a") + "/" + names[names.length - 1];
    const size = mem.stat(last)!.size;
    const f = mem.open(last, "write");
    f.write(new Uint8Array(77).fill(0xab), size);
    f.close();
    events.length = 0;
    const again = await Wal.open({ root: "/w", fs: mem, meter });
    const cuts = events.filter((e) => e.type === "corruptionTruncated");
    assert.equal(cuts.length, 1);
    assert.deepEqual(cuts[0], { type: "corruptionTruncated", stream: "a", segment: names[names.length - 1], offset: size, bytes: 77 });
    assert.equal(again.recovery.bytesTruncated, 77);
    assert.equal(again.nextId("a"), 27);
    await again.close();
  });

  it("a throwing meter does not break the log", async () => {
    const wal = await Wal.open({
      root: "/w",
      fs: new MemoryFs(),
      maxSegmentSize: 512,
      blockCacheSize: 4096,
      meter: () => {
        throw new Error("boom");
      },
    });
    for (let i = 0; i < 10; i++) assert.equal(await wal.append("x", pattern(100, i)), i);
    same(await wal.get("x", 3), pattern(100, 3), "get");
    same(await wal.get("x", 3), pattern(100, 3), "get again");
    await wal.close();
  });
});
