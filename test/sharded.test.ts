import { describe, it } from "node:test";
import assert from "node:assert/strict";
import * as nfs from "node:fs";
import * as os from "node:os";
import { type Checkpoint, ShardedWal, type SyncMode, WalError, type WalErrorCode } from "../mod.ts";
import { MemoryFs } from "../adapters/memory.ts";
import { FaultyFs, seededRng } from "../adapters/faulty.ts";
import { shardOf } from "../src/sharded/routing.ts";
import type { WalFs } from "../src/io.ts";
import { encodeHead } from "../src/format/checkpoint.ts";
import { getU32 } from "../src/format/bytes.ts";
import { readAll } from "./_fs_util.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();
const b = (s: string) => enc.encode(s);

async function rejects(p: Promise<unknown> | (() => unknown), code: WalErrorCode): Promise<string> {
  try {
    await (typeof p === "function" ? p() : p);
  } catch (e) {
    assert.ok(e instanceof WalError, `expected WalError ${code}, got ${String(e)}`);
    assert.equal(e.code, code, e.message);
    return e.message;
  }
  assert.fail(`expected WalError ${code}, nothing was thrown`);
}


function writeFile(fs: WalFs, path: string, data: Uint8Array): void {
  const f = fs.stat(path) === undefined ? fs.open(path, "create") : fs.open(path, "write");
  f.truncate(0);
  f.write(data, 0);
  f.close();
}

async function collect(sw: ShardedWal, shard: number, from = 0, to = Infinity): Promise<Array<{ id: number; data: string }>> {
  const out: Array<{ id: number; data: string }> = [];
  for await (const e of sw.iterShard(shard, from)) {
    if (e.id >= to) break;
    out.push({ id: e.id, data: dec.decode(e.data) });
  }
  return out;
}

const ids = (cps: Checkpoint[]) => cps.map((c) => dec.decode(c.id));

describe("ShardedWal routing", () => {
  it("matches the FORMAT.md test vectors", async () => {
    const vectors: Array<[string | Uint8Array, number, number, number, number]> = [
      ["", 0x02cc5d05, 3, 5, 5],
      ["a", 0x550d7456, 3, 6, 22],
      ["abc", 0x32d153ff, 5, 15, 63],
      ["user_123", 0xfd6bedc2, 6, 2, 2],
      ["key-0", 0x8143042f, 4, 15, 47],
      ["key-1", 0x39636a09, 2, 9, 9],
      ["raft_index_5000", 0xbba78fb6, 1, 6, 54],
      ["Ünïcödé", 0xaea5d587, 0, 7, 7],
      ["0123456789abcdef0123456789abcdef", 0xeb888d30, 6, 0, 48],
      [new Uint8Array([0, 1, 2, 3, 255]), 0xd3d00c50, 6, 0, 16],
    ];
    const fs = new MemoryFs();
    const counts = [1, 7, 16, 64];
    const sws = await Promise.all(counts.map((n) => ShardedWal.open({ root: `/r${n}`, fs }, n)));
    for (const [key, hash, s7, s16, s64] of vectors) {
      const expect = [0, s7, s16, s64];
      assert.equal(hash % 7, s7);
      for (let i = 0; i < counts.length; i++) {
        assert.equal(sws[i].shardFor(key), expect[i], `key ${String(key)} over ${counts[i]} shards`);
        const kb = typeof key === "string" ? b(key) : key;
        assert.equal(shardOf(kb, counts[i]), expect[i]);
        if (typeof key === "string") assert.equal(sws[i].shardFor(b(key)), expect[i], "string and its UTF-8 bytes route alike");
      }
    }
    for (const sw of sws) await sw.close();
  });

  it("spreads 10,000 keys over 16 shards within 25% of even", async () => {
    const sw = await ShardedWal.open({ root: "/r", fs: new MemoryFs() }, 16);
    const counts = new Array(16).fill(0);
    for (let i = 0; i < 10000; i++) counts[sw.shardFor(`key-${i}`)]++;
    for (const c of counts) assert.ok(c >= 625 * 0.75 && c <= 625 * 1.25, `counts ${counts}`);
    const binCounts = new Array(16).fill(0);
    for (let i = 0; i < 10000; i++) binCounts[sw.shardFor(new Uint8Array([i & 255, i >> 8, 7]))]++;
    for (const c of binCounts) assert.ok(c >= 625 * 0.75 && c <= 625 * 1.25, `binary key counts ${binCounts}`);
    await sw.close();
  });

  it("refuses bad keys, shard counts and shard ids with CONFIG", async () => {
    const fs = new MemoryFs();
    await rejects(ShardedWal.open({ root: "/r", fs }, 0), "CONFIG");
    await rejects(ShardedWal.open({ root: "/r", fs }, 1.5), "CONFIG");
    await rejects(ShardedWal.open({ root: "/r", fs }, 65537), "CONFIG");
    const sw = await ShardedWal.open({ root: "/r", fs }, 4);
    await rejects(() => sw.shardFor(42 as unknown as string), "CONFIG");
    await rejects(() => sw.shardFor("\uD800x"), "CONFIG");
    await rejects(sw.append(null as unknown as string, b("v")), "CONFIG");
    await rejects(sw.append("k", "v" as unknown as Uint8Array), "CONFIG");
    await rejects(() => sw.iterShard(4), "CONFIG");
    await rejects(() => sw.iterShard(-1), "CONFIG");
    await rejects(sw.appendBatch([["k", b("v")], ["k2", 5 as unknown as Uint8Array]]), "CONFIG");
    assert.equal(sw.nextId(sw.shardFor("k")), 0, "a refused batch stores nothing");
    await sw.close();
  });
});

