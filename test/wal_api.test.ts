/**
 * The public API of Wal, call by call: options and their validation,
 * append/appendBatch/writer, get/iter/iterSync/readRange, truncate,
 * streams/nextId/firstId, sync/close, stats and the recovery report, the
 * four sync modes and segment rotation. Real files (node adapter) in a
 * temporary directory unless MemoryFs is the point.
 */

import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import * as nfs from "node:fs";
import { type IdRange, TxnWriter, validateOptions, Wal, WalError, type WalEvent, type WalOptions } from "../mod.ts";
import { MemoryFs } from "../adapters/memory.ts";
import { nodeFs } from "../adapters/node.ts";
import {
  b,
  collect,
  FRAME_HEADER,
  isWalError,
  pattern,
  rejectsCode,
  removeDir,
  runtime,
  s,
  SEGMENT_HEADER,
  segmentFiles,
  sleep,
  throwsCode,
} from "./_wal_util.ts";
import { tempDir } from "./_wal_util.ts";

let top = "";
let counter = 0;
before(() => {
  top = tempDir("api");
});
after(() => {
  removeDir(top);
});
/** A path for a new WAL root (not created). */
function freshRoot(): string {
  return `${top}/w${counter++}`;
}
/** Opens a WAL on real files in a fresh root. */
function openReal(opts: WalOptions = {}): Promise<Wal> {
  return Wal.open({ root: freshRoot(), fs: nodeFs, ...opts });
}

// ------------------------------------------------------------------ options

describe("options", () => {
  const bad: Array<[string, unknown]> = [
    ["root", ""],
    ["root", 5],
    ["root", "a\0b"],
    ["fs", {}],
    ["fs", "node"],
    ["fs", null],
    ["maxSegmentSize", 255],
    ["maxSegmentSize", 0],
    ["maxSegmentSize", -4096],
    ["maxSegmentSize", 1024.5],
    ["maxSegmentSize", NaN],
    ["maxSegmentSize", Infinity],
    ["maxSegmentSize", "4096"],
    ["maxEntriesPerSegment", 0],
    ["maxEntriesPerSegment", 2.5],
    ["maxEntriesPerSegment", -1],
    ["maxEntriesPerSegment", NaN],
    ["maxEntriesPerSegment", -Infinity],
    ["maxOpenSegments", 0],
    ["maxOpenSegments", Infinity],
    ["maxOpenSegments", "8"],
    ["blockCacheSize", -1],
    ["blockCacheSize", 0.5],
    ["syncMode", "sometimes"],
    ["syncMode", "STRICT"],
    ["syncMode", 1],
    ["syncIntervalMs", 0],
    ["syncIntervalMs", -5],
    ["syncIntervalMs", 1.5],
    ["compression", "zstd"],
    ["compression", true],
    ["minCompressionSize", -1],
    ["readStrategy", "fast"],
    ["onCorruption", "ignore"],
    ["meter", "console"],
    ["meter", 42],
  ];

  it("validateOptions fills in every default", () => {
    const o = validateOptions({});
    assert.equal(o.root, "./wal_data");
    assert.equal(o.fs, undefined);
    assert.equal(o.maxSegmentSize, 64 * 1024 * 1024);
    assert.equal(o.maxEntriesPerSegment, Infinity);
    assert.equal(o.maxOpenSegments, 128);
    assert.equal(o.blockCacheSize, 0);
    assert.equal(o.syncMode, "strict");
    assert.equal(o.syncIntervalMs, 5);
    assert.equal(o.compression, "none");
    assert.equal(o.minCompressionSize, 1024);
    assert.equal(o.readStrategy, "standard");
    assert.equal(o.onCorruption, "error");
    assert.equal(o.meter, undefined);
    assert.deepEqual(validateOptions(), o);
  });

  it("validateOptions keeps valid values, including the edges", () => {
    const meter = () => {};
    const o = validateOptions({
      root: "/x",
      maxSegmentSize: 256,
      maxEntriesPerSegment: 1,
      maxOpenSegments: 1,
      blockCacheSize: 0,
      syncMode: "interval",
      syncIntervalMs: 1,
      compression: "lz4",
      minCompressionSize: 0,
      readStrategy: "mmap",
      onCorruption: "truncate",
      meter,
    });
    assert.equal(o.maxSegmentSize, 256);
    assert.equal(o.maxEntriesPerSegment, 1);
    assert.equal(o.syncMode, "interval");
    assert.equal(o.syncIntervalMs, 1);
    assert.equal(o.compression, "lz4");
    assert.equal(o.readStrategy, "mmap");
    assert.equal(o.onCorruption, "truncate");
    assert.equal(o.meter, meter);
    assert.equal(validateOptions({ maxEntriesPerSegment: Infinity }).maxEntriesPerSegment, Infinity);
    for (const m of ["strict", "batch-only", "interval", "async"] as const) {
      assert.equal(validateOptions({ syncMode: m }).syncMode, m);
    }
  });

  for (const [name, value] of bad) {
    it(`rejects ${name} = ${typeof value === "string" ? JSON.stringify(value) : String(value)} with CONFIG naming it`, async () => {
      const opts = { [name]: value } as WalOptions;
      const m1 = throwsCode(() => validateOptions(opts), "CONFIG");
      assert.ok(m1.includes(name), `message should name ${name}: ${m1}`);
      const root = freshRoot();
      const withRoot = name === "root" ? opts : { root, fs: nodeFs, ...opts };
      const m2 = await rejectsCode(Wal.open(withRoot), "CONFIG");
      assert.equal(m2, m1, "open gives the same error as validateOptions");
      assert.equal(nfs.existsSync(root), false, "a rejected open creates nothing");
    });
  }

  it("rejects an unknown option, naming it", async () => {
    const m = throwsCode(() => validateOptions({ maxSegmentBytes: 4096 } as unknown as WalOptions), "CONFIG");
    assert.ok(m.includes("maxSegmentBytes"), m);
    const root = freshRoot();
    const m2 = await rejectsCode(Wal.open({ root, fs: nodeFs, syncmode: "async" } as unknown as WalOptions), "CONFIG");
    assert.ok(m2.includes("syncmode"), m2);
    assert.equal(nfs.existsSync(root), false);
  });

  it("rejects options that are not an object", async () => {
    throwsCode(() => validateOptions(null as unknown as WalOptions), "CONFIG");
    throwsCode(() => validateOptions("strict" as unknown as WalOptions), "CONFIG");
    await rejectsCode(Wal.open(7 as unknown as WalOptions), "CONFIG");
  });

  it("rejects a root that is a file", async () => {
    const root = freshRoot();
    nfs.writeFileSync(root, "not a directory");
    const m = await rejectsCode(Wal.open({ root, fs: nodeFs }), "CONFIG");
    assert.ok(m.includes(root), m);
    assert.equal(nfs.readFileSync(root, "utf8"), "not a directory");
  });

  it("Wal.open with only a root uses every default and the runtime's adapter", async () => {
    const root = freshRoot();
    const wal = await Wal.open({ root });
    try {
      const o = wal.options;
      assert.equal(o.root, root);
      assert.equal(o.syncMode, "strict");
      assert.equal(o.maxSegmentSize, 64 * 1024 * 1024);
      assert.equal(o.maxEntriesPerSegment, Infinity);
      assert.equal(o.onCorruption, "error");
      assert.equal(wal.fs.name, runtime);
      assert.equal(nfs.statSync(root).isDirectory(), true, "root was created");
      assert.equal(await wal.append("x", b("hi")), 0);
      assert.equal(s(await wal.get("x", 0)), "hi");
    } finally {
      await wal.close();
    }
  });

  it("creates a missing root with its parents", async () => {
    const root = freshRoot() + "/deep/er";
    const wal = await Wal.open({ root, fs: nodeFs });
    await wal.append("s", b("x"));
    await wal.close();
    assert.ok(nfs.existsSync(root + "/s"));
  });
});

