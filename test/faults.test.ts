// Injected I/O faults (issue 3 item 6): a failed fsync is sticky, ENOSPC
// leaves nothing partial, EMFILE is absorbed by the handle LRU.

import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { FaultyFs } from "../adapters/faulty.ts";
import { Wal } from "../src/wal.ts";
import { WalError } from "../src/errors.ts";
import type { SyncMode } from "../src/options.ts";

const entry = (id: number, n = 24) => {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = (id * 31 + i * 7) & 0xff;
  return b;
};

async function rejectsWith(p: Promise<unknown>, code: string, what: string): Promise<WalError> {
  try {
    await p;
  } catch (e) {
    assert.ok(e instanceof WalError, `${what}: not a WalError: ${e}`);
    assert.equal(e.code, code, `${what}: ${e.message}`);
    return e;
  }
  assert.fail(`${what}: resolved, expected ${code}`);
}

/** Power loss now: the open Wal is abandoned (its calls fail), the fs reboots with unsynced data dropped. */
async function powerLoss(fs: FaultyFs, wal: Wal): Promise<void> {
  fs.crashAfterOp(0);
  try {
    fs.mkdir("/__cut");
  } catch {
    // down
  }
  await wal.close().catch(() => {});
  fs.crash({ torn: "none" });
}

async function all(wal: Wal, s: string): Promise<[number, Uint8Array][]> {
  const out: [number, Uint8Array][] = [];
  for await (const { id, data } of wal.iter(s, 0)) out.push([id, data.slice()]);
  return out;
}

async function open(fs: FaultyFs, syncMode: SyncMode = "strict", extra: Record<string, unknown> = {}): Promise<Wal> {
  return await Wal.open({ root: "/w", fs, syncMode, ...extra });
}

describe("fsync failure is sticky", () => {
  it("strict: the append whose fsync failed and every later write reject with IO; after a crash only acknowledged entries are required", async () => {
    const fs = new FaultyFs();
    const wal = await open(fs);
    for (let i = 0; i < 3; i++) assert.equal(await wal.append("a", entry(i)), i);
    fs.failAfter({ op: "sync", count: 0, code: "EIO" });
    await rejectsWith(wal.append("a", entry(3)), "IO", "append whose fsync fails");
    fs.clearFaults();
    // The next fsync would succeed, but the kernel may have dropped the dirty pages: never trust it.
    await rejectsWith(wal.append("a", entry(4)), "IO", "append after a failed fsync");
    await rejectsWith(wal.appendBatch("a", [entry(5), entry(6)]), "IO", "batch after a failed fsync");
    await rejectsWith(wal.writer("b").add(entry(7)).commit(), "IO", "commit to another stream after a failed fsync");
    await rejectsWith(wal.sync(), "IO", "sync after a failed fsync");
    await powerLoss(fs, wal);
    const again = await open(fs, "strict", { onCorruption: "error" });
    const got = await all(again, "a");
    assert.ok(got.length >= 3, `acknowledged entries lost: ${got.length}`);
    for (const [id, data] of got) assert.deepEqual(data, entry(id));
    // Ids continue after what is there; nothing acknowledged is handed out again.
    assert.equal(await again.append("a", entry(99)), got.length);
    await again.close();
  });

  it("a failed fsync while sealing a segment (rotation) is sticky too (batch-only)", async () => {
    const fs = new FaultyFs();
    const wal = await open(fs, "batch-only", { maxEntriesPerSegment: 2 });
    assert.deepEqual(await wal.appendBatch("a", [entry(0), entry(1)]), { start: 0, end: 2 });
    assert.equal(await wal.append("a", entry(2)), 2); // rotation; written, not synced
    assert.equal(await wal.append("a", entry(3)), 3);
    fs.failAfter({ op: "sync", count: 0, code: "EIO" });
    // Rotation: sealing the segment holding 2..3 fsyncs it, and that fails.
    await rejectsWith(wal.appendBatch("a", [entry(4), entry(5)]), "IO", "batch whose seal fsync fails");
    fs.clearFaults();
    await rejectsWith(wal.appendBatch("a", [entry(6)]), "IO", "batch after the failed seal");
    await rejectsWith(wal.append("a", entry(7)), "IO", "append after the failed seal");
    await powerLoss(fs, wal);
    const again = await open(fs, "batch-only", { maxEntriesPerSegment: 2, onCorruption: "error" });
    const got = await all(again, "a");
    assert.ok(got.length >= 2, `the fsynced batch was lost: ${got.length}`);
    for (const [id, data] of got) assert.deepEqual(data, entry(id));
    assert.equal(await again.append("a", entry(got.length)), got.length);
    await again.close();
  });

  it("close() after a failed fsync rejects with IO and returns (no hang)", async () => {
    const fs = new FaultyFs();
    const wal = await open(fs, "async");
    await wal.append("a", entry(0));
    fs.failAfter({ op: "sync", count: 0, code: "EIO" });
    await rejectsWith(wal.sync(), "IO", "sync");
    fs.clearFaults();
    await rejectsWith(wal.close(), "IO", "close after a failed fsync");
  });
});

