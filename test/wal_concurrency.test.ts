/**
 * Concurrent appenders (SPEC §2): ids are contiguous per stream, handed out
 * in call order, never duplicated, and each reads back the caller's bytes;
 * concurrent appends in strict mode share fsyncs (group commit).
 */

import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { type IdRange, Wal, type WalOptions } from "../mod.ts";
import { MemoryFs } from "../adapters/memory.ts";
import { nodeFs } from "../adapters/node.ts";
import { b, collect, removeDir, s, sleep, tempDir } from "./_wal_util.ts";

let top = "";
let counter = 0;
before(() => {
  top = tempDir("conc");
});
after(() => {
  removeDir(top);
});
const freshRoot = () => `${top}/w${counter++}`;

/**
 * `callers` async callers each appending `perCaller` entries to `stream`,
 * awaiting each; with `yieldEvery` > 0 some of them also yield to the event
 * loop now and then, so appends straddle drains.
 */
async function hammer(
  wal: Wal,
  stream: string,
  callers: number,
  perCaller: number,
  yieldEvery = 0,
): Promise<Map<number, string>> {
  const got = new Map<number, string>();
  await Promise.all(
    Array.from({ length: callers }, async (_, c) => {
      for (let i = 0; i < perCaller; i++) {
        const v = `${stream}|c${c}|i${i}|${"x".repeat((c * 7 + i) % 40)}`;
        const id = await wal.append(stream, b(v));
        assert.ok(!got.has(id), `id ${id} handed out twice`);
        got.set(id, v);
        if (yieldEvery > 0 && (c + i) % yieldEvery === 0) await sleep(0);
      }
    }),
  );
  return got;
}

async function checkStream(wal: Wal, stream: string, got: Map<number, string>, n: number): Promise<void> {
  assert.equal(got.size, n);
  assert.deepEqual([...got.keys()].sort((x, y) => x - y), Array.from({ length: n }, (_, i) => i));
  assert.equal(wal.nextId(stream), n);
  for (const [id, v] of got) assert.equal(s(await wal.get(stream, id)), v, `id ${id}`);
  const all = await collect(wal.iter(stream));
  assert.equal(all.length, n);
  all.forEach((e, i) => {
    assert.equal(e.id, i);
    assert.equal(s(e.data), got.get(i));
  });
}