describe("ShardedWal appends and checkpoints", () => {
  it("appends route by key, ids are contiguous per shard, batches come back in input order", async () => {
    const fs = new MemoryFs();
    const sw = await ShardedWal.open({ root: "/r", fs }, 8);
    const perShard = new Array(8).fill(0);
    for (let i = 0; i < 200; i++) {
      const key = `user-${i}`;
      const r = await sw.append(key, b(`v${i}`));
      assert.equal(r.shardId, sw.shardFor(key));
      assert.equal(r.seqId, perShard[r.shardId]++);
    }
    const pairs: Array<[string, Uint8Array]> = [];
    for (let i = 0; i < 100; i++) pairs.push([`batch-${i % 37}`, b(`bv${i}`)]);
    const results = await sw.appendBatch(pairs);
    assert.equal(results.length, pairs.length);
    const next = perShard.slice();
    for (let i = 0; i < pairs.length; i++) {
      assert.equal(results[i].shardId, sw.shardFor(pairs[i][0]));
      assert.equal(results[i].seqId, next[results[i].shardId]++, "input order within a shard");
    }
    for (let i = 0; i < pairs.length; i++) {
      const got = await collect(sw, results[i].shardId, results[i].seqId, results[i].seqId + 1);
      assert.deepEqual(got, [{ id: results[i].seqId, data: `bv${i}` }]);
    }
    assert.deepEqual(await sw.appendBatch([]), []);
    assert.deepEqual(sw.stats().shardNextIds, next);
    await sw.close();
  });

  it("checkpoint offsets equal the acknowledged counts; load, latest, list, reuse and reopen", async () => {
    const fs = new MemoryFs();
    let sw = await ShardedWal.open({ root: "/r", fs }, 4);
    await rejects(sw.loadLatestCheckpoint(), "NO_CHECKPOINTS");
    await rejects(sw.loadCheckpoint("nope"), "CHECKPOINT_NOT_FOUND");
    assert.deepEqual(await sw.listCheckpoints(), []);
    const counts = [0, 0, 0, 0];
    for (let i = 0; i < 50; i++) counts[(await sw.append(`k${i}`, b(`v${i}`))).shardId]++;
    const cp1 = await sw.createCheckpoint("one");
    assert.deepEqual(cp1.offsets, counts);
    assert.equal(cp1.shardCount, 4);
    assert.ok(Math.abs(cp1.timestamp - Date.now()) < 60_000);
    assert.deepEqual(await sw.loadCheckpoint("one"), cp1);
    assert.deepEqual(await sw.loadCheckpoint(b("one")), cp1, "a string id is its UTF-8 bytes");
    await sw.appendBatch([["x", b("1")], ["y", b("2")], ["z", b("3")]]);
    for (const k of ["x", "y", "z"]) counts[sw.shardFor(k)]++;
    const cp2 = await sw.createCheckpoint(new Uint8Array([0, 255, 1]));
    assert.deepEqual(cp2.offsets, counts);
    const latest = await sw.loadLatestCheckpoint();
    assert.deepEqual(latest.id, new Uint8Array([0, 255, 1]));
    assert.deepEqual(latest.checkpoint, cp2);
    await sw.append("k-more", b("m"));
    counts[sw.shardFor("k-more")]++;
    const cp1b = await sw.createCheckpoint("one");
    assert.deepEqual(cp1b.offsets, counts);
    assert.deepEqual((await sw.loadCheckpoint("one")).offsets, counts, "a reused id: the newest wins");
    assert.equal((await sw.listCheckpoints()).length, 2);
    assert.deepEqual((await sw.loadLatestCheckpoint()).checkpoint, cp1b);
    const st = sw.stats();
    assert.equal(st.checkpoints, 2);
    assert.equal(st.checkpointRecords, 3);
    await sw.close();
    assert.deepEqual(sw.stats().shardNextIds, counts, "stats() answers after close with the final next ids");
    await rejects(sw.loadCheckpoint("one"), "CLOSED");
    await rejects(sw.append("k", b("v")), "CLOSED");

    sw = await ShardedWal.open({ root: "/r", fs }, 4);
    assert.deepEqual(sw.recovery.checkpoints.repairs, []);
    assert.deepEqual(sw.recovery.wal.warnings, [], "SHARDS, HEAD and checkpoints.log are not reported as strays");
    assert.equal(sw.recovery.checkpoints.records, 3);
    assert.deepEqual(await sw.loadCheckpoint("one"), cp1b);
    assert.deepEqual(await sw.loadCheckpoint(new Uint8Array([0, 255, 1])), cp2);
    assert.deepEqual((await sw.loadLatestCheckpoint()).checkpoint, cp1b);
    assert.deepEqual(sw.stats().shardNextIds, counts);
    // Replay from a checkpoint: every entry at or above its offsets.
    const r = await sw.append("after", b("after"));
    const tail = await collect(sw, r.shardId, cp1b.offsets[r.shardId]);
    assert.deepEqual(tail, [{ id: r.seqId, data: "after" }]);
    await sw.close();
  });

  it("checks checkpoint ids: 1..65535 bytes", async () => {
    const sw = await ShardedWal.open({ root: "/r", fs: new MemoryFs() }, 2);
    await rejects(sw.createCheckpoint(""), "CONFIG");
    await rejects(sw.createCheckpoint(new Uint8Array(0)), "CONFIG");
    await rejects(sw.createCheckpoint(new Uint8Array(65536)), "CONFIG");
    await rejects(sw.createCheckpoint(7 as unknown as string), "CONFIG");
    await rejects(sw.loadCheckpoint(""), "CONFIG");
    const big = new Uint8Array(65535).fill(7);
    await sw.createCheckpoint(big);
    assert.deepEqual((await sw.loadCheckpoint(big)).id, big);
    const multi = "snapshot ✓ 雪";
    await sw.createCheckpoint(multi);
    assert.equal(dec.decode((await sw.loadLatestCheckpoint()).id), multi);
    await sw.close();
  });

  it("records the shard count: another count is SHARD_COUNT_MISMATCH; a lost SHARDS file is rebuilt", async () => {
    const fs = new MemoryFs();
    let sw = await ShardedWal.open({ root: "/r", fs }, 4);
    for (let i = 0; i < 20; i++) await sw.append(`k${i}`, b("v"));
    await sw.createCheckpoint("c");
    await sw.close();
    const msg = await rejects(ShardedWal.open({ root: "/r", fs }, 8), "SHARD_COUNT_MISMATCH");
    assert.match(msg, /4 shards/);
    await rejects(ShardedWal.open({ root: "/r", fs }, 3), "SHARD_COUNT_MISMATCH");
    // The failed opens released the lock.
    sw = await ShardedWal.open({ root: "/r", fs }, 4);
    await sw.close();

    fs.remove("/r/SHARDS");
    await rejects(ShardedWal.open({ root: "/r", fs }, 2), "SHARD_COUNT_MISMATCH");
    sw = await ShardedWal.open({ root: "/r", fs }, 4);
    assert.equal(sw.recovery.repairs.length, 1, sw.recovery.repairs.join("\n"));
    await sw.close();
    const meta = readAll(fs, "/r/SHARDS");
    meta[9] ^= 1;
    writeFile(fs, "/r/SHARDS", meta);
    await rejects(ShardedWal.open({ root: "/r", fs }, 5), "SHARD_COUNT_MISMATCH");
    sw = await ShardedWal.open({ root: "/r", fs }, 4);
    assert.match(sw.recovery.repairs.join("\n"), /CRC mismatch/);
    assert.deepEqual((await sw.loadCheckpoint("c")).offsets.length, 4);
    await sw.close();
  });

  it("HEAD damaged, missing, stale or naming nothing: latest still loads, open repairs it", async () => {
    const fs = new MemoryFs();
    let sw = await ShardedWal.open({ root: "/r", fs }, 3);
    await sw.append("a", b("1"));
    await sw.createCheckpoint("c1");
    await sw.append("b", b("2"));
    const c2 = await sw.createCheckpoint("c2");
    const head = readAll(fs, "/r/HEAD");
    assert.equal(head.length, 28);
    const cases: Array<[string, () => void]> = [
      ["missing", () => fs.remove("/r/HEAD")],
      ["bad crc", () => writeFile(fs, "/r/HEAD", head.map((x, i) => (i === 10 ? x ^ 0x40 : x)))],
      ["short", () => writeFile(fs, "/r/HEAD", head.subarray(0, 13))],
      ["garbage", () => writeFile(fs, "/r/HEAD", b("not a head file at all, no"))],
      ["stale (names c1)", () => {
        const l = readAll(fs, "/r/checkpoints.log");
        const len1 = getU32(l, 4);
        writeFile(fs, "/r/HEAD", encodeHead({ offset: 0, length: len1, crc: getU32(l, len1 - 4) }));
      }],
      ["names nothing (beyond the log)", () => writeFile(fs, "/r/HEAD", encodeHead({ offset: 100000, length: 60, crc: 1 }))],
      ["names the middle of a record", () => writeFile(fs, "/r/HEAD", encodeHead({ offset: 3, length: 60, crc: getU32(head, 20) }))],
    ];
    for (const [what, damage] of cases) {
      damage();
      assert.deepEqual((await sw.loadLatestCheckpoint()).checkpoint, c2, what);
    }
    await sw.close();
    for (const [what, damage] of cases) {
      damage();
      sw = await ShardedWal.open({ root: "/r", fs }, 3);
      assert.ok(sw.recovery.checkpoints.headRepaired, what);
      assert.deepEqual((await sw.loadLatestCheckpoint()).checkpoint, c2, what);
      assert.deepEqual(readAll(fs, "/r/HEAD"), head, `${what}: HEAD rewritten to name c2`);
      await sw.close();
    }
    // A HEAD with no checkpoint behind it is removed.
    const fs2 = new MemoryFs();
    fs2.mkdir("/r");
    writeFile(fs2, "/r/HEAD", head);
    sw = await ShardedWal.open({ root: "/r", fs: fs2 }, 3);
    assert.ok(sw.recovery.checkpoints.headRepaired);
    assert.equal(fs2.stat("/r/HEAD"), undefined);
    await rejects(sw.loadLatestCheckpoint(), "NO_CHECKPOINTS");
    await sw.close();
  });

  it("a torn checkpoints.log tail is cut at every byte of the last record; earlier checkpoints stay", async () => {
    const fs = new MemoryFs();
    let sw = await ShardedWal.open({ root: "/r", fs }, 5);
    const made: Checkpoint[] = [];
    for (let i = 0; i < 3; i++) {
      await sw.append(`k${i}`, b("v"));
      made.push(await sw.createCheckpoint(`checkpoint-${i}`));
    }
    await sw.close();
    const full = readAll(fs, "/r/checkpoints.log");
    const head = readAll(fs, "/r/HEAD");
    const lastLen = 28 + 8 * 5 + "checkpoint-2".length;
    const lastAt = full.length - lastLen;
    const check = async (what: string, expectCut: number) => {
      sw = await ShardedWal.open({ root: "/r", fs }, 5);
      assert.equal(sw.recovery.checkpoints.corruptionDetected, false, what);
      assert.equal(sw.recovery.checkpoints.bytesTruncated, expectCut, what);
      assert.deepEqual(ids(await sw.listCheckpoints()), ["checkpoint-0", "checkpoint-1"], what);
      assert.deepEqual((await sw.loadLatestCheckpoint()).checkpoint, made[1], what);
      await rejects(sw.loadCheckpoint("checkpoint-2"), "CHECKPOINT_NOT_FOUND");
      await sw.close();
      assert.equal(fs.stat("/r/checkpoints.log")?.size, lastAt, what);
    };
    for (let cut = 0; cut < lastLen; cut++) {
      writeFile(fs, "/r/checkpoints.log", full.subarray(0, lastAt + cut));
      writeFile(fs, "/r/HEAD", head);
      await check(`cut at ${cut}`, cut);
    }
    for (let at = 0; at < lastLen; at++) {
      const bad = full.slice();
      bad[lastAt + at] ^= 0x5a;
      writeFile(fs, "/r/checkpoints.log", bad);
      await check(`byte ${at} of the last record flipped`, lastLen);
    }
    const zeros = new Uint8Array(lastAt + 4096);
    zeros.set(full.subarray(0, lastAt));
    writeFile(fs, "/r/checkpoints.log", zeros);
    await check("a tail of zeros", 4096);
  });

  it("damage followed by valid records is CORRUPTION, salvaged with onCorruption truncate", async () => {
    const fs = new MemoryFs();
    let sw = await ShardedWal.open({ root: "/r", fs }, 2);
    for (let i = 0; i < 4; i++) await sw.createCheckpoint(`c${i}`);
    await sw.close();
    const full = readAll(fs, "/r/checkpoints.log");
    const recLen = full.length / 4;
    const bad = full.slice();
    bad[recLen + 30] ^= 1; // inside c1's offsets
    writeFile(fs, "/r/checkpoints.log", bad);
    const msg = await rejects(ShardedWal.open({ root: "/r", fs }, 2), "CORRUPTION");
    assert.match(msg, new RegExp(`offset ${recLen}`));
    assert.match(msg, /truncate/);
    sw = await ShardedWal.open({ root: "/r", fs, onCorruption: "truncate" }, 2);
    assert.ok(sw.recovery.checkpoints.corruptionDetected);
    assert.equal(sw.recovery.checkpoints.bytesTruncated, recLen);
    assert.deepEqual(ids(await sw.listCheckpoints()), ["c0", "c2", "c3"]);
    await sw.close();
    sw = await ShardedWal.open({ root: "/r", fs }, 2);
    assert.equal(sw.recovery.checkpoints.corruptionDetected, false);
    assert.deepEqual(ids(await sw.listCheckpoints()), ["c0", "c2", "c3"]);
    assert.equal(dec.decode((await sw.loadLatestCheckpoint()).id), "c3");
    await sw.close();
  });

  it("a record damaged after open gives CHECKPOINT_CORRUPTED", async () => {
    const fs = new MemoryFs();
    const sw = await ShardedWal.open({ root: "/r", fs }, 2);
    await sw.createCheckpoint("a");
    await sw.createCheckpoint("b");
    const f = fs.open("/r/checkpoints.log", "write");
    const one = new Uint8Array(1);
    f.read(one, 13);
    one[0] ^= 0xff;
    f.write(one, 13);
    f.close();
    await rejects(sw.loadCheckpoint("a"), "CHECKPOINT_CORRUPTED");
    await rejects(sw.listCheckpoints(), "CHECKPOINT_CORRUPTED");
    assert.equal(dec.decode((await sw.loadCheckpoint("b")).id), "b");
    const f2 = fs.open("/r/checkpoints.log", "write");
    const recLen = f2.size() / 2;
    f2.read(one, recLen + 13);
    one[0] ^= 0xff;
    f2.write(one, recLen + 13);
    f2.close();
    const size = fs.stat("/r/checkpoints.log")?.size;
    await rejects(sw.compactCheckpoints(1), "CHECKPOINT_CORRUPTED");
    assert.equal(fs.stat("/r/checkpoints.log")?.size, size, "a failed compaction changes nothing");
    await sw.close();
  });
});