describe("ENOSPC", () => {
  for (const mode of ["strict", "async"] as const) {
    it(`${mode}: a write that hits ENOSPC rejects, leaves nothing partial after a restart, and writing resumes once there is space`, async () => {
      const fs = new FaultyFs();
      const wal = await open(fs, mode);
      for (let i = 0; i < 3; i++) await wal.append("a", entry(i, 100));
      fs.failAfter({ op: "write", count: 0, code: "ENOSPC" });
      const e = await rejectsWith(wal.appendBatch("a", [entry(3, 300), entry(4, 300)]), "IO", "batch on a full disk");
      assert.match(e.message, /ENOSPC|space/i);
      assert.equal(wal.nextId("a"), 3, "the failed batch's ids are handed out again");
      assert.equal(await wal.get("a", 3), undefined);
      // Space is back: the WAL keeps working (documented in docs/durability.md).
      fs.clearFaults();
      assert.equal(await wal.append("a", entry(3, 50)), 3);
      await wal.sync();
      fs.failAfter({ op: "write", count: 0, code: "ENOSPC" });
      await rejectsWith(wal.append("a", entry(4, 400)), "IO", "second ENOSPC");
      await powerLoss(fs, wal);
      const again = await open(fs, mode, { onCorruption: "error" });
      assert.deepEqual(again.recovery.corruptionDetected, false);
      const got = await all(again, "a");
      assert.deepEqual(got.map(([id]) => id), [0, 1, 2, 3]);
      for (const [id, data] of got) assert.deepEqual(data, entry(id, id === 3 ? 50 : 100));
      await again.close();
    });
  }
});

describe("EMFILE", () => {
  for (const mode of ["strict", "async"] as const) {
    it(`${mode}: a file system limit below maxOpenSegments is absorbed by the handle LRU`, async () => {
      const fs = new FaultyFs({ maxOpenFiles: 4 });
      const opts = { maxSegmentSize: 256, maxOpenSegments: 64 };
      const wal = await open(fs, mode, opts);
      const streams = Array.from({ length: 12 }, (_, i) => `s${i}`);
      for (let round = 0; round < 20; round++) {
        await Promise.all(streams.map((s, k) => wal.append(s, entry(round * 100 + k, 40))));
      }
      for (const [k, s] of streams.entries()) {
        assert.equal(wal.nextId(s), 20);
        for (let round = 0; round < 20; round += 3) assert.deepEqual(await wal.get(s, round), entry(round * 100 + k, 40));
        assert.equal((await all(wal, s)).length, 20);
      }
      await wal.close();
      assert.equal(fs.openFiles, 0);
      const again = await open(fs, mode, opts);
      for (const [k, s] of streams.entries()) {
        const got = await all(again, s);
        assert.equal(got.length, 20);
        for (const [id, data] of got) assert.deepEqual(data, entry(id * 100 + k, 40));
      }
      await again.close();
    });
  }
});

describe("a process killed (kill -9), its log reopened, then power loss", () => {
  // The killed process's last writes are in the page cache, not on disk: open
  // must not count them durable without an fsync (issue 4 review; FORMAT.md §5).
  for (const mode of ["strict", "batch-only", "async", "interval"] as const) {
    it(`${mode}: what the reopened log reports durable (syncedId) survives the power loss`, async () => {
      const fs = new FaultyFs();
      const first = await open(fs, "async");
      for (let i = 0; i < 5; i++) assert.equal(await first.append("a", entry(i)), i);
      fs.kill(); // dies before any sync: entries 0..4 are only in the page cache
      const wal = await open(fs, mode);
      assert.equal(wal.nextId("a"), 5, "the killed process's entries are read back");
      const claimed = wal.syncedId("a");
      await powerLoss(fs, wal);
      const again = await open(fs, mode, { onCorruption: "error" });
      const got = await all(again, "a");
      assert.ok(got.length >= claimed, `syncedId was ${claimed} after the reopen, but only ${got.length} entries survived`);
      for (const [id, data] of got) assert.deepEqual(data, entry(id));
      await again.close();
    });

    it(`${mode}: a stream directory the killed process made and never synced is made durable before it is used`, async () => {
      const fs = new FaultyFs();
      fs.mkdir("/w");
      fs.syncDir("/");
      fs.mkdir("/w/a"); // the killed process got this far: the root's entry for it is not durable
      const wal = await open(fs, mode);
      for (let i = 0; i < 3; i++) assert.equal(await wal.append("a", entry(i)), i);
      await wal.sync();
      assert.equal(wal.syncedId("a"), 3);
      await powerLoss(fs, wal);
      const again = await open(fs, mode, { onCorruption: "error" });
      assert.deepEqual((await all(again, "a")).map(([id]) => id), [0, 1, 2]);
      await again.close();
    });

    it(`${mode}: a segment the killed process left unsynced is not sealed as durable (no CORRUPTION after power loss)`, async () => {
      const fs = new FaultyFs();
      const opts = { maxEntriesPerSegment: 4 };
      const first = await open(fs, "async", opts);
      for (let i = 0; i < 4; i++) assert.equal(await first.append("a", entry(i)), i);
      fs.kill(); // its segment is full, written and never synced
      const wal = await open(fs, mode, opts);
      // Seals the killed process's segment without writing to it, and starts the next one.
      for (let i = 4; i < 7; i++) assert.equal(await wal.append("a", entry(i)), i);
      await wal.sync();
      assert.equal(wal.syncedId("a"), 7);
      await powerLoss(fs, wal);
      const again = await open(fs, mode, { ...opts, onCorruption: "error" });
      assert.equal(again.recovery.corruptionDetected, false, again.recovery.repairs.join("; "));
      const got = await all(again, "a");
      assert.deepEqual(got.map(([id]) => id), [0, 1, 2, 3, 4, 5, 6]);
      for (const [id, data] of got) assert.deepEqual(data, entry(id));
      await again.close();
    });
  }
});