// ------------------------------------------------------------------- writes

describe("append", () => {
  it("hands out ids 0, 1, 2... per stream and reads each back", async () => {
    const wal = await openReal();
    try {
      assert.equal(await wal.append("a", b("zero")), 0);
      assert.equal(await wal.append("a", b("one")), 1);
      assert.equal(await wal.append("b", b("other")), 0);
      assert.equal(await wal.append("a", b("two")), 2);
      assert.equal(s(await wal.get("a", 0)), "zero");
      assert.equal(s(await wal.get("a", 1)), "one");
      assert.equal(s(await wal.get("a", 2)), "two");
      assert.equal(s(await wal.get("b", 0)), "other");
      const got = await wal.get("a", 0);
      assert.ok(got instanceof Uint8Array);
    } finally {
      await wal.close();
    }
  });

  it("stores an empty entry as empty bytes, not as missing", async () => {
    const wal = await openReal();
    try {
      assert.equal(await wal.append("e", new Uint8Array(0)), 0);
      assert.equal(await wal.append("e", b("x")), 1);
      const got = await wal.get("e", 0);
      assert.ok(got instanceof Uint8Array);
      assert.equal(got.length, 0);
      const all = await collect(wal.iter("e"));
      assert.deepEqual(all.map((x) => [x.id, x.data.length]), [[0, 0], [1, 1]]);
    } finally {
      await wal.close();
    }
  });

  it("stores exactly the bytes of a view into a larger buffer", async () => {
    const wal = await openReal();
    try {
      const big = pattern(1000, 3);
      const view = big.subarray(100, 150);
      const id = await wal.append("v", view);
      assert.deepEqual(await wal.get("v", id), big.slice(100, 150));
    } finally {
      await wal.close();
    }
  });

  it("copies the entry when called: changing the buffer afterwards changes nothing", async () => {
    const wal = await openReal();
    try {
      const buf = b("original");
      const p = wal.append("c", buf);
      buf.fill(0x21);
      const id = await p;
      assert.equal(s(await wal.get("c", id)), "original");
    } finally {
      await wal.close();
    }
  });

  it("rejects data that is not a Uint8Array with CONFIG, without using an id", async () => {
    const wal = await openReal();
    try {
      await wal.append("d", b("first"));
      await rejectsCode(wal.append("d", "text" as unknown as Uint8Array), "CONFIG");
      await rejectsCode(wal.append("d", [1, 2] as unknown as Uint8Array), "CONFIG");
      await rejectsCode(wal.append("d", null as unknown as Uint8Array), "CONFIG");
      assert.equal(wal.nextId("d"), 1);
      assert.equal(await wal.append("d", b("second")), 1);
    } finally {
      await wal.close();
    }
  });

  it("a rejected append to a new stream does not create the stream", async () => {
    const wal = await openReal();
    try {
      await rejectsCode(wal.append("ghost", 5 as unknown as Uint8Array), "CONFIG");
      await rejectsCode(wal.appendBatch("ghost2", [b("a"), "b" as unknown as Uint8Array]), "CONFIG");
      assert.deepEqual(wal.streams(), []);
      await rejectsCode(wal.truncate("ghost", 0), "STREAM_NOT_FOUND");
    } finally {
      await wal.close();
    }
  });
});