describe("ShardedWal maintenance", () => {
  function segmentsOf(fs: WalFs, dir: string): number[] {
    if (fs.stat(dir) === undefined) return [];
    return fs.readDir(dir).filter((e) => e.name.endsWith(".wal")).map((e) => Number(e.name.slice(0, 20))).sort((x, y) => x - y);
  }

  it("pruneBeforeCheckpoint deletes only whole segments below the offsets, never an active one", async () => {
    const fs = new MemoryFs();
    const sw = await ShardedWal.open({ root: "/r", fs, maxSegmentSize: 300 }, 4);
    for (let i = 0; i < 120; i++) await sw.append(`k${i}`, b(`value-${i}`.padEnd(40, ".")));
    const cp = await sw.createCheckpoint("mid");
    for (let i = 120; i < 200; i++) await sw.append(`k${i}`, b(`value-${i}`.padEnd(40, ".")));
    await sw.createCheckpoint("end");
    let expectDeleted = 0;
    let expectShards = 0;
    for (let s = 0; s < 4; s++) {
      const segs = segmentsOf(fs, `/r/shard-000${s}`);
      let n = 0;
      while (n + 1 < segs.length && segs[n + 1] <= cp.offsets[s]) n++;
      expectDeleted += n;
      if (n > 0) expectShards++;
    }
    assert.ok(expectDeleted > 4, `setup: ${expectDeleted} deletable segments`);
    const r = await sw.pruneBeforeCheckpoint("mid");
    assert.deepEqual(r, { segmentsDeleted: expectDeleted, shardsPruned: expectShards });
    for (let s = 0; s < 4; s++) {
      const segs = segmentsOf(fs, `/r/shard-000${s}`);
      assert.ok(segs[0] <= cp.offsets[s], "nothing at or above the offset is gone");
      const entries = await collect(sw, s, cp.offsets[s]);
      assert.equal(entries.length, sw.nextId(s) - cp.offsets[s]);
      assert.equal(entries[0]?.id ?? cp.offsets[s], cp.offsets[s]);
    }
    assert.deepEqual(await sw.pruneBeforeCheckpoint("mid"), { segmentsDeleted: 0, shardsPruned: 0 });
    const end = await sw.loadCheckpoint("end");
    await sw.pruneBeforeCheckpoint("end");
    for (let s = 0; s < 4; s++) {
      const segs = segmentsOf(fs, `/r/shard-000${s}`);
      assert.ok(segs.length >= 1, "the active segment stays");
      assert.ok(segs[0] <= end.offsets[s]);
    }
    await rejects(sw.pruneBeforeCheckpoint("nope"), "CHECKPOINT_NOT_FOUND");
    await sw.close();
  });

  it("compactCheckpoints keeps the newest, reports counts and bytes, and HEAD stays valid", async () => {
    const fs = new MemoryFs();
    let sw = await ShardedWal.open({ root: "/r", fs }, 3);
    for (let i = 0; i < 10; i++) {
      await sw.append(`k${i}`, b("v"));
      await sw.createCheckpoint(`c${i}`);
    }
    await sw.createCheckpoint("c3"); // supersedes the old c3
    const before = sw.stats().checkpointLogBytes;
    await rejects(sw.compactCheckpoints(0), "CONFIG");
    await rejects(sw.compactCheckpoints(1.5), "CONFIG");
    const r = await sw.compactCheckpoints(4);
    assert.deepEqual(r, { checkpointsBefore: 10, checkpointsAfter: 4, bytesReclaimed: before - sw.stats().checkpointLogBytes });
    assert.equal(r.bytesReclaimed, 7 * (28 + 24 + 2));
    assert.deepEqual(ids(await sw.listCheckpoints()), ["c7", "c8", "c9", "c3"]);
    assert.equal(dec.decode((await sw.loadLatestCheckpoint()).id), "c3");
    await rejects(sw.loadCheckpoint("c0"), "CHECKPOINT_NOT_FOUND");
    assert.deepEqual(await sw.compactCheckpoints(4), { checkpointsBefore: 4, checkpointsAfter: 4, bytesReclaimed: 0 });
    await sw.createCheckpoint("c10");
    await sw.close();
    sw = await ShardedWal.open({ root: "/r", fs }, 3);
    assert.equal(sw.recovery.checkpoints.headRepaired, false);
    assert.deepEqual(sw.recovery.checkpoints.repairs, []);
    assert.deepEqual(ids(await sw.listCheckpoints()), ["c7", "c8", "c9", "c3", "c10"]);
    assert.deepEqual(await sw.compactCheckpoints(1), { checkpointsBefore: 5, checkpointsAfter: 1, bytesReclaimed: 4 * 54 + 1 * 0 });
    assert.deepEqual(ids(await sw.listCheckpoints()), ["c10"]);
    await sw.close();
  });

  it("compaction and creation are serialised", async () => {
    const sw = await ShardedWal.open({ root: "/r", fs: new MemoryFs() }, 2);
    const ps: Promise<unknown>[] = [];
    for (let i = 0; i < 20; i++) {
      ps.push(sw.createCheckpoint(`c${i}`));
      if (i % 5 === 4) ps.push(sw.compactCheckpoints(3));
    }
    await Promise.all(ps);
    assert.deepEqual(ids(await sw.listCheckpoints()), ["c17", "c18", "c19"]);
    await sw.close();
  });
});

