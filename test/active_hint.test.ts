/**
 * The ACTIVE hint (FORMAT.md §1.3, §5; SPEC §3 "the newest segment is found
 * without scanning the whole history"): open finds a stream's newest
 * segment without listing its directory; a stale, damaged, missing or
 * dangling hint never makes open pick a segment that is not the newest; the
 * segment list built lazily later stays right across rotation and
 * truncation; truncate makes the hint durable before it deletes anything.
 */

import { describe, it } from "node:test";
import assert from "node:assert/strict";
import * as nfs from "node:fs";
import { Wal, type WalFs, type WalOptions } from "../mod.ts";
import { MemoryFs } from "../adapters/memory.ts";
import { FaultyFs, seededRng } from "../adapters/faulty.ts";
import { nodeFs } from "../adapters/node.ts";
import { ACTIVE_HINT_NAME, decodeActiveHint, encodeActiveHint, readActiveHint } from "../src/format/active_hint.ts";
import { crc32 } from "../src/format/crc32.ts";
import { collect, FRAME_HEADER, pattern, rejectsCode, removeDir, tempDir, throwsCode } from "./_wal_util.ts";
import { readAll, replaceFile } from "./_fs_util.ts";

const PER_SEG = 10;
const DIR = "/w/s";
const HINT = `${DIR}/${ACTIVE_HINT_NAME}`;
const seg = (first: number) => String(first).padStart(20, "0") + ".wal";
const idx = (first: number) => String(first).padStart(20, "0") + ".idx";
const entry = (id: number) => pattern(16 + (id % 7), id);

/** A WalFs that records every directory it lists. */
function counting(inner: WalFs): WalFs & { lists: string[] } {
  const lists: string[] = [];
  return new Proxy(inner, {
    get(target, key) {
      if (key === "lists") return lists;
      if (key === "readDir") {
        return (path: string) => {
          lists.push(path);
          return target.readDir(path);
        };
      }
      const v = Reflect.get(target, key, target);
      return typeof v === "function" ? v.bind(target) : v;
    },
  }) as WalFs & { lists: string[] };
}

function openW(fs: WalFs, extra: WalOptions = {}): Promise<Wal> {
  return Wal.open({ root: "/w", fs, maxEntriesPerSegment: PER_SEG, ...extra });
}

async function fill(wal: Wal, from: number, to: number): Promise<void> {
  for (let id = from; id < to; id++) assert.equal(await wal.append("s", entry(id)), id);
}

/** Every id from `first` to `next` reads back, by get and by iter, and nothing else is there. */
async function check(wal: Wal, first: number, next: number): Promise<void> {
  assert.equal(wal.nextId("s"), next, "nextId");
  assert.equal(wal.firstId("s"), first, "firstId");
  for (let id = first; id < next; id++) assert.deepEqual(await wal.get("s", id), entry(id), `get(${id})`);
  assert.equal(await wal.get("s", next), undefined);
  const all = await collect(wal.iter("s", 0));
  assert.deepEqual(all.map((e) => e.id), Array.from({ length: next - first }, (_, i) => first + i), "iter ids");
  for (const e of all) assert.deepEqual(e.data, entry(e.id));
}



const hintOf = (fs: WalFs) => decodeActiveHint(readAll(fs, HINT));
const segments = (fs: WalFs) => fs.readDir(DIR).map((e) => e.name).filter((n) => n.endsWith(".wal")).sort();

/** A hint with any version, reserved field and id, and a correct CRC. */
function craftedHint(version: number, flags: number, lo: number, hi: number): Uint8Array {
  const b = encodeActiveHint(0);
  const v = new DataView(b.buffer);
  v.setUint16(4, version, true);
  v.setUint16(6, flags, true);
  v.setUint32(8, lo, true);
  v.setUint32(12, hi, true);
  v.setUint32(16, crc32(b.subarray(0, 16)), true);
  return b;
}

/** A stream "s" of `n` entries in segments of PER_SEG on a fresh MemoryFs, closed. */
async function build(n: number, fs: WalFs = new MemoryFs()): Promise<WalFs> {
  const wal = await openW(fs);
  await fill(wal, 0, n);
  await wal.close();
  return fs;
}

