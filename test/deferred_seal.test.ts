/**
 * Deferred seals (FORMAT.md §1.3, §5, §5.2; docs/durability.md): in "async"
 * and "interval" modes a segment roll does not fdatasync the sealed segment.
 * Syncs make sealed segments durable oldest first, `syncedId` never covers
 * an id behind an unsynced segment, the ACTIVE hint carries the deferred
 * flag while any seal is deferred, and open after a crash scans every
 * segment from the hint on: a torn middle segment ends the log there, later
 * segments are removed and reported. Power loss is simulated by FaultyFs.
 */

import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { Wal, type WalEvent, type WalFs, type WalOptions } from "../mod.ts";
import { CrashSignal, type CrashOptions, FaultyFs, seededRng } from "../adapters/faulty.ts";
import { ACTIVE_HINT_NAME, readActiveHint } from "../src/format/active_hint.ts";
import { collect, FRAME_HEADER, pattern, rejectsCode, SEGMENT_HEADER, sleep } from "./_wal_util.ts";
import { readAll } from "./_fs_util.ts";

const PER_SEG = 5;
const DIR = "/w/s";
const HINT = `${DIR}/${ACTIVE_HINT_NAME}`;
const seg = (first: number) => `${DIR}/${String(first).padStart(20, "0")}.wal`;
const entry = (id: number) => pattern(20 + (id % 9), id);
/** Bytes of the frame of entry `id` (single-entry frames). */
const frameLen = (id: number) => FRAME_HEADER + 20 + (id % 9);

function openW(fs: WalFs, extra: WalOptions = {}): Promise<Wal> {
  return Wal.open({ root: "/w", fs, maxEntriesPerSegment: PER_SEG, syncMode: "async", ...extra });
}

async function fill(wal: Wal, from: number, to: number): Promise<void> {
  for (let id = from; id < to; id++) assert.equal(await wal.append("s", entry(id)), id);
}

/** A FaultyFs that records every mutating operation as "op path". */
function recording(): { fs: FaultyFs; ops: string[] } {
  const ops: string[] = [];
  return { fs: new FaultyFs({ onOp: (op, path) => ops.push(`${op} ${path}`) }), ops };
}

/** True if `path` was fdatasynced after the last write to it recorded in `ops` (its frames made durable). */
function syncedAfterWrites(ops: string[], path: string): boolean {
  return ops.lastIndexOf(`datasync ${path}`) > ops.lastIndexOf(`write ${path}`);
}

const hint = (fs: WalFs) => readActiveHint(readAll(fs, HINT));
const segNames = (fs: WalFs) => fs.readDir(DIR).map((e) => e.name).filter((n) => n.endsWith(".wal")).sort();

/** The stream is exactly ids first..next-1 with the right bytes, by iter and get. */
async function checkPrefix(wal: Wal, first: number, next: number, what: string): Promise<void> {
  assert.equal(wal.nextId("s"), next, `${what}: nextId`);
  const all = await collect(wal.iter("s", 0));
  assert.deepEqual(all.map((e) => e.id), Array.from({ length: next - first }, (_, i) => first + i), `${what}: ids`);
  for (const e of all) assert.deepEqual(e.data, entry(e.id), `${what}: id ${e.id}`);
  for (const id of [first, next - 1, (first + next) >> 1]) {
    if (id >= first && id < next) assert.deepEqual(await wal.get("s", id), entry(id), `${what}: get(${id})`);
  }
  assert.equal(await wal.get("s", next), undefined, `${what}: get(nextId)`);
}

/** Reopens after a crash and checks: a prefix (ids contiguous, bytes right) whose end is in durable..max. */
async function reopenPrefix(fs: FaultyFs, durable: number, max: number, what: string, extra: WalOptions = {}): Promise<Wal> {
  const wal = await openW(fs, extra);
  const next = wal.nextId("s");
  assert.ok(next >= durable && next <= max, `${what}: nextId ${next}, durable ${durable}, written ${max}`);
  assert.equal(wal.recovery.corruptionDetected, false, `${what}: ${wal.recovery.repairs.join("; ")}`);
  await checkPrefix(wal, wal.firstId("s"), next, what);
  // Nothing is left beyond the last segment, and the log goes on from nextId.
  const names = segNames(fs);
  const lastFirst = Number(names[names.length - 1].slice(0, 20));
  assert.ok(lastFirst <= next, `${what}: segment ${names[names.length - 1]} lies beyond nextId ${next}`);
  return wal;
}