describe("ShardedWal concurrency", () => {
  for (const syncMode of ["strict", "async", "batch-only"] as SyncMode[]) {
    it(`checkpoints racing many appenders are consistent cuts (${syncMode})`, async () => {
      const fs = new MemoryFs();
      const N = 8;
      const sw = await ShardedWal.open({ root: "/r", fs, syncMode, maxSegmentSize: 2048 }, N);
      const acked = new Array(N).fill(0);
      const batches: Array<{ shard: number; start: number; end: number }> = [];
      const cps: Checkpoint[] = [];
      let done = false;
      const appender = async (w: number) => {
        for (let i = 0; i < 60; i++) {
          if (i % 7 === w % 7) await new Promise((r) => setTimeout(r, 0)); // let checkpoints interleave
          if (i % 6 === 5) {
            const pairs: Array<[string, Uint8Array]> = [0, 1, 2, 3].map((j) => [`w${w}-${i}-${j}`, b(`w${w}-${i}-${j}`)]);
            const rs = await sw.appendBatch(pairs);
            const byShard = new Map<number, number[]>();
            for (const r of rs) byShard.set(r.shardId, [...(byShard.get(r.shardId) ?? []), r.seqId]);
            for (const [shard, seqs] of byShard) {
              const start = Math.min(...seqs);
              const end = Math.max(...seqs) + 1;
              assert.equal(end - start, seqs.length, "a shard's part of a batch has contiguous ids");
              batches.push({ shard, start, end });
              acked[shard] = Math.max(acked[shard], end);
            }
          } else {
            const r = await sw.append(`w${w}-${i}`, b(`w${w}-${i}`));
            acked[r.shardId] = Math.max(acked[r.shardId], r.seqId + 1);
          }
        }
      };
      const checkpointer = async (c: number) => {
        let n = 0;
        while (!done) {
          const snap = acked.slice();
          const cp = await sw.createCheckpoint(`cp-${c}-${n++}`);
          for (let s = 0; s < N; s++) {
            assert.ok(snap[s] <= cp.offsets[s], `shard ${s}: acknowledged ${snap[s]} before the call, offset ${cp.offsets[s]}`);
            assert.ok(cp.offsets[s] <= sw.nextId(s));
          }
          cps.push(cp);
          await new Promise((r) => setTimeout(r, 0));
        }
      };
      const writers = Array.from({ length: 64 }, (_, w) => appender(w));
      const checkers = [checkpointer(0), checkpointer(1), checkpointer(2)];
      await Promise.all(writers);
      done = true;
      await Promise.all(checkers);
      assert.ok(cps.length >= 10, `${cps.length} checkpoints`);
      assert.ok(cps.some((cp) => cp.offsets.some((o, s) => o > 0 && o < sw.nextId(s))), "some checkpoints fell mid-workload");
      for (let i = 1; i < cps.length; i++) {
        for (let s = 0; s < N; s++) assert.ok(cps[i - 1].offsets[s] <= cps[i].offsets[s], "offsets never go back");
      }
      for (const cp of cps) {
        for (const bt of batches) {
          const off = cp.offsets[bt.shard];
          assert.ok(!(bt.start < off && off < bt.end), `offset ${off} splits batch ${bt.start}..${bt.end} of shard ${bt.shard}`);
        }
        assert.deepEqual(await sw.loadCheckpoint(cp.id), cp);
      }
      await sw.close();
    });
  }
});

