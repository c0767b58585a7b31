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
import type { WalEntry, WalFs } from "../mod.ts";
import { MemoryFs } from "../adapters/memory.ts";
import { defaultFs } from "../adapters/default.ts";
import { detachBuffer } from "../adapters/_detach.ts";
import { Lru } from "../src/stream/lru.ts";
import { pattern, removeDir, tempDir, throwsCode } from "./_wal_util.ts";

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