describe("ACTIVE hint: format", () => {
  it("encodes the documented bytes and decodes them back", () => {
    const bytes = encodeActiveHint(4096);
    assert.equal(
      Array.from(bytes, (x) => x.toString(16).padStart(2, "0")).join(" "),
      "49 57 41 53 01 00 00 00 00 10 00 00 00 00 00 00 c0 c5 ab 9e",
      "FORMAT.md §1.3 example",
    );
    assert.equal(decodeActiveHint(bytes), 4096);
    for (const id of [0, 1, 2 ** 32, 2 ** 53 - 1]) assert.equal(decodeActiveHint(encodeActiveHint(id)), id);
  });

  it("rejects every damaged or foreign form", () => {
    const good = encodeActiveHint(4096);
    assert.equal(decodeActiveHint(good.subarray(0, 19)), -1);
    assert.equal(decodeActiveHint(new Uint8Array([...good, 0])), -1);
    assert.equal(decodeActiveHint(new Uint8Array(0)), -1);
    for (let i = 0; i < good.length; i++) {
      for (const bit of [0x01, 0x80]) {
        const b = good.slice();
        b[i] ^= bit;
        assert.equal(decodeActiveHint(b), -1, `byte ${i} bit ${bit}`);
      }
    }
    assert.equal(decodeActiveHint(craftedHint(2, 0, 4096, 0)), -1, "unknown version");
    assert.equal(decodeActiveHint(craftedHint(1, 2, 4096, 0)), -1, "unknown flag");
    assert.equal(decodeActiveHint(craftedHint(1, 3, 4096, 0)), -1, "unknown flag with the deferred one");
    assert.deepEqual(readActiveHint(craftedHint(1, 1, 4096, 0)), { firstId: 4096, deferred: true }, "the deferred flag");
    assert.deepEqual(readActiveHint(craftedHint(1, 0, 4096, 0)), { firstId: 4096, deferred: false });
    assert.deepEqual(readActiveHint(encodeActiveHint(5, true)), { firstId: 5, deferred: true });
    assert.equal(readActiveHint(craftedHint(1, 1, 0, 0x200000)), undefined, "deferred, id of 2^53");
    assert.equal(decodeActiveHint(craftedHint(1, 0, 0, 0x200000)), -1, "id of 2^53");
    assert.equal(decodeActiveHint(craftedHint(1, 0, 7, 0)), 7, "the crafting itself is right");
  });
});

describe("ACTIVE hint: open without listing", () => {
  for (const kind of ["MemoryFs", "real files"]) {
    it(`a good hint: open lists the root, never the stream directory (${kind})`, async () => {
      const top = kind === "real files" ? tempDir("hint") : "";
      try {
        const inner: WalFs = kind === "real files" ? nodeFs : new MemoryFs();
        const root = kind === "real files" ? `${top}/w` : "/w";
        const opts = { root, maxEntriesPerSegment: PER_SEG };
        {
          const wal = await Wal.open({ ...opts, fs: inner });
          await fill(wal, 0, 205);
          await wal.close();
        }
        const fs = counting(inner);
        const wal = await Wal.open({ ...opts, fs });
        try {
          assert.deepEqual(fs.lists, [root], "only the root is listed at open");
          assert.equal(wal.recovery.segmentsScanned, 1);
          assert.equal(wal.recovery.validRecords, 5, "only the active segment's entries are verified");
          assert.equal(wal.nextId("s"), 205);
          assert.deepEqual(await wal.get("s", 204), entry(204));
          assert.deepEqual(await wal.get("s", 200), entry(200));
          assert.equal(await wal.append("s", entry(205)), 205);
          assert.deepEqual(fs.lists, [root], "reads and appends in the active segment list nothing");
          assert.deepEqual(await wal.get("s", 5), entry(5));
          assert.deepEqual(fs.lists, [root, `${root}/s`], "an older id lists the stream once");
          assert.deepEqual(await wal.get("s", 15), entry(15));
          assert.equal(wal.firstId("s"), 0);
          assert.equal(fs.lists.length, 2, "and only once");
        } finally {
          await wal.close();
        }
      } finally {
        removeDir(top);
      }
    });
  }

  it("rotation keeps the hint naming the active segment", async () => {
    const fs = new MemoryFs();
    const wal = await openW(fs);
    for (let id = 0; id < 45; id++) {
      await wal.append("s", entry(id));
      assert.equal(hintOf(fs), id - (id % PER_SEG), `after id ${id}`);
    }
    await wal.close();
  });

  it("a stream with one segment and no hint gets one when it is created", async () => {
    const fs = await build(3);
    assert.equal(hintOf(fs), 0);
    assert.deepEqual(fs.readDir(DIR).map((e) => e.name).sort(), [seg(0), ACTIVE_HINT_NAME]);
  });
});