describe("ShardedWal crash safety (FaultyFs)", () => {
  async function workload(sw: ShardedWal, out: {
    acked: Array<{ shard: number; seq: number; value: string }>;
    cps: Checkpoint[];
  }): Promise<void> {
    let stop = false;
    const appender = async (w: number) => {
      for (let i = 0; i < 25 && !stop; i++) {
        if (i % 4 === w % 4) await new Promise((r) => setTimeout(r, 0)); // let checkpoints interleave
        try {
          if (i % 5 === 4) {
            const pairs: Array<[string, Uint8Array]> = [`w${w}-${i}-a`, `w${w}-${i}-b`, `w${w}-${i}-c`].map((k) => [k, b(k)]);
            const rs = await sw.appendBatch(pairs);
            rs.forEach((r, j) => out.acked.push({ shard: r.shardId, seq: r.seqId, value: pairs[j][0] }));
          } else {
            const k = `w${w}-${i}`;
            const r = await sw.append(k, b(k));
            out.acked.push({ shard: r.shardId, seq: r.seqId, value: k });
          }
        } catch {
          stop = true;
        }
      }
    };
    const checkpointer = async () => {
      for (let n = 0; !stop && n < 1000; n++) {
        try {
          out.cps.push(await sw.createCheckpoint(`cp-${n}`));
        } catch {
          stop = true;
        }
        await new Promise((r) => setTimeout(r, 0));
      }
    };
    const ws = Array.from({ length: 8 }, (_, w) => appender(w));
    const c = checkpointer();
    await Promise.all(ws);
    stop = true;
    await c;
  }

  async function verify(fs: FaultyFs, mode: SyncMode, out: { acked: Array<{ shard: number; seq: number; value: string }>; cps: Checkpoint[] }, what: string) {
    const sw = await ShardedWal.open({ root: "/r", fs }, 4);
    for (const cp of out.cps) {
      const got = await sw.loadCheckpoint(cp.id);
      assert.deepEqual(got.offsets, cp.offsets, `${what}: ${dec.decode(cp.id)}`);
      for (let s = 0; s < 4; s++) {
        assert.ok(cp.offsets[s] <= sw.nextId(s), `${what}: ${dec.decode(cp.id)} shard ${s} offset ${cp.offsets[s]} > nextId ${sw.nextId(s)}`);
      }
    }
    for (const cp of await sw.listCheckpoints()) {
      // Resolved or not: whatever a record in the log says must be durable.
      for (let s = 0; s < 4; s++) assert.ok(cp.offsets[s] <= sw.nextId(s), `${what}: ${dec.decode(cp.id)} shard ${s}`);
    }
    const maxOff = [0, 0, 0, 0];
    for (const cp of out.cps) for (let s = 0; s < 4; s++) maxOff[s] = Math.max(maxOff[s], cp.offsets[s]);
    const stored: Array<Map<number, string>> = [];
    for (let s = 0; s < 4; s++) {
      const m = new Map<number, string>();
      let expect = 0;
      for (const e of await collect(sw, s)) {
        assert.equal(e.id, expect++, `${what}: ids contiguous`);
        assert.equal(sw.shardFor(e.data), s, `${what}: entry ${e.id} of shard ${s} is a value routed there`);
        m.set(e.id, e.data);
      }
      assert.ok(expect >= maxOff[s], `${what}: shard ${s} reads back ${expect} entries, a checkpoint says ${maxOff[s]}`);
      stored.push(m);
    }
    if (mode === "strict") {
      for (const a of out.acked) assert.equal(stored[a.shard].get(a.seq), a.value, `${what}: acknowledged entry ${a.shard}/${a.seq}`);
    }
    // The reopened log keeps working.
    await sw.append("after-crash", b("after-crash"));
    await sw.createCheckpoint("after-crash");
    await sw.close();
  }

  for (const mode of ["strict", "async"] as SyncMode[]) {
    it(`every resolved checkpoint survives a power loss at any point (${mode})`, async () => {
      // How many mutating operations the whole workload takes without a crash.
      const probe = new FaultyFs();
      const swp = await ShardedWal.open({ root: "/r", fs: probe, syncMode: mode, maxSegmentSize: 400 }, 4);
      const base = probe.opCount;
      await workload(swp, { acked: [], cps: [] });
      const total = probe.opCount - base;
      await swp.close();
      const step = Math.max(1, Math.floor(total / 60));
      let crashes = 0;
      for (let k = 0; k <= total + step; k += step) {
        const fs = new FaultyFs();
        const sw = await ShardedWal.open({ root: "/r", fs, syncMode: mode, maxSegmentSize: 400 }, 4);
        const out = { acked: [] as Array<{ shard: number; seq: number; value: string }>, cps: [] as Checkpoint[] };
        fs.crashAfterOp(k);
        await workload(sw, out);
        if (fs.crashed) crashes++;
        const torn = (["none", "prefix", "pages"] as const)[k % 3];
        fs.crash({ torn, rng: seededRng(k) });
        await verify(fs, mode, out, `${mode} crash after op ${k} (${torn})`);
      }
      assert.ok(crashes > 30, `${crashes} runs crashed mid-workload`);
    });
  }

  it("a checkpoint record durable before a power loss never has offsets above the recovered data", async () => {
    // Appends issued after d microtask hops land at every point of createCheckpoint,
    // including between its shard sync and its record; the power fails right after
    // the record's fsync, before anything else is written.
    for (let depth = 0; depth < 24; depth++) {
      const fs = new FaultyFs();
      const sw = await ShardedWal.open({ root: "/r", fs }, 2);
      for (let i = 0; i < 5; i++) await sw.append(`k${i}`, b(`k${i}`));
      fs.onOp = (op, path) => {
        if (op === "datasync" && path.endsWith("checkpoints.log")) fs.crashAfterOp(0);
      };
      const racers: Promise<unknown>[] = [];
      for (let d = 0; d <= depth; d++) {
        let p: Promise<unknown> = Promise.resolve();
        for (let j = 0; j < depth; j++) p = p.then(() => {});
        racers.push(p.then(() => sw.append(`r${d}`, b(`r${d}`))).catch(() => {}));
      }
      const cp = sw.createCheckpoint("c").catch(() => undefined);
      await Promise.all(racers);
      await cp;
      fs.onOp = undefined;
      fs.crash();
      const sw2 = await ShardedWal.open({ root: "/r", fs }, 2);
      const list = await sw2.listCheckpoints();
      assert.equal(list.length, 1, "the record was fsynced");
      for (let s = 0; s < 2; s++) {
        assert.ok(list[0].offsets[s] <= sw2.nextId(s), `depth ${depth}: shard ${s} offset ${list[0].offsets[s]} > ${sw2.nextId(s)} recovered`);
      }
      await sw2.close();
    }
  });

  it("a power loss at every step of createCheckpoint and compactCheckpoints loses no resolved checkpoint", async () => {
    const setup = async (fs: FaultyFs) => {
      const sw = await ShardedWal.open({ root: "/r", fs, maxSegmentSize: 300 }, 3);
      const cps: Checkpoint[] = [];
      for (let i = 0; i < 6; i++) {
        await sw.append(`k${i}`, b(`k${i}`));
        cps.push(await sw.createCheckpoint(`c${i}`));
      }
      return { sw, cps };
    };
    for (const op of ["create", "compact"] as const) {
      let k = 0;
      for (;; k++) {
        const fs = new FaultyFs();
        const { sw, cps } = await setup(fs);
        fs.crashAfterOp(k);
        let resolved = false;
        try {
          if (op === "create") cps.push(await sw.createCheckpoint("new"));
          else await sw.compactCheckpoints(2);
          resolved = true;
        } catch (e) {
          assert.ok(fs.crashed, `${op} at op ${k}: ${String(e)}`);
        }
        const wasDown = fs.crashed;
        fs.crash({ torn: "pages", rng: seededRng(k) });
        const sw2 = await ShardedWal.open({ root: "/r", fs }, 3);
        const list = ids(await sw2.listCheckpoints());
        if (op === "create") {
          for (const cp of cps) assert.deepEqual(await sw2.loadCheckpoint(cp.id), cp, `create, crash at op ${k}`);
          assert.ok(list.length === 6 || list.length === 7, `create, crash at op ${k}: ${list}`);
          assert.equal(dec.decode((await sw2.loadLatestCheckpoint()).id), list[list.length - 1]);
        } else {
          const all = cps.map((c) => dec.decode(c.id));
          if (resolved) assert.deepEqual(list, ["c4", "c5"], `compact resolved, crash at op ${k}`);
          else assert.ok(JSON.stringify(list) === JSON.stringify(all) || JSON.stringify(list) === JSON.stringify(["c4", "c5"]), `compact, crash at op ${k}: ${list}`);
          for (const id of list) assert.deepEqual(await sw2.loadCheckpoint(id), cps.find((c) => dec.decode(c.id) === id));
          assert.deepEqual((await sw2.loadLatestCheckpoint()).checkpoint, cps[5]);
        }
        await sw2.close();
        if (resolved && !wasDown) break;
      }
      assert.ok(k >= 4, `${op} took ${k} operations`);
    }
  });
});