describe("appendBatch", () => {
  it("returns the id range (end exclusive), contiguous with appends", async () => {
    const wal = await openReal();
    try {
      assert.equal(await wal.append("t", b("a")), 0);
      const r: IdRange = await wal.appendBatch("t", [b("b"), b("c"), b("d")]);
      assert.deepEqual(r, { start: 1, end: 4 });
      assert.equal(await wal.append("t", b("e")), 4);
      assert.deepEqual(await wal.appendBatch("t", [b("f")]), { start: 5, end: 6 });
      const all = await collect(wal.iter("t"));
      assert.deepEqual(all.map((x) => [x.id, s(x.data)]), [[0, "a"], [1, "b"], [2, "c"], [3, "d"], [4, "e"], [5, "f"]]);
      assert.equal(s(await wal.get("t", 2)), "c");
      assert.equal(wal.nextId("t"), 6);
    } finally {
      await wal.close();
    }
  });

  it("keeps empty and differently sized entries of a batch apart", async () => {
    const wal = await openReal();
    try {
      const entries = [new Uint8Array(0), pattern(1, 1), pattern(300, 2), new Uint8Array(0), pattern(70_000, 4)];
      const r = await wal.appendBatch("m", entries);
      assert.deepEqual(r, { start: 0, end: 5 });
      for (let i = 0; i < entries.length; i++) assert.deepEqual(await wal.get("m", i), entries[i], `entry ${i}`);
      const it = await collect(wal.iter("m"));
      assert.deepEqual(it.map((x) => x.data.slice()), entries);
    } finally {
      await wal.close();
    }
  });

  it("an empty batch resolves with an empty range at nextId and writes nothing", async () => {
    const wal = await openReal();
    try {
      assert.deepEqual(await wal.appendBatch("e", []), { start: 0, end: 0 });
      assert.deepEqual(wal.streams(), [], "an empty batch does not create a stream");
      await wal.append("e", b("x"));
      await wal.append("e", b("y"));
      const written = wal.stats().entriesWritten;
      assert.deepEqual(await wal.appendBatch("e", []), { start: 2, end: 2 });
      assert.equal(wal.nextId("e"), 2);
      assert.equal(wal.stats().entriesWritten, written);
      assert.equal(await wal.append("e", b("z")), 2);
    } finally {
      await wal.close();
    }
  });

  it("rejects a non-array or a bad element with CONFIG and stores none of the batch", async () => {
    const wal = await openReal();
    try {
      await wal.append("x", b("0"));
      await rejectsCode(wal.appendBatch("x", b("ab") as unknown as Uint8Array[]), "CONFIG");
      const m = await rejectsCode(wal.appendBatch("x", [b("1"), "2" as unknown as Uint8Array, b("3")]), "CONFIG");
      assert.ok(m.includes("[1]"), m);
      assert.equal(wal.nextId("x"), 1);
      assert.equal(await wal.get("x", 1), undefined);
    } finally {
      await wal.close();
    }
  });
});

describe("writer (TxnWriter)", () => {
  it("add is chainable, length counts, commit appends atomically and empties", async () => {
    const wal = await openReal();
    try {
      await wal.append("tx", b("before"));
      const w = wal.writer("tx");
      assert.ok(w instanceof TxnWriter);
      assert.equal(w.length, 0);
      assert.equal(w.add(b("a")).add(b("b")), w);
      w.add(b("c"));
      assert.equal(w.length, 3);
      assert.equal(wal.nextId("tx"), 1, "nothing is appended before commit");
      assert.deepEqual(await w.commit(), { start: 1, end: 4 });
      assert.equal(w.length, 0);
      assert.deepEqual((await wal.readRange("tx", 0, 10)).map((e) => s(e.data)), ["before", "a", "b", "c"]);
      w.add(b("d"));
      assert.deepEqual(await w.commit(), { start: 4, end: 5 });
    } finally {
      await wal.close();
    }
  });

  it("discard drops the entries; committing nothing gives an empty range", async () => {
    const wal = await openReal();
    try {
      const w = wal.writer("tx");
      w.add(b("x")).add(b("y"));
      w.discard();
      assert.equal(w.length, 0);
      assert.deepEqual(await w.commit(), { start: 0, end: 0 });
      assert.equal(wal.nextId("tx"), 0);
      assert.equal(await wal.get("tx", 0), undefined);
    } finally {
      await wal.close();
    }
  });

  it("rejects a bad key at writer() and bad data at add()", async () => {
    const wal = await openReal();
    try {
      throwsCode(() => wal.writer(""), "CONFIG");
      const w = wal.writer("ok");
      throwsCode(() => w.add("str" as unknown as Uint8Array), "CONFIG");
      assert.equal(w.length, 0);
    } finally {
      await wal.close();
    }
  });

  it("two writers on one stream get ranges in commit order", async () => {
    const wal = await openReal();
    try {
      const w1 = wal.writer("tx").add(b("1a")).add(b("1b"));
      const w2 = wal.writer("tx").add(b("2a"));
      const p2 = w2.commit();
      const p1 = w1.commit();
      assert.deepEqual(await p2, { start: 0, end: 1 });
      assert.deepEqual(await p1, { start: 1, end: 3 });
      assert.deepEqual((await wal.readRange("tx", 0, 3)).map((e) => s(e.data)), ["2a", "1a", "1b"]);
    } finally {
      await wal.close();
    }
  });
});

// -------------------------------------------------------------------- reads

describe("get", () => {
  it("present → bytes; never written, unknown stream → undefined; bad id → CONFIG", async () => {
    const wal = await openReal();
    try {
      await wal.append("g", b("only"));
      assert.equal(s(await wal.get("g", 0)), "only");
      assert.equal(await wal.get("g", 1), undefined);
      assert.equal(await wal.get("g", 1_000_000), undefined);
      assert.equal(await wal.get("nope", 0), undefined);
      for (const id of [-1, 1.5, NaN, Infinity, 2 ** 53, "0", undefined]) {
        await rejectsCode(wal.get("g", id as number), "CONFIG");
      }
      assert.equal(s(wal.getSync("g", 0)), "only");
      throwsCode(() => wal.getSync("g", -1), "CONFIG");
    } finally {
      await wal.close();
    }
  });

  it("truncated → undefined", async () => {
    const wal = await openReal({ maxEntriesPerSegment: 4 });
    try {
      for (let i = 0; i < 10; i++) await wal.append("g", b(`e${i}`));
      assert.equal(await wal.truncate("g", 8), 2);
      for (let i = 0; i < 8; i++) assert.equal(await wal.get("g", i), undefined, `id ${i} was truncated`);
      assert.equal(s(await wal.get("g", 8)), "e8");
      assert.equal(s(await wal.get("g", 9)), "e9");
    } finally {
      await wal.close();
    }
  });
});