describe("ACTIVE hint: stale hints are followed forward", () => {
  const cases: Array<{ name: string; hint: number; dropIdx: boolean; scanned: number }> = [
    { name: "one segment behind, its index present", hint: 90, dropIdx: false, scanned: 1 },
    { name: "many segments behind (the first), indexes present", hint: 0, dropIdx: false, scanned: 1 },
    { name: "one segment behind, its index lost (scanned)", hint: 90, dropIdx: true, scanned: 2 },
    { name: "many segments behind, every index lost (each scanned)", hint: 50, dropIdx: true, scanned: 6 },
  ];
  for (const c of cases) {
    it(`${c.name}: the newest segment is found without a listing`, async () => {
      const mem = await build(105);
      replaceFile(mem, HINT, encodeActiveHint(c.hint));
      if (c.dropIdx) for (let f = 0; f < 100; f += PER_SEG) mem.remove(`${DIR}/${idx(f)}`);
      const fs = counting(mem);
      const wal = await openW(fs);
      try {
        assert.deepEqual(fs.lists, ["/w"]);
        assert.equal(wal.recovery.segmentsScanned, c.scanned);
        assert.deepEqual(wal.recovery.repairs, []);
        assert.equal(hintOf(mem), 100, "open points the hint at the newest segment");
        assert.equal(await wal.append("s", entry(105)), 105);
        await check(wal, 0, 106);
      } finally {
        await wal.close();
      }
    });
  }

  it("a crash right after a segment was created (empty newest segment, hint one behind)", async () => {
    const mem = await build(100);
    // The segment holding 100.. is created with its header, the hint not yet rewritten.
    const scratch = await build(101);
    replaceFile(mem, `${DIR}/${seg(100)}`, readAll(scratch, `${DIR}/${seg(100)}`).subarray(0, 32));
    assert.equal(hintOf(mem), 90);
    const fs = counting(mem);
    const wal = await openW(fs);
    try {
      assert.deepEqual(fs.lists, ["/w"]);
      assert.equal(wal.nextId("s"), 100);
      assert.equal(hintOf(mem), 100);
      assert.equal(await wal.append("s", entry(100)), 100);
      assert.deepEqual(segments(mem).slice(-2), [seg(90), seg(100)]);
      await check(wal, 0, 101);
    } finally {
      await wal.close();
    }
  });

  it("power loss at every step of a rotation: reopen finds the newest durable segment (FaultyFs)", async () => {
    const setup = async (fs: FaultyFs) => {
      const wal = await Wal.open({ root: "/w", fs, maxEntriesPerSegment: 5 });
      await fill(wal, 0, 10);
      return wal;
    };
    const probe = new FaultyFs();
    const w = await setup(probe);
    const before = probe.opCount;
    await w.append("s", entry(10)); // seals segment 5, creates segment 10, rewrites the hint
    const steps = probe.opCount - before;
    await w.close();
    let hinted = 0;
    for (let k = 0; k <= steps; k++) {
      for (const torn of ["none", "prefix", "pages"] as const) {
        const fs = new FaultyFs();
        const wal = await setup(fs);
        fs.crashAfterOp(k);
        const acked = await wal.append("s", entry(10)).then(() => true, () => false);
        assert.equal(acked, k === steps, `crash point ${k}`);
        fs.crash({ torn, rng: seededRng(k) });
        const cfs = counting(fs);
        const w2 = await Wal.open({ root: "/w", fs: cfs, maxEntriesPerSegment: 5 });
        try {
          if (cfs.lists.length === 1) hinted++;
          const next = w2.nextId("s");
          assert.ok(next === 10 || next === 11, `crash point ${k} (${torn}): nextId ${next}`);
          if (acked) assert.equal(next, 11);
          await check(w2, 0, next);
          assert.equal(await w2.append("s", entry(next)), next);
          assert.equal(hintOf(fs), next - (next % 5), "the hint names the active segment");
        } finally {
          await w2.close();
        }
      }
    }
    assert.ok(hinted > 0, "some reopens used the hint");
  });
});

