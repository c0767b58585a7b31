/**
 * Group commit across streams (SPEC §4 durability contract, §5 ShardedWal):
 * in "strict" and "batch-only" modes a group commit that must fsync the files
 * of several streams starts their fdatasyncs at once (`WalFile.datasyncAsync`)
 * and settles the appends only when the last one ends. Checked here with a
 * file system whose background syncs the test holds and releases: no append
 * settles before the sync of its file, appends written meanwhile wait for the
 * next round, a failed sync fails the round, close and sync in the middle of
 * a round, and crashes at every operation of such a workload (FaultyFs).
 * Runs unchanged under `deno test -A`, `bun test` and `node --test`.
 */

import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { Wal } from "../src/wal.ts";
import { ShardedWal } from "../src/sharded/sharded_wal.ts";
import type { WalFile, WalFs } from "../src/io.ts";
import type { WalEvent } from "../src/options.ts";
import { MemoryFs } from "../adapters/memory.ts";
import { FaultyFs } from "../adapters/faulty.ts";
import { defaultFs } from "../adapters/default.ts";
import { b, isWalError, rejectsCode, removeDir, s, tempDir } from "./_wal_util.ts";

/** One background fdatasync the test has not released yet. */
interface HeldSync {
  path: string;
  /** The file's size when the sync was asked for. */
  size: number;
  release(): void;
  fail(code: string): void;
}

/**
 * A MemoryFs whose files offer `datasyncAsync` that waits for the test:
 * every call is held in `held` until released (or, with `auto`, released in
 * a macrotask). Records the most syncs in flight at once and, per path, the
 * size last made durable (by either datasync).
 */
class GateFs {
  readonly fs: WalFs;
  readonly held: HeldSync[] = [];
  auto = false;
  inFlight = 0;
  maxInFlight = 0;
  asyncCalls = 0;
  readonly durable = new Map<string, number>();

  constructor(inner: WalFs = new MemoryFs()) {
    const wrapFile = (f: WalFile, path: string): WalFile =>
      new Proxy(f, {
        get: (t, k) => {
          if (k === "datasync") {
            return () => {
              t.datasync();
              this.durable.set(path, t.size());
            };
          }
          if (k === "datasyncAsync") return () => this.#syncLater(t, path);
          const v = Reflect.get(t, k);
          return typeof v === "function" ? v.bind(t) : v;
        },
      });
    this.fs = new Proxy(inner, {
      get: (t, k) => {
        if (k === "open") return (path: string, mode: "read" | "write" | "create") => wrapFile(t.open(path, mode), path);
        const v = Reflect.get(t, k);
        return typeof v === "function" ? v.bind(t) : v;
      },
    });
  }

  #syncLater(f: WalFile, path: string): Promise<void> {
    const size = f.size();
    this.asyncCalls++;
    this.inFlight++;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    return new Promise<void>((resolve, reject) => {
      const h: HeldSync = {
        path,
        size,
        release: () => {
          this.inFlight--;
          // What was written before the call is durable now (the file may have grown since).
          this.durable.set(path, Math.max(this.durable.get(path) ?? 0, size));
          resolve();
        },
        fail: (code) => {
          this.inFlight--;
          reject(Object.assign(new Error(`${code}: fdatasync ${path}`), { code }));
        },
      };
      if (this.auto) setTimeout(h.release, 0);
      else this.held.push(h);
    });
  }

  /** Releases every held sync; returns how many. */
  releaseAll(): number {
    const hs = this.held.splice(0);
    for (const h of hs) h.release();
    return hs.length;
  }
}

/** Lets the Wal's drain (microtasks, setImmediate) and settled promises run. */
function settle(): Promise<void> {
  return new Promise((res) => setTimeout(res, 5));
}

/** A promise's state, observed without awaiting it. */
function track<T>(p: Promise<T>): { done: boolean; value?: T; error?: unknown } {
  const st: { done: boolean; value?: T; error?: unknown } = { done: false };
  p.then((v) => {
    st.done = true;
    st.value = v;
  }, (e) => {
    st.done = true;
    st.error = e;
  });
  return st;
}

const STREAMS = ["a", "b", "c", "d"];