describe("iter, iterSync and readRange", () => {
  const N = 120;
  let wal: Wal;
  const data: Uint8Array[] = [];
  before(async () => {
    wal = await openReal({ maxSegmentSize: 512 });
    for (let i = 0; i < N; i++) {
      data.push(pattern(1 + (i * 37) % 200, i));
      if (i % 10 === 9) {
        // some batches too
        const batch = [pattern(5, 1000 + i), pattern(0, 0), pattern(40, 2000 + i)];
        data.pop();
        data.push(...batch);
        await wal.appendBatch("it", batch);
        i += 2;
      } else {
        await wal.append("it", data[data.length - 1]);
      }
    }
    await wal.append("other", b("not in it"));
  });
  after(async () => {
    await wal.close();
  });

  it("the data crosses many segment files", () => {
    const dir = wal.options.root + "/it";
    assert.ok(segmentFiles(dir).length >= 20, `only ${segmentFiles(dir).length} segments`);
  });

  it("iter from 0 yields every entry in order", async () => {
    const all = await collect(wal.iter("it"));
    assert.equal(all.length, data.length);
    all.forEach((e, i) => {
      assert.equal(e.id, i);
      assert.deepEqual(e.data, data[i], `id ${i}`);
    });
  });

  it("iter from the middle starts there", async () => {
    for (const start of [1, 37, 59, data.length - 1]) {
      const got = await collect(wal.iter("it", start));
      assert.deepEqual(got.map((e) => e.id), data.map((_, i) => i).slice(start));
      assert.deepEqual(got[0].data, data[start]);
    }
  });

  it("iter from the end or beyond yields nothing; unknown stream yields nothing", async () => {
    assert.deepEqual(await collect(wal.iter("it", data.length)), []);
    assert.deepEqual(await collect(wal.iter("it", data.length + 1000)), []);
    assert.deepEqual(await collect(wal.iter("missing", 0)), []);
  });

  it("iter rejects a bad start id with CONFIG", async () => {
    await rejectsCode(collect(wal.iter("it", -1)), "CONFIG");
    await rejectsCode(collect(wal.iter("it", 0.5)), "CONFIG");
    throwsCode(() => [...wal.iterSync("it", -3)], "CONFIG");
  });

  it("iterSync is the same sequence", () => {
    const got = [...wal.iterSync("it", 50)].map((e) => ({ id: e.id, data: e.data.slice() }));
    assert.equal(got.length, data.length - 50);
    got.forEach((e, k) => {
      assert.equal(e.id, 50 + k);
      assert.deepEqual(e.data, data[50 + k]);
    });
    assert.deepEqual([...wal.iterSync("it", 10_000)], []);
  });

  it("readRange is [start, end), clipped to what exists", async () => {
    const r = await wal.readRange("it", 10, 20);
    assert.deepEqual(r.map((e) => e.id), [10, 11, 12, 13, 14, 15, 16, 17, 18, 19]);
    r.forEach((e) => assert.deepEqual(e.data, data[e.id]));
    const tail = await wal.readRange("it", data.length - 2, data.length + 50);
    assert.deepEqual(tail.map((e) => e.id), [data.length - 2, data.length - 1]);
    assert.deepEqual(await wal.readRange("it", 5, 5), []);
    assert.deepEqual(await wal.readRange("it", 7, 3), []);
    assert.deepEqual(await wal.readRange("it", data.length, data.length + 3), []);
    assert.deepEqual(await wal.readRange("missing", 0, 10), []);
    assert.deepEqual((await wal.readRange("it", 0, 1)).map((e) => e.id), [0]);
    await rejectsCode(wal.readRange("it", -1, 3), "CONFIG");
    await rejectsCode(wal.readRange("it", 0, 1.5), "CONFIG");
  });

  it("readRange returns copies", async () => {
    const [e] = await wal.readRange("it", 3, 4);
    e.data.fill(0);
    assert.deepEqual(await wal.get("it", 3), data[3]);
  });
});

// -------------------------------------------------------------- truncation

describe("truncate", () => {
  it("deletes whole segments below safeId, returns how many, never the active one", async () => {
    const root = freshRoot();
    const wal = await Wal.open({ root, fs: nodeFs, maxEntriesPerSegment: 10 });
    try {
      for (let i = 0; i < 35; i++) await wal.append("t", b(`v${i}`));
      const dir = root + "/t";
      const names = (xs: number[]) => xs.map((x) => String(x).padStart(20, "0") + ".wal");
      assert.deepEqual(segmentFiles(dir), names([0, 10, 20, 30]));
      assert.equal(await wal.truncate("t", 0), 0);
      assert.equal(await wal.truncate("t", 9), 0, "segment 0 still holds id 9");
      assert.equal(await wal.truncate("t", 25), 2);
      assert.deepEqual(segmentFiles(dir), names([20, 30]));
      assert.equal(nfs.readdirSync(dir).some((n) => n.startsWith("00000000000000000000")), false, "its .idx went too");
      assert.equal(wal.firstId("t"), 20);
      assert.equal(await wal.get("t", 19), undefined);
      assert.equal(s(await wal.get("t", 20)), "v20");
      assert.equal((await collect(wal.iter("t", 0)))[0].id, 20, "iter from a truncated id starts at the first present");
      assert.equal((await collect(wal.iter("t", 5))).length, 15);
      assert.deepEqual((await wal.readRange("t", 0, 22)).map((e) => e.id), [20, 21]);
      assert.equal(await wal.truncate("t", 1_000_000), 1, "everything but the active segment");
      assert.deepEqual(segmentFiles(dir), names([30]));
      assert.equal(await wal.truncate("t", 1_000_000), 0);
      assert.equal(wal.firstId("t"), 30);
      assert.equal(s(await wal.get("t", 34)), "v34");
      assert.equal(await wal.append("t", b("v35")), 35);
      assert.equal(wal.nextId("t"), 36);
    } finally {
      await wal.close();
    }
  });

  it("STREAM_NOT_FOUND for an unknown stream; CONFIG for a bad id", async () => {
    const wal = await openReal();
    try {
      await wal.append("real", b("x"));
      const m = await rejectsCode(wal.truncate("imaginary", 5), "STREAM_NOT_FOUND");
      assert.ok(m.includes("imaginary"), m);
      await rejectsCode(wal.truncate("real", -1), "CONFIG");
      assert.equal(await wal.truncate("real", 10), 0);
    } finally {
      await wal.close();
    }
  });

  it("the truncation point survives a reopen", async () => {
    const root = freshRoot();
    let wal = await Wal.open({ root, fs: nodeFs, maxEntriesPerSegment: 5 });
    for (let i = 0; i < 23; i++) await wal.append("t", b(`v${i}`));
    assert.equal(await wal.truncate("t", 12), 2);
    await wal.close();
    wal = await Wal.open({ root, fs: nodeFs, maxEntriesPerSegment: 5 });
    try {
      assert.equal(wal.firstId("t"), 10);
      assert.equal(wal.nextId("t"), 23);
      assert.equal(await wal.get("t", 9), undefined);
      assert.equal(s(await wal.get("t", 10)), "v10");
      assert.deepEqual((await collect(wal.iter("t"))).map((e) => e.id), Array.from({ length: 13 }, (_, i) => 10 + i));
      assert.equal(await wal.append("t", b("v23")), 23);
    } finally {
      await wal.close();
    }
  });
});