describe("deferred seals: writing", () => {
  it("async mode seals without fdatasync; sync() fsyncs the sealed segments oldest first, then moves the hint", async () => {
    const { fs, ops } = recording();
    const events: WalEvent[] = [];
    const wal = await openW(fs, { meter: (e) => events.push(e) });
    await fill(wal, 0, 3);
    ops.length = 0;
    await fill(wal, 3, 18);
    for (const first of [0, 5, 10]) assert.ok(!syncedAfterWrites(ops, seg(first)), `sealed ${first} was fsynced at the roll:\n${ops.join("\n")}`);
    assert.deepEqual(hint(fs), { firstId: 0, deferred: true }, "the hint names the oldest segment that may not be durable");
    // The deferred hint was made durable (fsynced file, rename, directory) before the first successor existed.
    const hintSync = ops.indexOf(`datasync ${HINT}.tmp`);
    const dirSync = ops.indexOf(`syncDir ${DIR}`);
    const created = ops.indexOf(`create ${seg(5)}`);
    assert.ok(hintSync >= 0 && dirSync > hintSync && created > dirSync, ops.join("\n"));
    assert.equal(ops.filter((o) => o === `create ${HINT}.tmp`).length, 1, "one hint write while the seals stay deferred");
    const rolls = events.filter((e) => e.type === "segmentRoll");
    assert.deepEqual(rolls.map((e) => e.type === "segmentRoll" && e.deferred), [true, true, true]);
    assert.equal(wal.syncedId("s"), 0, "nothing is durable behind the unsynced segment 0");
    ops.length = 0;
    const fsyncs = wal.stats().fsyncs;
    await wal.sync();
    assert.equal(wal.stats().fsyncs - fsyncs, 4, "three sealed segments and the active one");
    const order = [0, 5, 10, 15].map((f) => ops.indexOf(`datasync ${seg(f)}`));
    assert.ok(order.every((x, i) => x >= 0 && (i === 0 || x > order[i - 1])), `syncs out of order:\n${ops.join("\n")}`);
    const moved = ops.indexOf(`rename ${HINT}.tmp -> ${HINT}`);
    assert.ok(moved > order[3] && ops.lastIndexOf(`syncDir ${DIR}`) > moved, ops.join("\n"));
    assert.deepEqual(hint(fs), { firstId: 15, deferred: false });
    assert.equal(wal.syncedId("s"), 18);
    await wal.close();
  });

  for (const mode of ["strict", "batch-only"] as const) {
    it(`${mode} mode still fsyncs a segment when it seals it, and never sets the deferred flag`, async () => {
      const { fs, ops } = recording();
      const wal = await openW(fs, { syncMode: mode });
      await fill(wal, 0, 12);
      for (const first of [0, 5]) {
        const synced = ops.lastIndexOf(`datasync ${seg(first)}`);
        const next = ops.indexOf(`create ${seg(first + 5)}`);
        assert.ok(synced >= 0 && synced < next, `${first}:\n${ops.join("\n")}`);
      }
      assert.deepEqual(hint(fs), { firstId: 10, deferred: false });
      await wal.close();
    });
  }

  it("the LRU fsyncs a deferred segment through the handle it closes; syncedId covers only durable ids", async () => {
    const fs = new FaultyFs();
    const wal = await openW(fs, { maxOpenSegments: 1 });
    await fill(wal, 0, 13);
    // One handle: every roll evicted the previous segment's handle, which synced it through that handle.
    assert.equal(wal.syncedId("s"), 10);
    fs.crash({ torn: "none" });
    const w2 = await reopenPrefix(fs, 10, 13, "after LRU syncs");
    await w2.close();
  });

  it("a failed deferred-hint write makes the seal fsync instead (nothing is deferred without the hint)", async () => {
    const ops: string[] = [];
    const faulty = new FaultyFs({ onOp: (op, path) => ops.push(`${op} ${path}`) });
    let fail = false;
    const fs = new Proxy(faulty, {
      get(target, key) {
        if (key === "open") {
          return (path: string, mode: "read" | "write" | "create") => {
            if (fail && path.endsWith(`/${ACTIVE_HINT_NAME}.tmp`)) throw Object.assign(new Error("EIO: injected"), { code: "EIO" });
            return target.open(path, mode);
          };
        }
        const v = Reflect.get(target, key, target);
        return typeof v === "function" ? v.bind(target) : v;
      },
    });
    const wal = await openW(fs);
    await fill(wal, 0, 3);
    fail = true;
    ops.length = 0;
    await fill(wal, 3, 12);
    assert.ok(ops.includes(`datasync ${seg(0)}`) && ops.includes(`datasync ${seg(5)}`), ops.join("\n"));
    assert.equal(faulty.stat(HINT), undefined, "a hint that cannot be written is removed (no seal is deferred)");
    assert.equal(wal.syncedId("s"), 10);
    faulty.crash({ torn: "pages", rng: seededRng(3) });
    fail = false;
    const w2 = await reopenPrefix(faulty, 10, 12, "after failed hint writes");
    await w2.close();
  });

  it("the interval timer fsyncs deferred segments oldest first and moves the hint", async () => {
    const { fs, ops } = recording();
    const wal = await openW(fs, { syncMode: "interval", syncIntervalMs: 5 });
    // Appends in one burst: the drain does not sync, the seals are deferred.
    await Promise.all(Array.from({ length: 17 }, (_, id) => wal.append("s", entry(id))));
    for (const first of [0, 5, 10]) assert.ok(!syncedAfterWrites(ops, seg(first)), `sealed ${first} was fsynced at the roll:\n${ops.join("\n")}`);
    assert.deepEqual(hint(fs), { firstId: 0, deferred: true });
    ops.length = 0;
    for (let i = 0; i < 50 && wal.syncedId("s") < 17; i++) await sleep(5);
    assert.equal(wal.syncedId("s"), 17, "the timer synced everything");
    const order = [0, 5, 10, 15].map((f) => ops.indexOf(`datasync ${seg(f)}`));
    assert.ok(order.every((x, i) => x >= 0 && (i === 0 || x > order[i - 1])), ops.join("\n"));
    assert.deepEqual(hint(fs), { firstId: 15, deferred: false });
    fs.crash({ torn: "pages", rng: seededRng(1) });
    const w2 = await reopenPrefix(fs, 17, 17, "after the interval sync");
    assert.equal(w2.recovery.segmentsScanned, 1, "a current hint: only the last segment is scanned");
    await w2.close();
  });
});

