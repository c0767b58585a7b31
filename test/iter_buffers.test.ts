/**
 * Iteration buffers (SPEC §2 iter, §7 iter bandwidth): by default an entry's
 * `data` is the caller's to keep; with `{ reuseBuffer: true }` one read
 * buffer serves every chunk, entries stay exact across chunk boundaries,
 * batches, codecs and segment files, and a view kept past its step reads as
 * empty (detached), never as other bytes. Adapters without `detach` fall back
 * to fresh buffers. Also: the CLOCK caches (block cache, handles) stay within
 * their bounds and keep what is hit. Runs unchanged under `deno test -A`,
 * `bun test` and `node --test`.
 */

import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { Wal } from "../mod.ts";
import type { OpenMode, WalEntry, WalFile, WalFs } from "../mod.ts";
import { WalError } from "../mod.ts";
import { setCrc32Sparse } from "../src/format/crc32.ts";
import { MemoryFs } from "../adapters/memory.ts";
import { defaultFs } from "../adapters/default.ts";
import { detachBuffer } from "../adapters/_detach.ts";
import { Lru } from "../src/stream/lru.ts";
import { flipByte, pattern, removeDir, segmentFiles, tempDir, throwsCode } from "./_wal_util.ts";

/** Entry `i` of the test streams: sizes vary so frames straddle 1 MiB chunk boundaries. */
function entry(i: number): Uint8Array {
  return pattern(1 + ((i * 7919) % 9000), i);
}

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** A MemoryFs without `detach`: what a third-party adapter may look like. */
class NoDetachFs extends MemoryFs {
  override readonly name = "memory-no-detach";
}
Object.defineProperty(NoDetachFs.prototype, "detach", { value: undefined });

/** Writes `n` entries (single appends and batches of 5 alternating) to stream "s". */
async function fill(wal: Wal, n: number): Promise<void> {
  let i = 0;
  while (i < n) {
    if ((i / 5) % 2 < 1 && i + 5 <= n) {
      await wal.appendBatch("s", [0, 1, 2, 3, 4].map((k) => entry(i + k)));
      i += 5;
    } else {
      await wal.append("s", entry(i));
      i++;
    }
  }
}

const N = 1200; // ~5.4 MiB: several 1 MiB chunks and 2 MiB segments

for (const [label, makeFs] of [
  ["MemoryFs", () => new MemoryFs()],
  ["runtime fs", () => defaultFs()],
] as [string, () => WalFs][]) {
  describe(`iter buffers (${label})`, () => {
    const open = async (extra: Record<string, unknown> = {}): Promise<{ wal: Wal; done: () => Promise<void> }> => {
      const fs = makeFs();
      const root = fs.name === "memory" ? "/w" : tempDir("iterbuf");
      const wal = await Wal.open({ root, fs, syncMode: "async", maxSegmentSize: 2 * 1024 * 1024, ...extra });
      return {
        wal,
        done: async () => {
          await wal.close();
          if (fs.name !== "memory") removeDir(root);
        },
      };
    };

    for (const compression of ["none", "lz4"] as const) {
      it(`reuseBuffer reads every entry exactly, across chunks, batches and segments (${compression})`, async () => {
        const { wal, done } = await open({ compression, minCompressionSize: 1000 });
        try {
          await fill(wal, N);
          for (const start of [0, 1, 3, 7, 600, N - 1, N]) {
            let want = start;
            for (const e of wal.iterSync("s", start, { reuseBuffer: true })) {
              assert.equal(e.id, want);
              if (!equalBytes(e.data, entry(want))) assert.fail(`iterSync from ${start}: entry ${want} differs`);
              want++;
            }
            assert.equal(want, N, `iterSync from ${start} ends at the last entry`);
          }
          let want = 0;
          for await (const e of wal.iter("s", 0, { reuseBuffer: true })) {
            assert.equal(e.id, want);
            if (!equalBytes(e.data, entry(want))) assert.fail(`iter: entry ${want} differs`);
            want++;
          }
          assert.equal(want, N);
        } finally {
          await done();
        }
      });
    }

    it("reuseBuffer: a view kept past its chunk reads as empty, never as other bytes", async () => {
      const { wal, done } = await open();
      try {
        await fill(wal, N);
        const kept: WalEntry[] = [];
        for (const e of wal.iterSync("s", 0, { reuseBuffer: true })) kept.push(e);
        assert.equal(kept.length, N);
        let emptied = 0;
        for (const e of kept) {
          if (e.data.length === 0) emptied++;
          else if (!equalBytes(e.data, entry(e.id))) assert.fail(`kept entry ${e.id} shows other bytes`);
        }
        assert.ok(emptied > N / 2, `most kept views were detached (${emptied} of ${N})`);
      } finally {
        await done();
      }
    });

    it("by default every entry is the caller's to keep, after the iteration too", async () => {
      const { wal, done } = await open();
      try {
        await fill(wal, N);
        const kept: WalEntry[] = [];
        for await (const e of wal.iter("s")) kept.push(e);
        const fromSync = [...wal.iterSync("s", 100)];
        assert.equal(kept.length, N);
        for (const e of kept) if (!equalBytes(e.data, entry(e.id))) assert.fail(`kept entry ${e.id} changed`);
        for (const e of fromSync) if (!equalBytes(e.data, entry(e.id))) assert.fail(`kept entry ${e.id} (iterSync) changed`);
      } finally {
        await done();
      }
    });
  });
}