// ----------------------------------------------------- streams, ids, close

describe("streams, nextId, firstId", () => {
  it("report every stream sorted and the next and first ids", async () => {
    const wal = await openReal();
    try {
      assert.deepEqual(wal.streams(), []);
      assert.equal(wal.nextId("zeta"), 0);
      assert.equal(wal.firstId("zeta"), 0);
      await wal.append("zeta", b("1"));
      await wal.appendBatch("alpha", [b("1"), b("2")]);
      await wal.append("Mid", b("1"));
      assert.deepEqual(wal.streams(), ["Mid", "alpha", "zeta"]);
      assert.equal(wal.nextId("alpha"), 2);
      assert.equal(wal.nextId("zeta"), 1);
      assert.equal(wal.firstId("alpha"), 0);
    } finally {
      await wal.close();
    }
  });

  it("nextId counts appends as soon as they are called", async () => {
    const wal = await openReal();
    try {
      const p = wal.append("n", b("x"));
      assert.equal(wal.nextId("n"), 1);
      const q = wal.appendBatch("n", [b("y"), b("z")]);
      assert.equal(wal.nextId("n"), 3);
      await Promise.all([p, q]);
      assert.equal(wal.nextId("n"), 3);
    } finally {
      await wal.close();
    }
  });
});

describe("sync and close", () => {
  it("close is idempotent and every call after it fails with CLOSED", async () => {
    const wal = await openReal();
    await wal.append("c", b("x"));
    await wal.close();
    await wal.close();
    await rejectsCode(wal.append("c", b("y")), "CLOSED");
    await rejectsCode(wal.appendBatch("c", [b("y")]), "CLOSED");
    await rejectsCode(wal.writer("c").add(b("y")).commit(), "CLOSED");
    await rejectsCode(wal.get("c", 0), "CLOSED");
    throwsCode(() => wal.getSync("c", 0), "CLOSED");
    await rejectsCode(collect(wal.iter("c")), "CLOSED");
    throwsCode(() => [...wal.iterSync("c")], "CLOSED");
    await rejectsCode(wal.readRange("c", 0, 1), "CLOSED");
    await rejectsCode(wal.truncate("c", 0), "CLOSED");
    await rejectsCode(wal.sync(), "CLOSED");
    // firstId may have to list the stream's directory: CLOSED too.
    throwsCode(() => wal.firstId("c"), "CLOSED");
    // In-memory accessors give the final state, e.g. to log at shutdown.
    assert.equal(wal.nextId("c"), 1);
    assert.equal(wal.syncedId("c"), 1, "close made everything durable");
    assert.deepEqual(wal.streams(), ["c"]);
    assert.equal(wal.stats().entriesWritten, 1);
  });

  it("reads and accessors reject a stream key that is not a non-empty string with CONFIG", async () => {
    const wal = await Wal.open({ root: "/k", fs: new MemoryFs() });
    try {
      for (const key of ["", undefined, 7, null] as unknown as string[]) {
        await rejectsCode(wal.get(key, 0), "CONFIG");
        throwsCode(() => wal.getSync(key, 0), "CONFIG");
        await rejectsCode(collect(wal.iter(key)), "CONFIG");
        throwsCode(() => [...wal.iterSync(key)], "CONFIG");
        await rejectsCode(wal.readRange(key, 0, 1), "CONFIG");
        await rejectsCode(wal.truncate(key, 0), "CONFIG");
        throwsCode(() => wal.nextId(key), "CONFIG");
        throwsCode(() => wal.firstId(key), "CONFIG");
        throwsCode(() => wal.syncedId(key), "CONFIG");
      }
      // A well-formed key that was never written is simply not there.
      assert.equal(await wal.get("never", 0), undefined);
      assert.equal(wal.nextId("never"), 0);
    } finally {
      await wal.close();
    }
  });

  it("close writes out appends that are still pending and releases the root", async () => {
    const root = freshRoot();
    const wal = await Wal.open({ root, fs: nodeFs, syncMode: "async" });
    const ps = [wal.append("p", b("a")), wal.append("p", b("b")), wal.appendBatch("p", [b("c"), b("d")])];
    await wal.close();
    assert.deepEqual(await Promise.all(ps), [0, 1, { start: 2, end: 4 }]);
    const again = await Wal.open({ root, fs: nodeFs });
    try {
      assert.deepEqual((await again.readRange("p", 0, 10)).map((e) => s(e.data)), ["a", "b", "c", "d"]);
    } finally {
      await again.close();
    }
  });

  it("an iteration running when close is called stops with CLOSED", async () => {
    const wal = await openReal();
    for (let i = 0; i < 5; i++) await wal.append("i", b(`${i}`));
    const seen: number[] = [];
    await assert.rejects(async () => {
      for await (const e of wal.iter("i")) {
        seen.push(e.id);
        if (e.id === 1) await wal.close();
      }
    }, (e: unknown) => {
      isWalError(e, "CLOSED");
      return true;
    });
    assert.deepEqual(seen, [0, 1]);
  });

  it("sync resolves in every mode and counts an fsync for unsynced data", async () => {
    for (const syncMode of ["strict", "batch-only", "interval", "async"] as const) {
      const wal = await openReal({ syncMode, syncIntervalMs: 10_000 });
      try {
        await wal.sync();
        const before = wal.stats().fsyncs;
        await wal.append("s", b("x"));
        await wal.sync();
        const after1 = wal.stats().fsyncs;
        // strict fsyncs in append (sync() then has nothing left); the others in sync()
        assert.equal(after1, before + 1, `${syncMode}: exactly one fsync for the appended data`);
        await wal.sync();
        assert.equal(wal.stats().fsyncs, after1, "nothing unsynced: no fsync");
      } finally {
        await wal.close();
      }
    }
  });
});

// ------------------------------------------------------- stats and recovery