describe("ACTIVE hint: when open lists the directory instead", () => {
  it("a hint naming a truncated, never-written or non-segment name", async () => {
    const mem = new MemoryFs();
    {
      const wal = await openW(mem);
      await fill(wal, 0, 55);
      assert.equal(await wal.truncate("s", 20), 2);
      await wal.close();
    }
    mem.mkdir(`${DIR}/${seg(70)}`); // a directory with a segment's name
    for (const hinted of [0, 10, 999_999, 70]) {
      replaceFile(mem, HINT, encodeActiveHint(hinted));
      const fs = counting(mem);
      const wal = await openW(fs);
      try {
        assert.deepEqual(fs.lists, ["/w", DIR], `hint ${hinted}: the stream is listed at open`);
        assert.equal(hintOf(mem), 50, "and the hint is rewritten");
        await check(wal, 20, 55);
      } finally {
        await wal.close();
      }
    }
    mem.removeDir(`${DIR}/${seg(70)}`);
    const fs = counting(mem);
    const wal = await openW(fs);
    assert.deepEqual(fs.lists, ["/w"], "the next open uses the rewritten hint");
    await wal.close();
  });

  it("a damaged hint, of every kind, is ignored and rewritten", async () => {
    const good = encodeActiveHint(50);
    const flips = Array.from({ length: good.length }, (_, i) => {
      const b = good.slice();
      b[i] ^= 0x10;
      return { name: `byte ${i} flipped`, bytes: b };
    });
    const cases = [
      { name: "empty", bytes: new Uint8Array(0) },
      { name: "19 bytes", bytes: good.subarray(0, 19) },
      { name: "21 bytes", bytes: new Uint8Array([...good, 0]) },
      { name: "4 KiB of zeros", bytes: new Uint8Array(4096) },
      { name: "random", bytes: pattern(20, 7) },
      { name: "version 2", bytes: craftedHint(2, 0, 50, 0) },
      { name: "id ≥ 2^53", bytes: craftedHint(1, 0, 50, 0x200000) },
      ...flips,
    ];
    const mem = await build(55);
    for (const c of cases) {
      replaceFile(mem, HINT, c.bytes);
      const fs = counting(mem);
      const wal = await openW(fs);
      try {
        assert.deepEqual(fs.lists, ["/w", DIR], c.name);
        assert.equal(wal.nextId("s"), 55, c.name);
        assert.deepEqual(wal.recovery.warnings, [], c.name);
        assert.deepEqual(readAll(mem, HINT), good, `${c.name}: rewritten`);
      } finally {
        await wal.close();
      }
    }
    await (async () => {
      const wal = await openW(mem);
      await check(wal, 0, 55);
      await wal.close();
    })();
  });

  it("a directory named ACTIVE: listed at every open, reported, never a crash", async () => {
    const mem = await build(25);
    mem.remove(HINT);
    mem.mkdir(HINT);
    for (let i = 0; i < 2; i++) {
      const fs = counting(mem);
      const wal = await openW(fs);
      try {
        assert.deepEqual(fs.lists, ["/w", DIR]);
        assert.ok(wal.recovery.warnings.some((w) => w.includes(ACTIVE_HINT_NAME)), wal.recovery.warnings.join("\n"));
        assert.equal(await wal.append("s", entry(25 + i)), 25 + i);
        await check(wal, 0, 26 + i);
      } finally {
        await wal.close();
      }
    }
  });

  for (const kind of ["MemoryFs", "real files"]) {
    it(`no hint (a root written before the hint existed): listed once, then hinted (${kind})`, async () => {
      const top = kind === "real files" ? tempDir("hint-old") : "";
      try {
        const inner: WalFs = kind === "real files" ? nodeFs : new MemoryFs();
        const root = kind === "real files" ? `${top}/w` : "/w";
        const opts = { root, maxEntriesPerSegment: PER_SEG };
        {
          const wal = await Wal.open({ ...opts, fs: inner });
          await fill(wal, 0, 37);
          await wal.close();
        }
        // Exactly the layout of earlier versions: segments and indexes, no hint.
        inner.remove(`${root}/s/${ACTIVE_HINT_NAME}`);
        for (let round = 0; round < 2; round++) {
          const fs = counting(inner);
          const wal = await Wal.open({ ...opts, fs });
          try {
            assert.deepEqual(fs.lists, round === 0 ? [root, `${root}/s`] : [root], `round ${round}`);
            assert.deepEqual(wal.recovery.warnings, []);
            assert.equal(wal.nextId("s"), 37);
            assert.equal(decodeActiveHint(readAll(inner, `${root}/s/${ACTIVE_HINT_NAME}`)), 30);
            for (let id = 0; id < 37; id++) assert.deepEqual(await wal.get("s", id), entry(id));
          } finally {
            await wal.close();
          }
        }
        if (kind === "real files") {
          assert.deepEqual(nfs.readdirSync(`${root}/s`).filter((n) => !/^\d{20}\.(wal|idx)$/.test(n)), [ACTIVE_HINT_NAME]);
        }
      } finally {
        removeDir(top);
      }
    });
  }

  it("a torn tail in the newest segment is repaired with a listing, as before, and read once", async () => {
    for (const hinted of [100, 90]) {
      const mem = await build(105);
      replaceFile(mem, HINT, encodeActiveHint(hinted));
      const f = mem.open(`${DIR}/${seg(100)}`, "write");
      const size = f.size();
      f.write(pattern(FRAME_HEADER + 5, 3), size); // garbage after the last frame: a torn write
      f.close();
      const fs = counting(mem);
      const wal = await openW(fs);
      try {
        assert.deepEqual(fs.lists, ["/w", DIR], `hint ${hinted}`);
        assert.equal(wal.recovery.bytesTruncated, FRAME_HEADER + 5);
        assert.equal(wal.recovery.repairs.length, 1);
        assert.ok(wal.recovery.repairs[0].includes("torn tail"), wal.recovery.repairs[0]);
        assert.equal(wal.recovery.segmentsScanned, 1, "the newest segment is scanned once");
        assert.equal(mem.stat(`${DIR}/${seg(100)}`)!.size, size);
        assert.equal(await wal.append("s", entry(105)), 105);
        await check(wal, 0, 106);
      } finally {
        await wal.close();
      }
    }
  });

  it("damage in a sealed segment a stale hint names never makes it the active one", async () => {
    const mem = await build(105);
    replaceFile(mem, HINT, encodeActiveHint(90));
    mem.remove(`${DIR}/${idx(90)}`); // so open scans it
    const path = `${DIR}/${seg(90)}`;
    const size = mem.stat(path)!.size;
    const f = mem.open(path, "write");
    f.write(new Uint8Array([0xee]), size - 3); // inside the payload of id 99, its last frame
    f.close();
    const fs = counting(mem);
    const wal = await openW(fs); // onCorruption "error": nothing for open to repair
    try {
      assert.deepEqual(fs.lists, ["/w", DIR], "the listing decides");
      assert.deepEqual(wal.recovery.repairs, []);
      assert.equal(wal.recovery.corruptionDetected, false);
      assert.equal(mem.stat(path)!.size, size, "nothing cut from the sealed segment");
      assert.equal(wal.nextId("s"), 105);
      // The segment's index is rebuilt by a scan, which meets the damage.
      await rejectsCode(wal.get("s", 99), "CRC_MISMATCH");
      assert.deepEqual(await wal.get("s", 104), entry(104));
      assert.equal(await wal.append("s", entry(105)), 105);
      assert.equal(hintOf(mem), 100);
    } finally {
      await wal.close();
    }
  });

  it("a sealed segment (by its index) whose successor is missing: listed, and the gap is CORRUPTION when read", async () => {
    const mem = await build(105);
    replaceFile(mem, HINT, encodeActiveHint(80));
    mem.remove(`${DIR}/${seg(90)}`);
    mem.remove(`${DIR}/${idx(90)}`);
    const fs = counting(mem);
    const wal = await openW(fs);
    try {
      assert.deepEqual(fs.lists, ["/w", DIR]);
      assert.equal(wal.nextId("s"), 105, "the newest segment is the active one");
      await rejectsCode(wal.get("s", 95), "CORRUPTION");
      assert.deepEqual(await wal.get("s", 102), entry(102));
    } finally {
      await wal.close();
    }
  });

  it("a broken chain open cannot see (stale hint, lost index and lost successor) is CORRUPTION at the first listing", async () => {
    const mem = await build(105);
    replaceFile(mem, HINT, encodeActiveHint(80));
    mem.remove(`${DIR}/${idx(80)}`);
    mem.remove(`${DIR}/${seg(90)}`);
    mem.remove(`${DIR}/${idx(90)}`);
    const wal = await openW(mem);
    try {
      const m = throwsCode(() => wal.firstId("s"), "CORRUPTION");
      assert.ok(m.includes(seg(100)) && m.includes(seg(80)), m);
      await rejectsCode(wal.get("s", 5), "CORRUPTION");
    } finally {
      await wal.close();
    }
  });

  it("onCorruption truncate dropping the newest segment points the hint at the one before", async () => {
    const mem = await build(105);
    const f = mem.open(`${DIR}/${seg(100)}`, "write");
    f.write(new Uint8Array([0x00]), 0); // bad magic in a segment longer than a header
    f.close();
    const wal = await openW(mem, { onCorruption: "truncate" });
    assert.equal(wal.nextId("s"), 100);
    assert.equal(hintOf(mem), 90);
    assert.equal(mem.stat(`${DIR}/${idx(90)}`), undefined, "the index of the segment active again is dropped");
    await wal.close();
    const fs = counting(mem);
    const w2 = await openW(fs);
    try {
      assert.deepEqual(fs.lists, ["/w"]);
      assert.equal(await w2.append("s", entry(100)), 100);
      await check(w2, 0, 101);
    } finally {
      await w2.close();
    }
  });
});