describe("deferred seals: recovery", () => {
  it("several sealed-unsynced segments, power loss in every torn mode: a prefix holding everything sync() covered", async () => {
    let cuts = 0;
    for (const torn of ["none", "prefix", "pages"] as const) {
      for (let k = 0; k < 40; k++) {
        const fs = new FaultyFs();
        const wal = await openW(fs);
        const durable = 3 + (k % 9);
        await fill(wal, 0, durable);
        await wal.sync();
        const max = durable + 8 + ((k * 7) % 17);
        await fill(wal, durable, max);
        const what = `torn ${torn}, case ${k}`;
        // What the Wal claims durable must be: here the oldest unsynced sealed segment's first id.
        const claimed = wal.syncedId("s");
        assert.ok(claimed >= durable && claimed < max, `${what}: syncedId ${claimed}`);
        fs.crash({ torn, rng: seededRng(k) });
        const w2 = await reopenPrefix(fs, claimed, max, what);
        if (w2.recovery.repairs.some((r) => r.includes("later segment"))) cuts++;
        const next = w2.nextId("s");
        // The log goes on from there, and a clean reopen changes nothing.
        await fill(w2, next, next + 7);
        await w2.close();
        const w3 = await openW(fs);
        assert.deepEqual(w3.recovery.repairs, [], what);
        await checkPrefix(w3, 0, next + 7, `${what}, clean reopen`);
        await w3.close();
      }
    }
    assert.ok(cuts > 10, `only ${cuts} crashes cut the log at a torn middle segment`);
  });

  it("a torn middle segment ends the log there: later segments are removed and reported; the hint is rewritten", async () => {
    for (const onCorruption of ["error", "truncate"] as const) {
      for (const boundary of [false, true]) {
        const fs = new FaultyFs();
        const wal = await openW(fs);
        await fill(wal, 0, 23); // segments 0, 5, 10, 15, 20; every seal deferred
        assert.deepEqual(hint(fs), { firstId: 0, deferred: true });
        // What a crash can leave: everything reached the disk except part of segment 10.
        fs.syncAll();
        let keep = SEGMENT_HEADER;
        for (let id = 10; id < 12; id++) keep += frameLen(id);
        const cut = boundary ? keep : keep + 9; // after whole frames 10 and 11, or inside frame 12
        const f = fs.open(seg(10), "write");
        const size = f.size();
        f.truncate(cut);
        f.datasync();
        f.close();
        fs.crash({ torn: "none" });
        const w2 = await openW(fs, { onCorruption });
        const what = `${onCorruption}, ${boundary ? "on a frame boundary" : "inside a frame"}`;
        assert.equal(w2.nextId("s"), 12, what);
        await checkPrefix(w2, 0, 12, what);
        const rec = w2.recovery;
        assert.equal(rec.corruptionDetected, false, what);
        assert.ok(rec.repairs.some((r) => r.includes("removed 2 later segment(s)") && r.includes("00000000000000000015.wal")), rec.repairs.join("\n"));
        if (!boundary) assert.ok(rec.repairs.some((r) => r.includes("torn tail of 9 bytes")), rec.repairs.join("\n"));
        assert.ok(rec.bytesTruncated >= (boundary ? 0 : 9) + 2 * SEGMENT_HEADER, `${what}: ${rec.bytesTruncated}`);
        assert.ok(size > cut);
        assert.deepEqual(segNames(fs), ["00000000000000000000.wal", "00000000000000000005.wal", "00000000000000000010.wal"], what);
        assert.deepEqual(hint(fs), { firstId: 10, deferred: false }, what);
        assert.equal(fs.stat(`${DIR}/00000000000000000010.idx`), undefined, `${what}: the stale index of the new last segment is gone`);
        await fill(w2, 12, 21);
        await w2.close();
        fs.crash({ torn: "none" });
        const w3 = await openW(fs);
        await checkPrefix(w3, 0, 21, `${what}, after more appends`);
        await w3.close();
      }
    }
  });

  it("damage in a deferred segment (a later frame was durable past it) is CORRUPTION, or cut back with truncate", async () => {
    const build = async () => {
      const fs = new FaultyFs();
      const wal = await openW(fs);
      await fill(wal, 0, 3);
      await wal.sync(); // frames 0..2 of segment 0 durable; the frames after say so
      await fill(wal, 3, 13); // 3, 4 in segment 0, then rolls (deferred)
      fs.syncAll();
      fs.crash({ torn: "none" });
      // Bit rot inside frame 1, which was durable before frame 3 was written.
      const f = fs.open(seg(0), "write");
      const at = SEGMENT_HEADER + frameLen(0) + FRAME_HEADER + 2;
      const b = new Uint8Array(1);
      f.read(b, at);
      b[0] ^= 0x40;
      f.write(b, at);
      f.datasync();
      f.close();
      return fs;
    };
    const fs = await build();
    assert.deepEqual(hint(fs), { firstId: 0, deferred: true });
    const before = segNames(fs);
    const msg = await rejectsCode(openW(fs), "CORRUPTION");
    assert.ok(msg.includes("00000000000000000000.wal") && msg.includes("not a torn write"), msg);
    assert.deepEqual(segNames(fs), before, "nothing changed by the refused open");
    const w2 = await openW(fs, { onCorruption: "truncate" });
    assert.equal(w2.recovery.corruptionDetected, true);
    assert.equal(w2.nextId("s"), 1);
    await checkPrefix(w2, 0, 1, "cut back");
    assert.deepEqual(segNames(fs), ["00000000000000000000.wal"]);
    await w2.close();
  });

  it("the deferred hint makes open list and scan the unsynced tail; after sync() open scans one segment", async () => {
    const fs = new FaultyFs();
    const wal = await openW(fs);
    await fill(wal, 0, 23);
    fs.syncAll();
    fs.crash({ torn: "none" });
    const w2 = await openW(fs);
    assert.equal(w2.recovery.segmentsScanned, 5, "every segment from the deferred hint on");
    assert.equal(w2.nextId("s"), 23);
    assert.deepEqual(hint(fs), { firstId: 20, deferred: false }, "rewritten once the tail is durable");
    await fill(w2, 23, 40);
    await w2.sync();
    await w2.close();
    const w3 = await openW(fs);
    assert.equal(w3.recovery.segmentsScanned, 1);
    await checkPrefix(w3, 0, 40, "after sync");
    await w3.close();
  });

  it("a hint removed by hand while seals are deferred: open lists, and a lost middle tail reads as CORRUPTION, never as other bytes", async () => {
    // Not a crash outcome (the hint is only removed while no seal is deferred): this shows the limit.
    const fs = new FaultyFs();
    const wal = await openW(fs);
    await fill(wal, 0, 23);
    fs.syncAll();
    fs.crash({ torn: "none" });
    fs.remove(HINT);
    const f = fs.open(seg(10), "write");
    f.truncate(SEGMENT_HEADER + frameLen(10));
    f.close();
    const w2 = await openW(fs);
    assert.equal(w2.nextId("s"), 23);
    for (let id = 0; id < 10; id++) assert.deepEqual(await w2.get("s", id), entry(id));
    await rejectsCode(w2.get("s", 10), "CORRUPTION");
    await rejectsCode(collect(w2.iter("s", 0)), "CORRUPTION");
    await w2.close();
  });
});