describe("stats", () => {
  it("counts entries written and read, latency, active segments and fsyncs", async () => {
    const wal = await openReal();
    try {
      const st0 = wal.stats();
      assert.equal(st0.entriesWritten, 0);
      assert.equal(st0.entriesRead, 0);
      assert.equal(st0.writeLatencyUs, 0);
      assert.equal(st0.activeSegments, 0);
      assert.equal(st0.fsyncs, 0);
      assert.equal(typeof st0.memoryUsageBytes, "number");
      assert.match(st0.crc32, /^(native|hash-wasm|table)(\+sparse)?$/);

      await wal.append("a", pattern(100, 1));
      await wal.appendBatch("a", [b("x"), b("y"), b("z")]);
      await wal.append("b", b("q"));
      const st1 = wal.stats();
      assert.equal(st1.entriesWritten, 5);
      assert.ok(st1.writeLatencyUs > 0, `writeLatencyUs ${st1.writeLatencyUs}`);
      assert.equal(st1.activeSegments, 2);
      assert.equal(st1.streams, 2);
      assert.ok(st1.fsyncs >= 3, `strict: one fsync per awaited append at least, got ${st1.fsyncs}`);
      assert.ok(st1.bytesWritten >= 100 + 3 + 1 + 3 * FRAME_HEADER, `bytesWritten ${st1.bytesWritten}`);
      assert.ok(st1.memoryUsageBytes > 0);
      assert.equal(st1.segmentsCreated, 2);

      await wal.get("a", 0);
      await wal.get("a", 2);
      await wal.get("a", 99); // missing: not a read
      assert.equal(wal.stats().entriesRead, 2);
      await collect(wal.iter("a"));
      assert.equal(wal.stats().entriesRead, 6);
      await wal.readRange("a", 1, 3);
      assert.equal(wal.stats().entriesRead, 8);

      const f = wal.stats().fsyncs;
      await wal.append("a", b("more"));
      assert.ok(wal.stats().fsyncs > f, "fsyncs grows in strict mode");
    } finally {
      await wal.close();
    }
  });
});

describe("recovery report", () => {
  it("a fresh root reports nothing found", async () => {
    const wal = await openReal();
    try {
      const r = wal.recovery;
      assert.equal(r.validRecords, 0);
      assert.equal(r.segmentsScanned, 0);
      assert.equal(r.bytesTruncated, 0);
      assert.equal(r.corruptionDetected, false);
      assert.equal(r.streams, 0);
      assert.deepEqual(r.repairs, []);
      assert.deepEqual(r.warnings, []);
      assert.ok(r.durationMs >= 0);
    } finally {
      await wal.close();
    }
  });

  it("a clean reopen reports streams, scanned active segments and their verified entries", async () => {
    const root = freshRoot();
    let wal = await Wal.open({ root, fs: nodeFs, maxEntriesPerSegment: 10 });
    for (let i = 0; i < 25; i++) await wal.append("a", b(`${i}`));
    await wal.appendBatch("b", [b("1"), b("2"), b("3")]);
    await wal.close();
    wal = await Wal.open({ root, fs: nodeFs, maxEntriesPerSegment: 10 });
    try {
      const r = wal.recovery;
      assert.equal(r.streams, 2);
      assert.equal(r.segmentsScanned, 2, "only the active segment of each stream");
      assert.equal(r.validRecords, 5 + 3, "entries of the active segments");
      assert.equal(r.bytesTruncated, 0);
      assert.equal(r.corruptionDetected, false);
      assert.deepEqual(r.repairs, []);
      assert.deepEqual(r.warnings, []);
      assert.deepEqual(wal.streams(), ["a", "b"]);
      assert.equal(wal.stats().activeSegments, 2);
    } finally {
      await wal.close();
    }
  });
});

// --------------------------------------------------------------- sync modes