describe("ACTIVE hint: the lazy segment list", () => {
  it("stays right across rotation, reads of older ids and truncation", async () => {
    const mem = await build(45);
    const fs = counting(mem);
    let wal = await openW(fs);
    try {
      await fill(wal, 45, 72); // three rotations before anything is listed
      assert.deepEqual(fs.lists, ["/w"]);
      assert.deepEqual(await wal.get("s", 3), entry(3));
      assert.equal(fs.lists.length, 2);
      await fill(wal, 72, 85);
      assert.equal(await wal.truncate("s", 25), 2);
      assert.deepEqual(segments(mem)[0], seg(20));
      await check(wal, 20, 85);
    } finally {
      await wal.close();
    }
    wal = await openW(mem);
    try {
      await check(wal, 20, 85);
    } finally {
      await wal.close();
    }
  });

  it("truncate before anything was listed lists first and deletes the right files", async () => {
    const mem = await build(63);
    const fs = counting(mem);
    const wal = await openW(fs);
    try {
      assert.equal(await wal.truncate("s", 40), 4);
      assert.deepEqual(segments(mem), [seg(40), seg(50), seg(60)]);
      assert.equal(await wal.get("s", 39), undefined);
      await check(wal, 40, 63);
      assert.equal(await wal.truncate("s", 1000), 2, "the active segment stays");
      await check(wal, 60, 63);
    } finally {
      await wal.close();
    }
  });

  it("iter from the active segment does not need older segments; from 0 it starts at the first stored id", async () => {
    const mem = await build(45);
    mem.remove(`${DIR}/${seg(0)}`); // as if truncated by another version
    mem.remove(`${DIR}/${idx(0)}`);
    const wal = await openW(mem);
    try {
      assert.deepEqual((await collect(wal.iter("s", 10))).map((e) => e.id)[0], 10);
      assert.equal(wal.firstId("s"), 10);
      await check(wal, 10, 45);
    } finally {
      await wal.close();
    }
  });
});