/** Runs `fn` with our WebAssembly CRC forced on or off for large spans, then puts the setting back. */
async function withSparse<T>(mode: "on" | "off", fn: () => Promise<T>): Promise<T> {
  const was = setCrc32Sparse(mode);
  try {
    return await fn();
  } finally {
    setCrc32Sparse(was);
  }
}

/** True if `v` is a view into a WebAssembly memory's buffer (whole 64 KiB pages), past the CRC's own 192 KiB. */
function inArena(v: Uint8Array): boolean {
  return v.byteOffset >= 3 * 65536 && v.buffer.byteLength % 65536 === 0 && v.buffer.byteLength > 2 * 1024 * 1024;
}

/** A MemoryFs whose background reads wait, while the gate is shut, until it opens. */
class GatedFs extends MemoryFs {
  shut = false;
  #held: (() => void)[] = [];

  override open(path: string, mode: OpenMode): WalFile {
    const f = super.open(path, mode);
    const later = f.readAsync!.bind(f);
    f.readAsync = (buf, off, len, pos) => {
      if (!this.shut) return later(buf, off, len, pos);
      return new Promise((resolve, reject) => this.#held.push(() => later(buf, off, len, pos).then(resolve, reject)));
    };
    return f;
  }

  /** Opens the gate: the held reads go on. */
  open_(): void {
    this.shut = false;
    const held = this.#held;
    this.#held = [];
    for (const go of held) go();
  }

  get holding(): number {
    return this.#held.length;
  }
}

/**
 * Shuts `fs`'s gate, then steps `it` until a read ahead waits at it: one
 * starts as the iterator moves into the chunk read ahead before, which has
 * entries to hand out. Returns the entry in hand then.
 */
async function stepUntilHeld(fs: GatedFs, it: AsyncIterator<WalEntry>): Promise<WalEntry> {
  fs.shut = true;
  let last: WalEntry | undefined;
  for (let k = 0; fs.holding === 0; k++) {
    assert.ok(k < N, "a read ahead starts");
    const r = await it.next();
    assert.equal(r.done, false);
    last = r.value;
  }
  return last!;
}

/** Iterates stream "s" from `from` with reuseBuffer and checks every entry to the end is exact. */
async function expectExactFrom(wal: Wal, from: number, when: string): Promise<void> {
  let want = from;
  for await (const e of wal.iter("s", from, { reuseBuffer: true })) {
    if (e.id !== want || !equalBytes(e.data, entry(want))) assert.fail(`entry ${want} differs ${when}`);
    want++;
  }
  assert.equal(want, N);
}

// Where our WebAssembly CRC is the one in use (Node), reuseBuffer reads into
// buffers inside its memory and checks each run where it lies. Forced on
// here, so every runtime runs that path.
describe("reuseBuffer through the WebAssembly CRC's buffers", () => {
  for (const [label, makeFs] of [
    ["MemoryFs", () => new MemoryFs()],
    ["runtime fs", () => defaultFs()],
  ] as [string, () => WalFs][]) {
    it(`${label}: exact entries across chunks, batches and segments; kept views read as empty; views lie in the arena only with it on`, async () => {
      const fs = makeFs();
      const root = fs.name === "memory" ? "/w" : tempDir("arena");
      const wal = await Wal.open({ root, fs, syncMode: "async", maxSegmentSize: 2 * 1024 * 1024 });
      try {
        await fill(wal, N);
        for (const mode of ["on", "off"] as const) {
          await withSparse(mode, async () => {
            let arena = 0;
            const kept: WalEntry[] = [];
            for (const e of wal.iterSync("s", 0, { reuseBuffer: true })) {
              if (!equalBytes(e.data, entry(e.id))) assert.fail(`iterSync (${mode}): entry ${e.id} differs`);
              if (inArena(e.data)) arena++;
              kept.push(e);
            }
            assert.equal(kept.length, N);
            let want = 0;
            for await (const e of wal.iter("s", 0, { reuseBuffer: true })) {
              assert.equal(e.id, want);
              if (!equalBytes(e.data, entry(want))) assert.fail(`iter (${mode}): entry ${want} differs`);
              if (inArena(e.data)) arena++;
              want++;
            }
            assert.equal(want, N);
            if (mode === "on") assert.ok(arena > N, `most entries came from the arena (${arena} of ${2 * N})`);
            else assert.equal(arena, 0, "no arena without our CRC");
            for (const e of kept) {
              if (e.data.length !== 0 && !equalBytes(e.data, entry(e.id))) assert.fail(`kept entry ${e.id} shows other bytes (${mode})`);
            }
            assert.ok(kept.every((e) => e.data.length === 0) || mode === "off", "every kept view of the arena is empty once the iteration ended");
          });
        }
      } finally {
        await wal.close();
        if (fs.name !== "memory") removeDir(root);
      }
    });
  }

  it("break gives the buffers back: views kept from before read as empty, the next iterator reads right", async () => {
    await withSparse("on", async () => {
      const wal = await Wal.open({ root: "/w", fs: new MemoryFs(), syncMode: "async", maxSegmentSize: 2 * 1024 * 1024 });
      try {
        await fill(wal, N);
        for (let round = 0; round < 3; round++) {
          let last: WalEntry | undefined;
          for await (const e of wal.iter("s", round * 100, { reuseBuffer: true })) {
            last = e;
            if (e.id === round * 100 + 50) break;
          }
          assert.equal(last?.id, round * 100 + 50);
          assert.equal(last?.data.length, 0, "the entry in hand at break reads as empty after it");
        }
        const all = [...wal.iterSync("s", 0, { reuseBuffer: true })].length;
        assert.equal(all, N);
        await expectExactFrom(wal, 7, "after earlier iterators gave their buffers back");
      } finally {
        await wal.close();
      }
    });
  });

  it("a flipped byte inside a run checked in place is CRC_MISMATCH naming the segment", async () => {
    await withSparse("on", async () => {
      const root = tempDir("arenacrc");
      let wal = await Wal.open({ root, syncMode: "async", maxSegmentSize: 2 * 1024 * 1024 });
      try {
        await fill(wal, N);
        await wal.close();
        const dir = `${root}/s`;
        const seg = segmentFiles(dir)[0];
        flipByte(`${dir}/${seg}`, 1_500_000);
        wal = await Wal.open({ root, syncMode: "async", maxSegmentSize: 2 * 1024 * 1024 });
        for (const sync of [true, false]) {
          let seen = 0;
          await assert.rejects(async () => {
            if (sync) for (const _ of wal.iterSync("s", 0, { reuseBuffer: true })) seen++;
            else for await (const _ of wal.iter("s", 0, { reuseBuffer: true })) seen++;
          }, (e) => e instanceof WalError && e.code === "CRC_MISMATCH" && e.message.includes(seg), `${sync ? "iterSync" : "iter"} throws CRC_MISMATCH`);
          assert.ok(seen > 0 && seen < N, `entries before the damage came out (${seen})`);
        }
      } finally {
        await wal.close();
        removeDir(root);
      }
    });
  });

  it("a read ahead dropped while it runs keeps its buffer until it ends: entries after a truncation stay exact", async () => {
    await withSparse("on", async () => {
      const fs = new GatedFs();
      const wal = await Wal.open({ root: "/w", fs, syncMode: "async", maxSegmentSize: 2 * 1024 * 1024 });
      try {
        await fill(wal, N);
        const it = wal.iter("s", 0, { reuseBuffer: true });
        assert.equal((await it.next()).value?.id, 0);
        await stepUntilHeld(fs, it);
        // Delete the segment being read: the next step drops the held read and reads the next segment.
        assert.ok(await wal.truncate("s", 1000) > 0);
        const first = wal.firstId("s");
        const r = await it.next();
        assert.ok(!r.done && r.value.id >= first, `goes on from the first id still stored (${r.value?.id})`);
        if (!equalBytes(r.value.data, entry(r.value.id))) assert.fail(`entry ${r.value.id} differs`);
        // The dropped read ends now: its bytes must not land in the chunk being handed out.
        fs.open_();
        let want = r.value.id + 1;
        for (let x = await it.next(); !x.done; x = await it.next()) {
          assert.equal(x.value.id, want);
          if (!equalBytes(x.value.data, entry(want))) assert.fail(`entry ${want} differs after the dropped read ended`);
          want++;
        }
        assert.equal(want, N);
      } finally {
        await wal.close();
      }
    });
  });

  it("break while a read ahead runs: the entry in hand reads as empty at once, the buffers are reused once the read ends", async () => {
    await withSparse("on", async () => {
      const fs = new GatedFs();
      const wal = await Wal.open({ root: "/w", fs, syncMode: "async", maxSegmentSize: 2 * 1024 * 1024 });
      try {
        await fill(wal, N);
        const it = wal.iter("s", 0, { reuseBuffer: true });
        assert.equal((await it.next()).value?.id, 0);
        const last = await stepUntilHeld(fs, it);
        assert.ok(last.data.length > 0);
        await it.return!();
        assert.equal(last.data.length, 0, "the entry in hand reads as empty after break, with a read still running");
        fs.open_();
        await new Promise((r) => setTimeout(r, 0));
        await expectExactFrom(wal, 0, "after the dropped read ended");
      } finally {
        await wal.close();
      }
    });
  });
});

describe("iter options and iterator protocol", () => {
  it("an adapter without detach gets fresh buffers even with reuseBuffer: kept views stay valid", async () => {
    const wal = await Wal.open({ root: "/w", fs: new NoDetachFs(), syncMode: "async", maxSegmentSize: 2 * 1024 * 1024 });
    try {
      await fill(wal, N);
      const kept = [...wal.iterSync("s", 0, { reuseBuffer: true })];
      assert.equal(kept.length, N);
      for (const e of kept) if (!equalBytes(e.data, entry(e.id))) assert.fail(`kept entry ${e.id} changed`);
    } finally {
      await wal.close();
    }
  });

  it("a bad reuseBuffer is CONFIG at the first step, like a bad startId", async () => {
    const wal = await Wal.open({ root: "/w", fs: new MemoryFs(), syncMode: "async" });
    try {
      await wal.append("s", entry(0));
      const it = wal.iterSync("s", 0, { reuseBuffer: "yes" as unknown as boolean });
      throwsCode(() => it.next(), "CONFIG");
      assert.equal(it.next().done, true, "a failed iterator stays done");
      throwsCode(() => wal.iterSync("s", -1).next(), "CONFIG");
      await assert.rejects(wal.iter("s", 0.5).next(), (e: Error & { code?: string }) => e.code === "CONFIG");
    } finally {
      await wal.close();
    }
  });

  it("break ends the iteration; next() after return() is done; a closed Wal is CLOSED mid-iteration", async () => {
    const wal = await Wal.open({ root: "/w", fs: new MemoryFs(), syncMode: "async" });
    await fill(wal, 20);
    const it = wal.iterSync("s");
    let n = 0;
    for (const _e of it) if (++n === 3) break;
    assert.equal(it.next().done, true);
    const ai = wal.iter("s");
    assert.equal((await ai.next()).value?.id, 0);
    await wal.close();
    await assert.rejects(ai.next(), (e: Error & { code?: string }) => e.code === "CLOSED");
  });

  it("an iterator sees entries appended while it runs, up to the end written when it gets there", async () => {
    const wal = await Wal.open({ root: "/w", fs: new MemoryFs(), syncMode: "async", maxSegmentSize: 4096 });
    try {
      await fill(wal, 10);
      const ids: number[] = [];
      for await (const e of wal.iter("s", 0, { reuseBuffer: true })) {
        ids.push(e.id);
        if (e.id === 5) await wal.append("s", entry(10));
      }
      assert.deepEqual(ids, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    } finally {
      await wal.close();
    }
  });
});

describe("detachBuffer", () => {
  it("moves the bytes to a new buffer and empties every view of the old one", () => {
    const a = new Uint8Array([1, 2, 3, 4]);
    const view = a.subarray(1, 3);
    const moved = new Uint8Array(detachBuffer(a.buffer as ArrayBuffer));
    assert.deepEqual([...moved], [1, 2, 3, 4]);
    assert.equal(a.length, 0);
    assert.equal(view.length, 0);
  });
});

describe("CLOCK caches", () => {
  it("Lru: stays within its capacity, and an entry hit since the last pass survives the next eviction", () => {
    const lru = new Lru<number>(3);
    let evicted: string[] = [];
    const add = (k: string) => lru.set(k, 0, 1, () => evicted.push(k));
    add("a");
    add("b");
    add("c");
    lru.get("a");
    add("d");
    assert.deepEqual(evicted, ["b"], "a was hit, so b goes first");
    assert.equal(lru.size, 3);
    evicted = [];
    add("e");
    assert.deepEqual(evicted, ["c"]);
    evicted = [];
    add("f");
    add("g");
    assert.equal(lru.size, 3);
    assert.equal(lru.weight, 3);
    assert.ok(!evicted.includes("g") && lru.get("g") === 0, "the entry just added is never the one evicted");
  });

  it("Lru: an entry heavier than the capacity is not kept; weights are tracked through evictions", () => {
    const lru = new Lru<string>(10);
    lru.set("x", "x", 11);
    assert.equal(lru.size, 0);
    for (let i = 0; i < 100; i++) {
      lru.set("k" + i, "v", 1 + (i % 4));
      if (i % 3 === 0) lru.get("k" + (i - 1));
      assert.ok(lru.weight <= 10, `weight ${lru.weight} after ${i}`);
    }
  });

  it("Wal: a block cache smaller than the data stays within blockCacheSize, and repeated hits on a hot entry stay hits", async () => {
    const cap = 64 * 1024;
    const wal = await Wal.open({ root: "/w", fs: new MemoryFs(), syncMode: "async", blockCacheSize: cap, maxOpenSegments: 2, maxSegmentSize: 16 * 1024 });
    try {
      for (let i = 0; i < 400; i++) await wal.append("s", pattern(900, i));
      for (let round = 0; round < 3; round++) {
        for (let i = 0; i < 400; i++) {
          assert.ok(equalBytes((await wal.get("s", i))!, pattern(900, i)));
          assert.ok(equalBytes((await wal.get("s", 7))!, pattern(900, 7)));
          assert.ok(wal.stats().cacheBytes <= cap);
        }
      }
      const st = wal.stats();
      assert.ok(st.cacheHits >= 3 * 400 - 3, `the hot entry stayed cached (${st.cacheHits} hits)`);
    } finally {
      await wal.close();
    }
  });
});