describe("sync modes on real files", () => {
  const modes = ["strict", "batch-only", "interval", "async"] as const;
  for (const syncMode of modes) {
    it(`${syncMode}: an entry is readable, and in the file, as soon as its append resolves`, async () => {
      const root = freshRoot();
      const wal = await Wal.open({ root, fs: nodeFs, syncMode, syncIntervalMs: 10_000 });
      try {
        const seg = root + "/m/" + "0".repeat(20) + ".wal";
        let expectSize = SEGMENT_HEADER;
        for (let i = 0; i < 20; i++) {
          const data = pattern(10 + i, i);
          const id = await wal.append("m", data);
          assert.equal(id, i);
          assert.deepEqual(await wal.get("m", id), data);
          expectSize += FRAME_HEADER + data.length;
          assert.equal(nfs.statSync(seg).size, expectSize, "written to the OS");
        }
        const r = await wal.appendBatch("m", [b("b1"), b("b2")]);
        assert.equal(s(await wal.get("m", r.start + 1)), "b2");
        const it = await collect(wal.iter("m", 19));
        assert.deepEqual(it.map((e) => e.id), [19, 20, 21]);
        // another reader of the files (as after a process crash) sees every entry
        const bytes = nfs.readFileSync(seg);
        assert.equal(bytes.length, expectSize + FRAME_HEADER + 4 * 2 + 4, "a batch is one frame");
      } finally {
        await wal.close();
      }
    });
  }

  it("strict: every awaited append is fsynced; concurrent appends share fsyncs", async () => {
    const events: WalEvent[] = [];
    const wal = await openReal({ syncMode: "strict", meter: (e) => events.push(e) });
    try {
      for (let i = 0; i < 10; i++) await wal.append("s", b(`${i}`));
      assert.equal(wal.stats().fsyncs, 10);
      const before = wal.stats().fsyncs;
      const ids = await Promise.all(Array.from({ length: 256 }, (_, i) => wal.append("s", b(`c${i}`))));
      assert.deepEqual(ids, Array.from({ length: 256 }, (_, i) => 10 + i));
      const used = wal.stats().fsyncs - before;
      assert.ok(used >= 1 && used <= 8, `256 concurrent appends used ${used} fsyncs`);
      assert.ok(events.some((e) => e.type === "fsync" && e.files >= 1 && e.durationUs >= 0));
      const b2 = wal.stats().fsyncs;
      await wal.appendBatch("s", [b("x"), b("y")]);
      assert.equal(wal.stats().fsyncs, b2 + 1, "a batch is fsynced too");
    } finally {
      await wal.close();
    }
  });

  it("batch-only: single appends are not fsynced, batches and commits are", async () => {
    const wal = await openReal({ syncMode: "batch-only" });
    try {
      for (let i = 0; i < 5; i++) await wal.append("s", b(`${i}`));
      assert.equal(wal.stats().fsyncs, 0);
      await wal.appendBatch("s", [b("a"), b("b")]);
      assert.equal(wal.stats().fsyncs, 1);
      await wal.writer("s").add(b("c")).commit();
      assert.equal(wal.stats().fsyncs, 2);
      await wal.append("s", b("d"));
      assert.equal(wal.stats().fsyncs, 2);
    } finally {
      await wal.close();
    }
  });

  it("interval: an fsync follows within about syncIntervalMs", async () => {
    const syncIntervalMs = 20;
    const wal = await openReal({ syncMode: "interval", syncIntervalMs });
    try {
      await wal.append("s", b("x"));
      await wal.appendBatch("s", [b("y"), b("z")]);
      assert.equal(wal.stats().fsyncs, 0, "not synced when the append resolves");
      let waited = 0;
      while (wal.stats().fsyncs === 0 && waited < 2000) {
        await sleep(5);
        waited += 5;
      }
      assert.equal(wal.stats().fsyncs, 1, `one fsync after ${waited} ms`);
      assert.ok(waited <= syncIntervalMs * 10, `fsync came after ${waited} ms`);
      await sleep(3 * syncIntervalMs);
      assert.equal(wal.stats().fsyncs, 1, "no fsync without new data");
      await wal.append("s", b("again"));
      await sleep(syncIntervalMs * 5);
      assert.equal(wal.stats().fsyncs, 2);
    } finally {
      await wal.close();
    }
  });

  it("interval: appends that await each other without yielding still get an fsync every window", async () => {
    // Such a loop runs entirely in microtasks: a timer alone would never fire during it.
    const syncIntervalMs = 10;
    const wal = await openReal({ syncMode: "interval", syncIntervalMs });
    try {
      const t0 = performance.now();
      let n = 0;
      while (performance.now() - t0 < 150) await wal.append("busy", b(`${n++}`));
      const during = wal.stats().fsyncs;
      assert.ok(during >= 2, `${during} fsyncs during 150 ms of appends (${n} entries) with syncIntervalMs ${syncIntervalMs}`);
      assert.equal(wal.nextId("busy"), n);
    } finally {
      await wal.close();
    }
  });

  it("async: no fsync until sync() or close()", async () => {
    const events: WalEvent[] = [];
    const wal = await openReal({ syncMode: "async", meter: (e) => events.push(e) });
    for (let i = 0; i < 50; i++) await wal.append("s", b(`${i}`));
    await wal.appendBatch("s", [b("a"), b("b")]);
    await sleep(30);
    assert.equal(wal.stats().fsyncs, 0);
    await wal.sync();
    assert.equal(wal.stats().fsyncs, 1);
    await wal.append("s", b("last"));
    await sleep(10);
    const fsyncEvents = () => events.filter((e) => e.type === "fsync").length;
    assert.equal(fsyncEvents(), 1);
    await wal.close();
    assert.equal(fsyncEvents(), 2, "close fsyncs what is unsynced");
  });
});

// ------------------------------------------------------------------ rotation

describe("segment rotation", () => {
  const segName = /^\d{20}\.wal$/;

  for (const maxSegmentSize of [256, 1000, 4096]) {
    it(`by size (maxSegmentSize ${maxSegmentSize}): segments are full but not over, named by first id`, async () => {
      const root = freshRoot();
      const opts = { root, fs: nodeFs, maxSegmentSize, syncMode: "async" as const };
      let wal = await Wal.open(opts);
      const data: Uint8Array[] = [];
      for (let i = 0; i < 100; i++) {
        data.push(pattern((i * 53) % 180, i));
        assert.equal(await wal.append("r", data[i]), i);
      }
      await wal.close();
      const dir = root + "/r";
      const segs = segmentFiles(dir);
      assert.ok(segs.length > 2, `${segs.length} segments`);
      const firsts = segs.map((n) => {
        assert.match(n, segName);
        return Number(n.slice(0, 20));
      });
      assert.equal(firsts[0], 0);
      for (let k = 0; k < segs.length; k++) {
        const size = nfs.statSync(dir + "/" + segs[k]).size;
        const end = k + 1 < segs.length ? firsts[k + 1] : data.length;
        let expect = SEGMENT_HEADER;
        for (let id = firsts[k]; id < end; id++) expect += FRAME_HEADER + data[id].length;
        assert.equal(size, expect, `segment ${segs[k]} holds exactly ids ${firsts[k]}..${end - 1}`);
        assert.ok(size <= maxSegmentSize || end - firsts[k] === 1, `${segs[k]} is ${size} bytes`);
        if (k + 1 < segs.length) {
          const next = FRAME_HEADER + data[end].length;
          assert.ok(size + next > maxSegmentSize, `${segs[k]} rolled early: ${size} + ${next} <= ${maxSegmentSize}`);
        }
        const head = nfs.readFileSync(dir + "/" + segs[k]).subarray(0, 8);
        assert.deepEqual([...head], [0x89, 0x49, 0x57, 0x41, 0x4c, 0x0d, 0x0a, 0x1a], "segment magic");
      }
      wal = await Wal.open(opts);
      try {
        const all = await collect(wal.iter("r"));
        assert.equal(all.length, data.length);
        all.forEach((e, i) => assert.deepEqual(e.data, data[i]));
        for (const i of [0, 17, 74, 99]) assert.deepEqual(await wal.get("r", i), data[i]);
        assert.equal(wal.stats().segmentsCreated, 0);
        assert.equal(await wal.append("r", b("next")), 100);
      } finally {
        await wal.close();
      }
    });
  }

  it("by count (maxEntriesPerSegment): each segment holds at most that many entries", async () => {
    const root = freshRoot();
    const wal = await Wal.open({ root, fs: nodeFs, maxEntriesPerSegment: 7 });
    try {
      for (let i = 0; i < 30; i++) await wal.append("c", b(`${i}`));
      const names = (xs: number[]) => xs.map((x) => String(x).padStart(20, "0") + ".wal");
      assert.deepEqual(segmentFiles(root + "/c"), names([0, 7, 14, 21, 28]));
      // 28, 29 in the active one; a batch of 3 fits (2 + 3 <= 7): same segment
      await wal.appendBatch("c", [b("a"), b("b"), b("c")]);
      assert.deepEqual(segmentFiles(root + "/c"), names([0, 7, 14, 21, 28]));
      // 5 in it now: a batch of 3 does not fit, it starts a new segment (a batch is never split)
      assert.deepEqual(await wal.appendBatch("c", [b("d"), b("e"), b("f")]), { start: 33, end: 36 });
      assert.deepEqual(segmentFiles(root + "/c"), names([0, 7, 14, 21, 28, 33]));
      // a batch larger than the limit gets a segment of its own
      assert.deepEqual(await wal.appendBatch("c", Array.from({ length: 10 }, (_, i) => b(`big${i}`))), { start: 36, end: 46 });
      await wal.append("c", b("after"));
      assert.deepEqual(segmentFiles(root + "/c"), names([0, 7, 14, 21, 28, 33, 36, 46]));
      assert.equal(wal.stats().segmentsCreated, 8);
      assert.deepEqual((await collect(wal.iter("c", 27))).map((e) => s(e.data)), [
        "27", "28", "29", "a", "b", "c", "d", "e", "f",
        ...Array.from({ length: 10 }, (_, i) => `big${i}`), "after",
      ]);
    } finally {
      await wal.close();
    }
  });

  it("a frame larger than maxSegmentSize gets a segment of its own", async () => {
    const root = freshRoot();
    const wal = await Wal.open({ root, fs: nodeFs, maxSegmentSize: 256 });
    try {
      const big = pattern(5000, 9);
      assert.equal(await wal.append("big", b("small")), 0);
      assert.equal(await wal.append("big", big), 1);
      assert.equal(await wal.append("big", b("tail")), 2);
      const dir = root + "/big";
      const segs = segmentFiles(dir);
      assert.deepEqual(segs, ["0", "1", "2"].map((x) => x.padStart(20, "0") + ".wal"));
      assert.equal(nfs.statSync(dir + "/" + segs[1]).size, SEGMENT_HEADER + FRAME_HEADER + 5000);
      assert.deepEqual(await wal.get("big", 1), big);
      // the same in one group of concurrent appends
      const ids = await Promise.all([wal.append("big2", b("s")), wal.append("big2", big), wal.append("big2", b("t"))]);
      assert.deepEqual(ids, [0, 1, 2]);
      assert.equal(segmentFiles(root + "/big2").length, 3);
      assert.deepEqual((await collect(wal.iter("big2"))).map((e) => e.data.length), [1, 5000, 1]);
    } finally {
      await wal.close();
    }
  });

  it("works the same on MemoryFs", async () => {
    const fs = new MemoryFs();
    let wal = await Wal.open({ root: "/m", fs, maxSegmentSize: 300 });
    for (let i = 0; i < 40; i++) await wal.append("x", pattern(60, i));
    await wal.close();
    const names = fs.readDir("/m/x").map((e) => e.name).filter((n) => n.endsWith(".wal")).sort();
    assert.ok(names.length >= 10);
    for (const n of names) assert.match(n, segName);
    wal = await Wal.open({ root: "/m", fs, maxSegmentSize: 300 });
    try {
      const all = await collect(wal.iter("x"));
      assert.equal(all.length, 40);
      all.forEach((e, i) => assert.deepEqual(e.data, pattern(60, i)));
    } finally {
      await wal.close();
    }
  });
});