describe("ACTIVE hint: durability", () => {
  it("a segment's creation replaces the hint atomically (fsynced temporary file, rename) before the directory sync", async () => {
    const ops: string[] = [];
    const fs = new FaultyFs({ onOp: (op, path) => ops.push(`${op} ${path}`) });
    const wal = await Wal.open({ root: "/w", fs, maxEntriesPerSegment: 5 });
    await fill(wal, 0, 5);
    ops.length = 0;
    await wal.append("s", entry(5));
    const header = ops.indexOf(`datasync ${DIR}/${seg(5)}`);
    const hint = ops.indexOf(`datasync ${HINT}.tmp`);
    const rename = ops.indexOf(`rename ${HINT}.tmp -> ${HINT}`);
    const dir = ops.indexOf(`syncDir ${DIR}`);
    assert.ok(header >= 0 && hint > header && rename > hint && dir > rename, ops.join("\n"));
    assert.ok(!ops.some((o) => o.startsWith("write ") && o.endsWith(`${HINT}`)), `never written in place: ${ops.join("\n")}`);
    await wal.close();
  });

  it("the first truncate after open fsyncs the hint before removing anything, later ones do not", async () => {
    const ops: string[] = [];
    const fs = new FaultyFs({ onOp: (op, path) => ops.push(`${op} ${path}`) });
    await build(33, fs);
    const wal = await openW(fs);
    ops.length = 0;
    assert.equal(await wal.truncate("s", 12), 1);
    const sync = ops.indexOf(`datasync ${HINT}.tmp`);
    const rename = ops.indexOf(`rename ${HINT}.tmp -> ${HINT}`);
    const dir = ops.indexOf(`syncDir ${DIR}`);
    const remove = ops.findIndex((o) => o.startsWith("remove ") && o.endsWith(".wal"));
    assert.ok(sync >= 0 && rename > sync && dir > rename && remove > dir, ops.join("\n"));
    ops.length = 0;
    assert.equal(await wal.truncate("s", 22), 1);
    assert.ok(!ops.some((o) => o.includes(ACTIVE_HINT_NAME)), ops.join("\n"));
    await wal.close();
  });

  it("a hint that could not be rewritten is removed; truncate makes it durable again before deleting", async () => {
    const ops: string[] = [];
    const faulty = new FaultyFs({ onOp: (op, path) => ops.push(`${op} ${path}`) });
    let failHint = false;
    const fs = new Proxy(faulty, {
      get(target, key) {
        if (key === "open") {
          return (path: string, mode: "read" | "write" | "create") => {
            if (failHint && (path.endsWith(`/${ACTIVE_HINT_NAME}`) || path.endsWith(`/${ACTIVE_HINT_NAME}.tmp`))) throw Object.assign(new Error("EIO: injected"), { code: "EIO" });
            return target.open(path, mode);
          };
        }
        const v = Reflect.get(target, key, target);
        return typeof v === "function" ? v.bind(target) : v;
      },
    });
    const wal = await Wal.open({ root: "/w", fs, maxEntriesPerSegment: 5 });
    await fill(wal, 0, 12);
    failHint = true;
    await fill(wal, 12, 17); // creates segment 15; its hint cannot be written
    failHint = false;
    assert.equal(faulty.stat(HINT), undefined, "the old hint is removed rather than left behind");
    ops.length = 0;
    assert.equal(await wal.truncate("s", 12), 2);
    const sync = ops.indexOf(`datasync ${HINT}.tmp`);
    const remove = ops.findIndex((o) => o.startsWith("remove ") && o.endsWith(".wal"));
    assert.ok(sync >= 0 && remove > sync, ops.join("\n"));
    assert.equal(hintOf(faulty), 15);
    ops.length = 0;
    assert.equal(await wal.truncate("s", 14), 0);
    assert.equal(await wal.truncate("s", 15), 1);
    assert.ok(!ops.some((o) => o.includes(ACTIVE_HINT_NAME)), `already durable: ${ops.join("\n")}`);
    faulty.crash({ torn: "none" });
    const cfs = counting(faulty);
    const w2 = await Wal.open({ root: "/w", fs: cfs, maxEntriesPerSegment: 5 });
    try {
      assert.deepEqual(cfs.lists, ["/w"]);
      await check(w2, 15, 17);
    } finally {
      await w2.close();
    }
  });

  it("a crash at any step of a truncate leaves a log open reads right (FaultyFs, every crash point)", async () => {
    const probe = new FaultyFs();
    const setup = async (fs: FaultyFs) => {
      const wal = await Wal.open({ root: "/w", fs, maxEntriesPerSegment: 5 });
      await fill(wal, 0, 23);
      return wal;
    };
    const w = await setup(probe);
    const before = probe.opCount;
    await w.truncate("s", 17);
    const steps = probe.opCount - before;
    await w.close();
    assert.ok(steps >= 5, `${steps} steps`);
    for (let k = 0; k < steps; k++) {
      const fs = new FaultyFs();
      const wal = await setup(fs);
      fs.crashAfterOp(k);
      await assert.rejects(wal.truncate("s", 17));
      assert.ok(fs.crashed);
      fs.crash({ torn: "none" });
      const w2 = await Wal.open({ root: "/w", fs, maxEntriesPerSegment: 5 });
      try {
        const first = w2.firstId("s");
        assert.ok([0, 5, 10, 15].includes(first), `crash point ${k}: first id ${first}`);
        assert.equal(w2.nextId("s"), 23, `crash point ${k}`);
        for (let id = first; id < 23; id++) assert.deepEqual(await w2.get("s", id), entry(id), `crash point ${k}, id ${id}`);
        assert.equal(await w2.append("s", entry(23)), 23);
      } finally {
        await w2.close();
      }
    }
  });
});