describe("concurrent appends", () => {
  const configs: Array<[string, WalOptions, number]> = [
    ["strict, real files", { syncMode: "strict" }, 0],
    ["async, real files, small segments, callers yield", { syncMode: "async", maxSegmentSize: 4096 }, 11],
    ["interval, real files, callers yield", { syncMode: "interval", syncIntervalMs: 2 }, 7],
    ["batch-only, MemoryFs, 16 entries per segment, callers yield", { syncMode: "batch-only", maxEntriesPerSegment: 16 }, 5],
  ];
  for (const [name, opts, yieldEvery] of configs) {
    it(`64 callers × 50 appends to one stream: ids exactly 0..3199, each reads back (${name})`, async () => {
      const fs = name.includes("MemoryFs") ? new MemoryFs() : nodeFs;
      const root = name.includes("MemoryFs") ? "/c" : freshRoot();
      let wal = await Wal.open({ root, fs, ...opts });
      let got: Map<number, string>;
      try {
        got = await hammer(wal, "one", 64, 50, yieldEvery);
        await checkStream(wal, "one", got, 3200);
        if (opts.syncMode === "strict") {
          const f = wal.stats().fsyncs;
          assert.ok(f < 3200 / 4, `group commit: ${f} fsyncs for 3200 appends`);
        }
      } finally {
        await wal.close();
      }
      wal = await Wal.open({ root, fs, ...opts });
      try {
        await checkStream(wal, "one", got, 3200);
      } finally {
        await wal.close();
      }
    });
  }

  it("many streams concurrently: each stream's ids are 0..N-1 and read back", async () => {
    const root = freshRoot();
    const wal = await Wal.open({ root, fs: nodeFs, maxSegmentSize: 2048 });
    try {
      const streams = Array.from({ length: 12 }, (_, i) => `stream-${i}`);
      const results = await Promise.all(streams.map((st) => hammer(wal, st, 8, 25)));
      for (let i = 0; i < streams.length; i++) await checkStream(wal, streams[i], results[i], 200);
      assert.deepEqual(wal.streams(), [...streams].sort());
      const f = wal.stats().fsyncs;
      assert.ok(f < 2400 / 4, `group commit across streams: ${f} fsyncs`);
    } finally {
      await wal.close();
    }
  });

  it("ids are handed out in call order, across append, appendBatch and commit", async () => {
    const wal = await Wal.open({ root: freshRoot(), fs: nodeFs });
    try {
      const ps: Array<Promise<number | IdRange>> = [];
      const expect: Array<number | IdRange> = [];
      let next = 0;
      for (let i = 0; i < 300; i++) {
        if (i % 7 === 3) {
          const k = 1 + (i % 4);
          ps.push(wal.appendBatch("o", Array.from({ length: k }, (_, j) => b(`${i}.${j}`))));
          expect.push({ start: next, end: next + k });
          next += k;
        } else if (i % 13 === 5) {
          ps.push(wal.writer("o").add(b(`${i}.0`)).add(b(`${i}.1`)).commit());
          expect.push({ start: next, end: next + 2 });
          next += 2;
        } else {
          ps.push(wal.append("o", b(`${i}`)));
          expect.push(next++);
        }
        if (i % 50 === 49) await sleep(0);
      }
      assert.deepEqual(await Promise.all(ps), expect);
      // and the data at each id is that of the call that got it
      const all = await collect(wal.iter("o"));
      assert.equal(all.length, next);
      let id = 0;
      for (let i = 0; i < 300; i++) {
        const e = expect[i];
        if (typeof e === "number") {
          assert.equal(s(all[id++].data), `${i}`);
        } else {
          for (let j = 0; j < e.end - e.start; j++) assert.equal(s(all[id++].data), `${i}.${j}`);
        }
      }
    } finally {
      await wal.close();
    }
  });

  it("promises resolve in call order", async () => {
    const wal = await Wal.open({ root: freshRoot(), fs: nodeFs });
    try {
      const order: number[] = [];
      await Promise.all(Array.from({ length: 100 }, (_, i) => wal.append(i % 2 ? "x" : "y", b(`${i}`)).then(() => order.push(i))));
      assert.deepEqual(order, Array.from({ length: 100 }, (_, i) => i));
    } finally {
      await wal.close();
    }
  });

  it("async: a caller awaiting each append is written at once; a burst still shares one write", async () => {
    let writes = 0;
    class CountingFs extends MemoryFs {
      override open(path: string, mode: Parameters<MemoryFs["open"]>[1]): ReturnType<MemoryFs["open"]> {
        const f = super.open(path, mode);
        if (!path.endsWith(".wal")) return f;
        const write = f.write.bind(f);
        f.write = (buf: Uint8Array, pos: number) => {
          writes++;
          write(buf, pos);
        };
        return f;
      }
    }
    const wal = await Wal.open({ root: "/c", fs: new CountingFs(), syncMode: "async" });
    try {
      for (let i = 0; i < 3; i++) assert.equal(await wal.append("s", b(`w${i}`)), i);
      for (let i = 3; i < 20; i++) {
        const before = writes;
        const p = wal.append("s", b(`w${i}`));
        assert.equal(writes, before + 1, `append ${i} of an awaiting caller was written before append returned`);
        assert.equal(await p, i);
      }
      const before = writes;
      const ids = await Promise.all(Array.from({ length: 100 }, (_, i) => wal.append("s", b(`burst${i}`))));
      assert.deepEqual(ids, Array.from({ length: 100 }, (_, i) => 20 + i));
      assert.ok(writes - before <= 3, `${writes - before} writes for a burst of 100 appends`);
      // And awaiting one at a time again goes back to writing at once.
      for (let i = 0; i < 3; i++) await wal.append("s", b(`again${i}`));
      const w0 = writes;
      const p = wal.append("s", b("last"));
      assert.equal(writes, w0 + 1);
      assert.equal(await p, 123);
      const got = await collect(wal.iter("s", 0));
      assert.equal(got.length, 124);
      assert.equal(s(got[5].data), "w5");
      assert.equal(s(got[20 + 99].data), "burst99");
    } finally {
      await wal.close();
    }
  });

  it("256 concurrent appends in strict mode share far fewer than 256 fsyncs", async () => {
    const wal = await Wal.open({ root: freshRoot(), fs: nodeFs, syncMode: "strict" });
    try {
      await wal.append("g", b("warm-up"));
      const before = wal.stats().fsyncs;
      const ids = await Promise.all(Array.from({ length: 256 }, (_, i) => wal.append("g", b(`v${i}`))));
      assert.deepEqual(ids, Array.from({ length: 256 }, (_, i) => i + 1));
      const used = wal.stats().fsyncs - before;
      assert.ok(used >= 1 && used <= 8, `${used} fsyncs`);
      // 256 appenders each awaiting its own next append: still shared
      const b2 = wal.stats().fsyncs;
      await Promise.all(Array.from({ length: 256 }, async (_, c) => {
        for (let i = 0; i < 4; i++) await wal.append("g", b(`${c}.${i}`));
      }));
      const used2 = wal.stats().fsyncs - b2;
      assert.ok(used2 <= 64, `${used2} fsyncs for 1024 appends by 256 awaiting callers`);
      assert.equal(wal.nextId("g"), 1 + 256 + 1024);
    } finally {
      await wal.close();
    }
  });

  it("appends from separate timer callbacks share fsyncs too (strict, real files)", async () => {
    // Callers that yield to the event loop come back in separate macrotasks, as a
    // server's requests do; the drain waits for the rest of the turn to group them.
    const wal = await Wal.open({ root: freshRoot(), fs: nodeFs, syncMode: "strict" });
    try {
      await wal.append("t", b("warm-up"));
      const before = wal.stats().fsyncs;
      await Promise.all(Array.from({ length: 64 }, async (_, c) => {
        for (let i = 0; i < 50; i++) {
          await wal.append("t", b(`${c}.${i}`));
          if (i % 5 === 0) await sleep(0);
        }
      }));
      const used = wal.stats().fsyncs - before;
      // One fsync per caller and append would be 3,200; without the deferred drain it was ~2,800.
      assert.ok(used <= 600, `${used} fsyncs for 3,200 appends by 64 callers that yield`);
      assert.equal(wal.nextId("t"), 1 + 3200);
    } finally {
      await wal.close();
    }
  });

  it("reads while appends are in flight see only complete entries", async () => {
    const wal = await Wal.open({ root: freshRoot(), fs: nodeFs, maxSegmentSize: 1024, syncMode: "async" });
    try {
      const writer = hammer(wal, "rw", 16, 40, 3);
      let reads = 0;
      for (let k = 0; k < 30; k++) {
        const n = wal.nextId("rw");
        for (const e of await collect(wal.iter("rw"))) {
          assert.ok(s(e.data)!.startsWith("rw|c"), `id ${e.id}`);
          reads++;
        }
        assert.ok(wal.nextId("rw") >= n);
        await sleep(0);
      }
      const got = await writer;
      await checkStream(wal, "rw", got, 640);
      assert.ok(reads > 0);
    } finally {
      await wal.close();
    }
  });
});