// ------------------------------------------------------- open file handles

describe("maxOpenSegments", () => {
  for (const syncMode of ["strict", "async", "interval"] as const) {
    it(`1 open handle (${syncMode}): many streams and segments interleaved, never more files open, all data kept`, async () => {
      const opts = { root: freshRoot(), fs: nodeFs, maxOpenSegments: 1, maxSegmentSize: 300, syncMode };
      let wal = await Wal.open(opts);
      const streams = ["a", "b", "c", "d"];
      const val = (st: string, i: number) => `${st}${i}-${"y".repeat(i % 30)}`;
      const N = 24;
      for (let i = 0; i < N; i++) {
        for (const st of streams) await wal.append(st, b(val(st, i)));
        if (i % 7 === 0) {
          for (const st of streams) assert.equal(s(await wal.get(st, i >> 1)), val(st, i >> 1));
        }
        assert.ok(wal.stats().openFiles <= 1, `${wal.stats().openFiles} files open`);
      }
      // iterations of four streams, interleaved with appends to a fifth
      const its = streams.map((st) => wal.iterSync(st));
      for (let k = 0; k < N; k++) {
        for (let j = 0; j < streams.length; j++) {
          const r = its[j].next();
          assert.equal(r.done, false);
          assert.equal(r.value!.id, k);
          assert.equal(s(r.value!.data), val(streams[j], k));
          await wal.append("e", b("x"));
        }
      }
      assert.ok(wal.stats().openFiles <= 1);
      await wal.close();
      wal = await Wal.open(opts);
      try {
        for (const st of streams) {
          assert.deepEqual((await collect(wal.iter(st))).map((e) => s(e.data)), Array.from({ length: N }, (_, i) => val(st, i)));
        }
        assert.equal(wal.nextId("e"), N * streams.length);
      } finally {
        await wal.close();
      }
    });
  }
});

// -------------------------------------------------------------------- locks

describe("LOCKED", () => {
  it("a second open of the same root in this process gets LOCKED; after close it opens", async () => {
    const root = freshRoot();
    const wal = await Wal.open({ root, fs: nodeFs });
    await wal.append("l", b("x"));
    const m = await rejectsCode(Wal.open({ root, fs: nodeFs }), "LOCKED");
    assert.ok(m.length > 0);
    await rejectsCode(Wal.open({ root }), "LOCKED");
    assert.equal(s(await wal.get("l", 0)), "x", "the first instance is unharmed");
    await wal.close();
    const again = await Wal.open({ root, fs: nodeFs });
    try {
      assert.equal(s(await again.get("l", 0)), "x");
    } finally {
      await again.close();
    }
  });

  it("the same on MemoryFs", async () => {
    const fs = new MemoryFs();
    const wal = await Wal.open({ root: "/r", fs });
    await rejectsCode(Wal.open({ root: "/r", fs }), "LOCKED");
    const other = await Wal.open({ root: "/other", fs });
    await other.close();
    await wal.close();
    const again = await Wal.open({ root: "/r", fs });
    await again.close();
  });

  it("WalError is exported and is an Error", () => {
    assert.ok(new WalError("LOCKED", "x") instanceof Error);
  });
});