describe("deferred seals: crash at every step", () => {
  /** Crash after each mutating operation of `act` (run after `setup`), in each torn mode; checks the reopen. */
  async function everyStep(
    setup: (wal: Wal) => Promise<number>,
    act: (wal: Wal) => Promise<unknown>,
    max: number,
    after: number,
    label: string,
    check?: (fs: FaultyFs, wal: Wal, k: number) => void,
  ): Promise<number> {
    const probe = new FaultyFs();
    const pw = await openW(probe);
    await setup(pw);
    const before = probe.opCount;
    await act(pw);
    const steps = probe.opCount - before;
    await pw.close();
    for (let k = 0; k <= steps; k++) {
      for (const torn of ["none", "prefix", "pages"] as const) {
        const fs = new FaultyFs();
        const wal = await openW(fs);
        const durable = await setup(wal);
        const crashOpts: CrashOptions = { torn, rng: seededRng(k * 3 + 1) };
        let completed = false;
        if (k < steps) {
          fs.crashAfterOp(k);
          await act(wal).then(() => (completed = true), (e) => {
            if (!fs.crashed) throw e;
            assert.ok(e instanceof CrashSignal || (e as { code?: string }).code !== undefined, String(e));
          });
          assert.ok(fs.crashed || completed, `${label}: step ${k}`);
        } else {
          await act(wal);
          completed = true;
        }
        await wal.close().catch(() => {});
        fs.crash(crashOpts);
        const w2 = await reopenPrefix(fs, completed ? after : durable, max, `${label}: crash after step ${k}/${steps}, torn ${torn}`);
        check?.(fs, w2, k);
        await w2.close();
      }
    }
    return steps;
  }

  it("crash during sync() part-way through the ordered fsyncs and the hint replace", async () => {
    const steps = await everyStep(
      async (wal) => {
        await fill(wal, 0, 4);
        await wal.sync();
        await fill(wal, 4, 22);
        return 4;
      },
      (wal) => wal.sync(),
      22,
      22,
      "sync",
    );
    assert.ok(steps >= 8, `${steps} steps: 5 segment fsyncs, the hint's create, write, fsync, rename, directory`);
  });

  it("crash during the first deferred seal (the durable deferred hint) and the rolls after it", async () => {
    await everyStep(
      async (wal) => {
        await fill(wal, 0, 4);
        await wal.sync();
        return 4;
      },
      (wal) => fill(wal, 4, 16),
      16,
      4,
      "rolls",
    );
  });

  it("crash during truncate with deferred segments: they are made durable before the hint moves and anything is removed", async () => {
    const { fs, ops } = recording();
    const wal = await openW(fs);
    await fill(wal, 0, 23);
    ops.length = 0;
    assert.equal(await wal.truncate("s", 12), 2);
    const synced = [0, 5, 10, 15].map((f) => ops.indexOf(`datasync ${seg(f)}`));
    const moved = ops.indexOf(`rename ${HINT}.tmp -> ${HINT}`);
    const removed = ops.findIndex((o) => o.startsWith("remove ") && o.endsWith(".wal"));
    assert.ok(synced.every((x, i) => x >= 0 && (i === 0 || x > synced[i - 1])) && moved > synced[3] && removed > moved, ops.join("\n"));
    assert.deepEqual(hint(fs), { firstId: 20, deferred: false });
    await wal.close();
    await everyStep(
      async (w) => {
        await fill(w, 0, 23);
        return 0;
      },
      (w) => w.truncate("s", 12),
      23,
      20,
      "truncate",
      (_fs, w2, k) => {
        const first = w2.firstId("s");
        assert.ok([0, 5, 10].includes(first), `step ${k}: first id ${first}`);
      },
    );
  });
});