describe("ShardedWal on the real file system", () => {
  it("creates the layout, reopens, refuses another count and a second open", async () => {
    const dir = nfs.mkdtempSync(os.tmpdir() + "/ironwal-sharded-");
    try {
      const root = dir + "/data";
      let sw = await ShardedWal.open({ root }, 4);
      const results = await Promise.all(Array.from({ length: 200 }, (_, i) => sw.append(`k${i}`, b(`v${i}`))));
      await sw.appendBatch([["a", b("A")], ["b", b("B")]]);
      const cp = await sw.createCheckpoint("raft_index_200");
      await rejects(ShardedWal.open({ root }, 4), "LOCKED");
      await sw.close();
      const names = nfs.readdirSync(root).sort();
      for (const n of ["HEAD", "SHARDS", "checkpoints.log", "shard-0000", "shard-0001", "shard-0002", "shard-0003"]) {
        assert.ok(names.includes(n), `${n} in ${names}`);
      }
      await rejects(ShardedWal.open({ root }, 16), "SHARD_COUNT_MISMATCH");
      sw = await ShardedWal.open({ root }, 4);
      const { id, checkpoint } = await sw.loadLatestCheckpoint();
      assert.equal(dec.decode(id), "raft_index_200");
      assert.deepEqual(checkpoint, cp);
      for (const r of results.slice(0, 20)) {
        const got = await collect(sw, r.shardId, r.seqId, r.seqId + 1);
        assert.equal(got.length, 1);
      }
      let total = 0;
      for (let s = 0; s < 4; s++) total += checkpoint.offsets[s];
      assert.equal(total, 202);
      await sw.close();
    } finally {
      nfs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