describe("group commit across streams", () => {
  it("strict: the files of several streams are fdatasynced at once, and no append settles before its file's sync", async () => {
    const g = new GateFs();
    const events: WalEvent[] = [];
    const wal = await Wal.open({ root: "/w", fs: g.fs, syncMode: "strict", meter: (e) => events.push(e) });
    const ps = STREAMS.map((k) => track(wal.append(k, b(`${k}0`))));
    await settle();
    assert.equal(g.held.length, 4, "one background sync per stream's file");
    assert.equal(g.maxInFlight, 4, "all four at once");
    assert.deepEqual(g.held.map((h) => h.path.split("/")[2]).sort(), STREAMS);
    assert.ok(ps.every((p) => !p.done), "no append settles while its file's sync runs");
    for (const k of STREAMS) assert.equal(wal.syncedId(k), 0, `stream ${k}: not durable before its sync ends`);
    // Releasing three of four settles nothing: the round waits for its last sync.
    for (const h of g.held.splice(0, 3)) h.release();
    await settle();
    assert.ok(ps.every((p) => !p.done), "the round settles when its last sync ends");
    assert.equal(g.releaseAll(), 1);
    await settle();
    assert.deepEqual(ps.map((p) => p.value), [0, 0, 0, 0]);
    const fsync = events.filter((e) => e.type === "fsync");
    assert.ok(fsync.some((e) => e.type === "fsync" && e.files === 4), "one fsync event for the four files");
    assert.ok(wal.stats().fsyncs >= 4, "the four files count as fsyncs");
    for (const k of STREAMS) assert.equal(wal.syncedId(k), 1, `stream ${k}: the entry counts as durable`);
    await wal.close();
  });

  it("strict: appends written while a round runs wait for the next round, and settle after the first round's", async () => {
    const g = new GateFs();
    const wal = await Wal.open({ root: "/w", fs: g.fs, syncMode: "strict" });
    const order: string[] = [];
    const first = STREAMS.map((k) => wal.append(k, b(`${k}0`)).then((id) => order.push(`${k}${id}`)));
    await settle();
    assert.equal(g.held.length, 4);
    const heldSizes = new Map(g.held.map((h) => [h.path, h.size]));
    const second = ["a", "b"].map((k) => track(wal.append(k, b(`${k}1`))));
    await settle();
    // Written to the OS already (readable), but no new sync starts while one runs.
    assert.equal(s(wal.getSync("a", 1)), "a1");
    assert.equal(g.held.length, 4, "no second round while the first runs");
    g.releaseAll();
    await Promise.all(first);
    await settle();
    assert.ok(second.every((p) => !p.done), "the first round's syncs began before these were written");
    assert.equal(g.held.length, 2, "the next round syncs the two streams written meanwhile");
    for (const h of g.held) assert.ok(h.size > heldSizes.get(h.path)!, `${h.path}: synced again, grown`);
    g.releaseAll();
    await settle();
    assert.deepEqual(second.map((p) => p.value), [1, 1]);
    assert.deepEqual(order.sort(), ["a0", "b0", "c0", "d0"]);
    await wal.close();
  });

  it("one dirty stream is fdatasynced in the foreground, as before", async () => {
    const g = new GateFs();
    const wal = await Wal.open({ root: "/w", fs: g.fs, syncMode: "strict" });
    for (const k of STREAMS) await wal.append(k, b(k));
    for (let i = 0; i < 5; i++) assert.equal(await wal.append("a", b(`a${i}`)), i + 1);
    assert.equal(g.asyncCalls, 0, "no background sync for one file at a time");
    await wal.close();
  });

  it("batch-only: batches wait for the round, single appends do not", async () => {
    const g = new GateFs();
    const wal = await Wal.open({ root: "/w", fs: g.fs, syncMode: "batch-only" });
    const batches = STREAMS.map((k) => track(wal.appendBatch(k, [b(`${k}0`), b(`${k}1`)])));
    const single = track(wal.append("a", b("a2")));
    await settle();
    assert.equal(g.held.length, 4);
    assert.equal(single.done, true, "an append in batch-only mode does not wait for an fsync");
    assert.equal(single.value, 2);
    assert.ok(batches.every((p) => !p.done));
    g.releaseAll();
    await settle();
    assert.deepEqual(batches.map((p) => p.value), STREAMS.map(() => ({ start: 0, end: 2 })));
    await wal.close();
  });

  it("sync() and the interval timer sync the dirty streams' files at once too", async () => {
    const g = new GateFs();
    const wal = await Wal.open({ root: "/w", fs: g.fs, syncMode: "async" });
    for (const k of STREAMS) assert.equal(await wal.append(k, b(k)), 0);
    const p = track(wal.sync());
    await settle();
    assert.equal(g.held.length, 4, "one background sync per stream");
    assert.equal(p.done, false, "sync() waits for them");
    for (const k of STREAMS) assert.equal(wal.syncedId(k), 0);
    // A second sync() while they run waits for a round of its own.
    await wal.append("a", b("a1"));
    const q = track(wal.sync());
    g.releaseAll();
    await settle();
    assert.equal(p.done, true);
    assert.equal(p.error, undefined);
    assert.equal(q.done, true, "the round after finds one dirty stream and syncs it in the foreground");
    assert.equal(wal.syncedId("a"), 2);
    for (const k of STREAMS.slice(1)) assert.equal(wal.syncedId(k), 1);
    await wal.close();

    const h = new GateFs();
    const iw = await Wal.open({ root: "/i", fs: h.fs, syncMode: "interval", syncIntervalMs: 5 });
    for (const k of STREAMS) await iw.append(k, b(k));
    await new Promise((res) => setTimeout(res, 40));
    assert.equal(h.held.length, 4, "the timer's sync: four at once");
    h.releaseAll();
    await settle();
    for (const k of STREAMS) assert.equal(iw.syncedId(k), 1, `stream ${k} synced by the timer`);
    await iw.close();
  });

  it("a failed background fdatasync fails every append of the round, and the Wal refuses writes after it", async () => {
    const g = new GateFs();
    const wal = await Wal.open({ root: "/w", fs: g.fs, syncMode: "strict" });
    const ps = STREAMS.map((k) => track(wal.append(k, b(k))));
    await settle();
    assert.equal(g.held.length, 4);
    const [bad, ...good] = g.held.splice(0);
    bad.fail("EIO");
    for (const h of good) h.release();
    await settle();
    assert.ok(ps.every((p) => p.done && p.error !== undefined), "every append of the round is rejected");
    for (const p of ps) {
      const msg = isWalError(p.error, "IO");
      assert.match(msg, /fsync of .*\.wal failed/);
    }
    await rejectsCode(wal.append("a", b("x")), "IO");
    await rejectsCode(wal.sync(), "IO");
    await wal.close().catch(() => {});
  });

  it("sync() in the middle of a round waits for the round after it; close() syncs in the foreground", async () => {
    const g = new GateFs();
    const wal = await Wal.open({ root: "/w", fs: g.fs, syncMode: "strict" });
    const first = STREAMS.map((k) => track(wal.append(k, b(`${k}0`))));
    await settle();
    assert.equal(g.held.length, 4);
    const later = ["c", "d"].map((k) => track(wal.append(k, b(`${k}1`))));
    const synced = track(wal.sync());
    await settle();
    assert.equal(synced.done, false, "sync() waits: the running round may not cover what it wrote");
    g.releaseAll();
    await settle();
    assert.ok(first.every((p) => p.done) && !synced.done, "the first round settles its own appends only");
    assert.equal(g.held.length, 2, "the round after syncs c and d");
    g.releaseAll();
    await settle();
    assert.deepEqual(later.map((p) => p.value), [1, 1]);
    assert.equal(synced.done, true);
    assert.equal(synced.error, undefined);

    // close() while a round runs: it writes and fdatasyncs everything in the foreground.
    const more = STREAMS.map((k) => track(wal.append(k, b(`${k}2`))));
    await settle();
    assert.equal(g.held.length, 4);
    await wal.close();
    for (const k of STREAMS) {
      const sizes = [...g.durable.entries()].filter(([p]) => p.startsWith(`/w/${k}/`) && p.endsWith(".wal")).map(([, n]) => n);
      assert.ok(sizes.length === 1 && sizes[0] > g.held.find((h) => h.path.startsWith(`/w/${k}/`))!.size - 1, `stream ${k}: synced by close`);
    }
    assert.ok(more.every((p) => !p.done), "still waiting for the held syncs");
    assert.equal(g.releaseAll(), 4, "the held syncs end after close");
    await settle();
    assert.deepEqual(more.map((p) => p.value), [1, 1, 2, 2]);
    assert.equal(g.held.length, 0, "nothing left to sync after close");
  });

  it("ShardedWal strict: 16 shards, 256 concurrent appends, every one readable after a reopen", async () => {
    const g = new GateFs();
    g.auto = true;
    const sw = await ShardedWal.open({ root: "/sw", fs: g.fs, syncMode: "strict" }, 16);
    const keys = Array.from({ length: 256 }, (_, i) => `key-${i}`);
    const res = await Promise.all(keys.map((k) => sw.append(k, b(`v-${k}`))));
    assert.ok(g.maxInFlight >= 8, `syncs overlapped (most at once: ${g.maxInFlight})`);
    await sw.close();
    // Each shard is a stream of one Wal: read them back in order.
    const again = await ShardedWal.open({ root: "/sw", fs: g.fs, syncMode: "strict" }, 16);
    const read = new Map<string, string>();
    for (let shard = 0; shard < 16; shard++) {
      for await (const e of again.iterShard(shard, 0)) read.set(`${shard}:${e.id}`, s(e.data)!);
    }
    assert.equal(read.size, keys.length);
    for (let i = 0; i < keys.length; i++) {
      const { shardId, seqId } = res[i];
      assert.equal(shardId, again.shardFor(keys[i]));
      assert.equal(read.get(`${shardId}:${seqId}`), `v-${keys[i]}`);
    }
    await again.close();
  });

  it("power loss at every operation of a multi-stream strict workload loses no acknowledged append", async () => {
    // Count the mutating operations of one run, then crash after each of them in turn.
    const run = async (fs: FaultyFs): Promise<Map<string, number>> => {
      const acked = new Map<string, number>();
      try {
        const wal = await Wal.open({ root: "/w", fs, syncMode: "strict", maxSegmentSize: 4096 });
        for (let round = 0; round < 6; round++) {
          await Promise.all(STREAMS.map((k) =>
            wal.append(k, new Uint8Array(300).fill(round + 1)).then((id) => {
              acked.set(k, Math.max(acked.get(k) ?? -1, id));
            })
          ));
        }
        await wal.close();
      } catch {
        // The crash: whatever was acknowledged before it must survive.
      }
      return acked;
    };
    const probe = new FaultyFs();
    await run(probe);
    const total = probe.opCount;
    assert.ok(total > 50, `the workload has ${total} operations`);
    let crashes = 0;
    for (let k = 0; k < total; k++) {
      const fs = new FaultyFs();
      fs.crashAfterOp(k);
      const acked = await run(fs);
      if (!fs.crashed) continue;
      crashes++;
      fs.crash();
      const wal = await Wal.open({ root: "/w", fs, syncMode: "strict", maxSegmentSize: 4096 });
      for (const [key, last] of acked) {
        assert.ok(wal.nextId(key) > last, `crash after op ${k}: stream ${key} lost acknowledged id ${last}`);
        for (let id = 0; id <= last; id++) {
          const v = wal.getSync(key, id);
          assert.ok(v !== undefined && v.length === 300, `crash after op ${k}: ${key}#${id} readable`);
        }
      }
      await wal.close();
    }
    assert.ok(crashes > 50, `crashed at ${crashes} points`);
  });

  it("the runtime's adapter: several streams in strict mode over real files", async () => {
    const dir = tempDir("groupsync");
    try {
      const wal = await Wal.open({ root: dir, fs: defaultFs(), syncMode: "strict" });
      const ps: Promise<number>[] = [];
      for (let i = 0; i < 64; i++) ps.push(wal.append(STREAMS[i % 4], b(`e${i}`)));
      const ids = await Promise.all(ps);
      assert.deepEqual(ids, Array.from({ length: 64 }, (_, i) => i >> 2));
      for (const k of STREAMS) assert.equal(wal.syncedId(k), 16);
      await wal.close();
      const again = await Wal.open({ root: dir, fs: defaultFs() });
      for (let i = 0; i < 64; i++) assert.equal(s(again.getSync(STREAMS[i % 4], i >> 2)), `e${i}`);
      await again.close();
    } finally {
      removeDir(dir);
    }
  });
});
