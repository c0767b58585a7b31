/**
 * Reopen and recovery (SPEC §4, §5): data comes back and ids continue; torn
 * tails of the active segment are cut and reported; damage a crash cannot
 * explain is CORRUPTION (or cut back with onCorruption "truncate"); damaged
 * frames read as CRC_MISMATCH; lost or garbage index files are rebuilt;
 * a missing middle segment is CORRUPTION; garbage in the root is a warning.
 *
 * Files are damaged directly, on MemoryFs and on real files.
 */

import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import * as nfs from "node:fs";
import { Wal, type WalEvent, type WalFs, type WalOptions } from "../mod.ts";
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
  s,
  SEGMENT_HEADER,
  segmentFiles,
  tempDir,
} from "./_wal_util.ts";

let top = "";
let counter = 0;
before(() => {
  top = tempDir("recovery");
});
after(() => {
  removeDir(top);
});

const SEG0 = "0".repeat(20) + ".wal";
const segName = (first: number) => String(first).padStart(20, "0") + ".wal";
const idxName = (first: number) => String(first).padStart(20, "0") + ".idx";

/** A place to put a WAL plus raw access to its files, on MemoryFs or real files. */
interface Place {
  kind: string;
  root: string;
  fs: WalFs;
  size(path: string): number;
  read(path: string): Uint8Array;
  truncate(path: string, length: number): void;
  appendBytes(path: string, bytes: Uint8Array): void;
  writeAt(path: string, bytes: Uint8Array, offset: number): void;
  remove(path: string): void;
  exists(path: string): boolean;
}

function memPlace(): Place {
  const fs = new MemoryFs();
  const withFile = <T>(path: string, f: (h: ReturnType<MemoryFs["open"]>) => T): T => {
    const h = fs.open(path, "write");
    try {
      return f(h);
    } finally {
      h.close();
    }
  };
  return {
    kind: "MemoryFs",
    root: `/wal${counter++}`,
    fs,
    size: (p) => fs.stat(p)!.size,
    read: (p) =>
      withFile(p, (h) => {
        const buf = new Uint8Array(h.size());
        h.read(buf, 0);
        return buf;
      }),
    truncate: (p, n) => withFile(p, (h) => h.truncate(n)),
    appendBytes: (p, x) => withFile(p, (h) => h.write(x, h.size())),
    writeAt: (p, x, o) => withFile(p, (h) => h.write(x, o)),
    remove: (p) => fs.remove(p),
    exists: (p) => fs.stat(p) !== undefined,
  };
}

function realPlace(): Place {
  return {
    kind: "real files",
    root: `${top}/w${counter++}`,
    fs: nodeFs,
    size: (p) => nfs.statSync(p).size,
    read: (p) => new Uint8Array(nfs.readFileSync(p)),
    truncate: (p, n) => nfs.truncateSync(p, n),
    appendBytes: (p, x) => nfs.appendFileSync(p, x),
    writeAt: (p, x, o) => {
      const fd = nfs.openSync(p, "r+");
      try {
        nfs.writeSync(fd, x, 0, x.length, o);
      } finally {
        nfs.closeSync(fd);
      }
    },
    remove: (p) => nfs.unlinkSync(p),
    exists: (p) => nfs.existsSync(p),
  };
}

const places: Array<() => Place> = [memPlace, realPlace];

function open(p: Place, extra: WalOptions = {}): Promise<Wal> {
  return Wal.open({ root: p.root, fs: p.fs, ...extra });
}

function flip(p: Place, path: string, offset: number): void {
  const all = p.read(path);
  p.writeAt(path, new Uint8Array([all[offset] ^ 0xff]), offset);
}

/** Entries of a stream as strings. */
async function texts(wal: Wal, stream: string): Promise<string[]> {
  return (await collect(wal.iter(stream))).map((e) => s(e.data)!);
}

// ------------------------------------------------------------------- reopen

describe("reopen", () => {
  for (const mk of places) {
    it(`all data comes back, nextId continues, ids are never reused (${mk().kind})`, async () => {
      const p = mk();
      const expect = new Map<string, string[]>();
      const add = async (wal: Wal, stream: string, v: string) => {
        const list = expect.get(stream) ?? [];
        assert.equal(await wal.append(stream, b(v)), list.length);
        list.push(v);
        expect.set(stream, list);
      };
      for (let round = 0; round < 4; round++) {
        const wal = await open(p, { maxEntriesPerSegment: 6 });
        try {
          assert.deepEqual(wal.streams(), [...expect.keys()].sort());
          for (const [k, v] of expect) {
            assert.equal(wal.nextId(k), v.length);
            assert.deepEqual(await texts(wal, k), v);
          }
          assert.equal(wal.recovery.bytesTruncated, 0);
          assert.deepEqual(wal.recovery.repairs, []);
          for (let i = 0; i < 5; i++) await add(wal, "a", `a${round}.${i}`);
          await add(wal, `r${round}`, "new stream");
          const r = await wal.appendBatch("b", [b(`b${round}.0`), b(`b${round}.1`)]);
          const list = expect.get("b") ?? [];
          assert.equal(r.start, list.length);
          list.push(`b${round}.0`, `b${round}.1`);
          expect.set("b", list);
        } finally {
          await wal.close();
        }
      }
    });
  }

  it("reopen with different segment limits reads the old segments", async () => {
    const p = realPlace();
    let wal = await open(p, { maxSegmentSize: 256 });
    for (let i = 0; i < 30; i++) await wal.append("x", pattern(50, i));
    await wal.close();
    wal = await open(p, { maxSegmentSize: 1 << 20, maxEntriesPerSegment: 3 });
    try {
      for (let i = 30; i < 40; i++) assert.equal(await wal.append("x", pattern(50, i)), i);
      const all = await collect(wal.iter("x"));
      assert.equal(all.length, 40);
      all.forEach((e, i) => assert.deepEqual(e.data, pattern(50, i)));
    } finally {
      await wal.close();
    }
  });
});

// ---------------------------------------------------------------- torn tail

describe("torn tail of the active segment", () => {
  interface Case {
    name: string;
    /** Damages the segment file; returns [bytes expected to be cut, entries expected to survive]. */
    damage(p: Place, path: string, frameOffsets: number[], size: number): [number, number];
  }
  // 6 entries, the last two in a batch: frames at offsets[0..4], the batch is frame 4 (ids 4, 5)
  const cases: Case[] = [
    {
      name: "cut inside the last frame's header",
      damage: (p, path, offs) => {
        p.truncate(path, offs[4] + 10);
        return [10, 4];
      },
    },
    {
      name: "cut right after the last frame's header",
      damage: (p, path, offs) => {
        p.truncate(path, offs[4] + FRAME_HEADER);
        return [FRAME_HEADER, 4];
      },
    },
    {
      name: "cut inside the last frame's payload (the batch goes whole)",
      damage: (p, path, offs, size) => {
        p.truncate(path, size - 3);
        return [size - 3 - offs[4], 4];
      },
    },
    {
      name: "cut inside an earlier frame",
      damage: (p, path, offs) => {
        p.truncate(path, offs[3] + 40);
        return [40, 3];
      },
    },
    {
      name: "cut right after the segment header",
      damage: (p, path) => {
        p.truncate(path, SEGMENT_HEADER + 5);
        return [5, 0];
      },
    },
    {
      name: "zeros appended",
      damage: (p, path) => {
        p.appendBytes(path, new Uint8Array(100));
        return [100, 6];
      },
    },
    {
      name: "a few zeros appended (less than a header)",
      damage: (p, path) => {
        p.appendBytes(path, new Uint8Array(7));
        return [7, 6];
      },
    },
    {
      name: "garbage appended",
      damage: (p, path) => {
        const g = pattern(333, 77).map((x) => (x === 0x57 ? 0x58 : x));
        p.appendBytes(path, g);
        return [333, 6];
      },
    },
    {
      name: "the last frame torn and zeros after it",
      damage: (p, path, offs) => {
        p.truncate(path, offs[4] + 20);
        p.appendBytes(path, new Uint8Array(4096));
        return [20 + 4096, 4];
      },
    },
  ];

  for (const mk of places) {
    for (const c of cases) {
      it(`${c.name} (${mk().kind}): cut, reported, ids reused, all reads back`, async () => {
        const p = mk();
        const values = ["v0", "v1-longer", "v2", "v3-".repeat(20), "v4", "v5"];
        let wal = await open(p);
        const sizes: number[] = [];
        for (let i = 0; i < 4; i++) await wal.append("s", b(values[i]));
        await wal.appendBatch("s", [b(values[4]), b(values[5])]);
        await wal.append("other", b("untouched"));
        await wal.close();
        const path = `${p.root}/s/${SEG0}`;
        const offs: number[] = [];
        let o = SEGMENT_HEADER;
        for (let i = 0; i < 4; i++) {
          offs.push(o);
          o += FRAME_HEADER + values[i].length;
        }
        offs.push(o);
        o += FRAME_HEADER + 8 + values[4].length + values[5].length;
        assert.equal(p.size(path), o, "layout as expected");
        sizes.push(o);
        const [cut, kept] = c.damage(p, path, offs, o);

        const events: WalEvent[] = [];
        wal = await open(p, { meter: (e) => events.push(e) });
        try {
          const r = wal.recovery;
          assert.equal(r.bytesTruncated, cut, "bytesTruncated");
          assert.equal(r.corruptionDetected, false, "a torn tail is not corruption");
          assert.equal(r.repairs.length, 1, r.repairs.join("\n"));
          assert.ok(r.repairs[0].includes('"s"'), r.repairs[0]);
          assert.ok(r.repairs[0].includes(SEG0), r.repairs[0]);
          assert.equal(r.validRecords, kept + 1, "surviving entries + the other stream's one");
          assert.ok(events.some((e) => e.type === "corruptionTruncated" && e.stream === "s" && e.bytes === cut) || cut === 0);
          assert.equal(wal.nextId("s"), kept);
          assert.deepEqual(await texts(wal, "s"), values.slice(0, kept));
          for (let i = kept; i < 6; i++) assert.equal(await wal.get("s", i), undefined, `id ${i} is gone`);
          assert.deepEqual(await texts(wal, "other"), ["untouched"]);
          // the next append reuses the first lost id, and everything reads back
          assert.equal(await wal.append("s", b("new")), kept);
          assert.equal(await wal.append("s", b("newer")), kept + 1);
          assert.deepEqual(await texts(wal, "s"), [...values.slice(0, kept), "new", "newer"]);
          assert.equal(s(await wal.get("s", kept)), "new");
        } finally {
          await wal.close();
        }
        wal = await open(p);
        try {
          assert.equal(wal.recovery.bytesTruncated, 0);
          assert.deepEqual(wal.recovery.repairs, []);
          assert.deepEqual(await texts(wal, "s"), [...values.slice(0, kept), "new", "newer"]);
        } finally {
          await wal.close();
        }
      });
    }
  }

  it("a torn tail in the active segment of a stream with sealed segments", async () => {
    const p = realPlace();
    let wal = await open(p, { maxEntriesPerSegment: 4 });
    for (let i = 0; i < 10; i++) await wal.append("s", b(`e${i}`));
    await wal.close();
    const path = `${p.root}/s/${segName(8)}`;
    p.truncate(path, p.size(path) - 1); // id 9 torn
    wal = await open(p, { maxEntriesPerSegment: 4 });
    try {
      assert.equal(wal.recovery.bytesTruncated, FRAME_HEADER + 2 - 1);
      assert.equal(wal.nextId("s"), 9);
      assert.equal(await wal.append("s", b("e9'")), 9);
      assert.deepEqual(await texts(wal, "s"), ["e0", "e1", "e2", "e3", "e4", "e5", "e6", "e7", "e8", "e9'"]);
    } finally {
      await wal.close();
    }
  });

  it("a torn segment header of a new active segment is rewritten", async () => {
    const p = realPlace();
    let wal = await open(p, { maxEntriesPerSegment: 2 });
    for (let i = 0; i < 4; i++) await wal.append("s", b(`e${i}`));
    await wal.close();
    // as if the crash came while creating segment 4: a short header
    nfs.writeFileSync(`${p.root}/s/${segName(4)}`, new Uint8Array(12));
    wal = await open(p, { maxEntriesPerSegment: 2 });
    try {
      assert.equal(wal.recovery.corruptionDetected, false);
      assert.equal(wal.recovery.bytesTruncated, 12);
      assert.equal(wal.nextId("s"), 4);
      assert.equal(await wal.append("s", b("e4")), 4);
      assert.deepEqual(await texts(wal, "s"), ["e0", "e1", "e2", "e3", "e4"]);
    } finally {
      await wal.close();
    }
  });
});

// -------------------------------------------------------------- CRC damage

describe("damaged frames", () => {
  it("get of a frame with a flipped byte → CRC_MISMATCH naming stream, file and offset", async () => {
    for (const mk of places) {
      const p = mk();
      const wal = await open(p);
      try {
        const vals = ["alpha", "bravo", "charlie", "delta"];
        for (const v of vals) await wal.append("crc", b(v));
        const path = `${p.root}/crc/${SEG0}`;
        const off2 = SEGMENT_HEADER + 2 * FRAME_HEADER + vals[0].length + vals[1].length;
        flip(p, path, off2 + FRAME_HEADER + 2); // a payload byte of id 2
        const m = await rejectsCode(wal.get("crc", 2), "CRC_MISMATCH");
        assert.ok(m.includes('"crc"'), `stream in: ${m}`);
        assert.ok(m.includes(SEG0), `file in: ${m}`);
        assert.ok(m.includes(`offset ${off2}`), `offset ${off2} in: ${m}`);
        assert.equal(s(await wal.get("crc", 1)), "bravo", "neighbours still read");
        assert.equal(s(await wal.get("crc", 3)), "delta");
        await rejectsCode(collect(wal.iter("crc")), "CRC_MISMATCH");
        await rejectsCode(wal.readRange("crc", 0, 4), "CRC_MISMATCH");
        assert.deepEqual((await wal.readRange("crc", 0, 2)).map((e) => s(e.data)), ["alpha", "bravo"]);
        // a flipped header byte (the id field) is caught too
        flip(p, path, SEGMENT_HEADER + 16);
        await assert.rejects(wal.get("crc", 0), (e: unknown) => {
          assert.ok(["CRC_MISMATCH", "CORRUPTION"].includes((e as { code: string }).code));
          return true;
        });
      } finally {
        await wal.close();
      }
    }
  });

  for (const mk of places) {
    it(`reopen with a flipped byte mid-way in a synced active segment → CORRUPTION; "truncate" cuts back (${mk().kind})`, async () => {
      const p = mk();
      let wal = await open(p, { syncMode: "strict" });
      const vals = Array.from({ length: 10 }, (_, i) => `entry-${i}-${"x".repeat(i * 3)}`);
      for (const v of vals) await wal.append("d", b(v));
      await wal.append("fine", b("ok"));
      await wal.close();
      const path = `${p.root}/d/${SEG0}`;
      const size = p.size(path);
      let off4 = SEGMENT_HEADER;
      for (let i = 0; i < 4; i++) off4 += FRAME_HEADER + vals[i].length;
      flip(p, path, off4 + FRAME_HEADER + 5);

      const m = await rejectsCode(open(p), "CORRUPTION");
      assert.ok(m.includes('"d"') && m.includes(SEG0) && m.includes(`offset ${off4}`), m);
      assert.ok(m.includes("truncate"), `says what to do: ${m}`);
      assert.equal(p.size(path), size, "nothing was cut with onCorruption error");
      await rejectsCode(open(p, { onCorruption: "error" }), "CORRUPTION");

      const events: WalEvent[] = [];
      wal = await open(p, { onCorruption: "truncate", meter: (e) => events.push(e) });
      try {
        const r = wal.recovery;
        assert.equal(r.corruptionDetected, true);
        assert.equal(r.bytesTruncated, size - off4);
        assert.ok(r.repairs.some((x) => x.includes(`offset ${off4}`)), r.repairs.join("\n"));
        assert.ok(events.some((e) => e.type === "corruptionTruncated" && e.stream === "d" && e.offset === off4));
        assert.equal(p.size(path), off4);
        assert.equal(wal.nextId("d"), 4);
        assert.deepEqual(await texts(wal, "d"), vals.slice(0, 4));
        assert.equal(await wal.get("d", 4), undefined);
        assert.equal(await wal.get("d", 9), undefined);
        assert.deepEqual(await texts(wal, "fine"), ["ok"]);
        assert.equal(await wal.append("d", b("after")), 4);
      } finally {
        await wal.close();
      }
      wal = await open(p);
      try {
        assert.equal(wal.recovery.corruptionDetected, false);
        assert.deepEqual(await texts(wal, "d"), [...vals.slice(0, 4), "after"]);
      } finally {
        await wal.close();
      }
    });
  }

  it("a bad header of the only segment: CORRUPTION, or reset with \"truncate\"", async () => {
    const p = realPlace();
    let wal = await open(p);
    for (let i = 0; i < 3; i++) await wal.append("h", b(`e${i}`));
    await wal.close();
    const path = `${p.root}/h/${SEG0}`;
    flip(p, path, 3); // in the magic
    await rejectsCode(open(p), "CORRUPTION");
    wal = await open(p, { onCorruption: "truncate" });
    try {
      assert.equal(wal.recovery.corruptionDetected, true);
      assert.equal(wal.nextId("h"), 0);
      assert.equal(await wal.append("h", b("fresh")), 0);
    } finally {
      await wal.close();
    }
  });

  it("a damaged sealed segment → get of an id in it is CRC_MISMATCH; others read", async () => {
    for (const dropIndex of [false, true]) {
      const p = realPlace();
      let wal = await open(p, { maxEntriesPerSegment: 5 });
      for (let i = 0; i < 15; i++) await wal.append("z", b(`val${i}`));
      await wal.close();
      const path = `${p.root}/z/${segName(5)}`;
      const off7 = SEGMENT_HEADER + 2 * (FRAME_HEADER + 4);
      flip(p, path, off7 + FRAME_HEADER + 1); // payload of id 7
      if (dropIndex) p.remove(`${p.root}/z/${idxName(5)}`);
      wal = await open(p, { maxEntriesPerSegment: 5 });
      try {
        assert.equal(wal.recovery.corruptionDetected, false, "open does not read sealed segments");
        const m = await rejectsCode(wal.get("z", 7), "CRC_MISMATCH");
        assert.ok(m.includes('"z"') && m.includes(segName(5)) && m.includes(`offset ${off7}`), m);
        assert.equal(s(await wal.get("z", 2)), "val2");
        assert.equal(s(await wal.get("z", 12)), "val12");
        if (!dropIndex) assert.equal(s(await wal.get("z", 6)), "val6");
        await rejectsCode(collect(wal.iter("z")), "CRC_MISMATCH");
        assert.deepEqual((await collect(wal.iter("z", 10))).map((e) => s(e.data)), ["val10", "val11", "val12", "val13", "val14"]);
      } finally {
        await wal.close();
      }
    }
  });
});

// ------------------------------------------------------------------ indexes

describe("index files of sealed segments", () => {
  const damages: Array<[string, (p: Place, path: string) => void]> = [
    ["deleted", (p, path) => p.remove(path)],
    ["garbage", (p, path) => {
      p.truncate(path, 0);
      p.appendBytes(path, pattern(200, 5));
    }],
    ["truncated", (p, path) => p.truncate(path, p.size(path) - 5)],
    ["emptied", (p, path) => p.truncate(path, 0)],
    ["a flipped byte", (p, path) => flip(p, path, 40)],
  ];
  for (const mk of places) {
    for (const [what, damage] of damages) {
      it(`${what} .idx (${mk().kind}) → get and iter still work, the index is rebuilt`, async () => {
        const p = mk();
        let wal = await open(p, { maxSegmentSize: 400 });
        const data: Uint8Array[] = [];
        for (let i = 0; i < 40; i++) {
          data.push(pattern(10 + i, i));
          await wal.append("ix", data[i]);
        }
        await wal.close();
        const dir = `${p.root}/ix`;
        const idxs = p.fs.readDir(dir).map((e) => e.name).filter((n) => n.endsWith(".idx")).sort();
        assert.ok(idxs.length >= 3, `${idxs.length} index files`);
        for (const n of idxs) damage(p, `${dir}/${n}`);
        wal = await open(p, { maxSegmentSize: 400 });
        try {
          for (const i of [0, 5, 13, 22, 39]) assert.deepEqual(await wal.get("ix", i), data[i], `id ${i}`);
          const all = await collect(wal.iter("ix", 3));
          assert.equal(all.length, 37);
          all.forEach((e) => assert.deepEqual(e.data, data[e.id]));
        } finally {
          await wal.close();
        }
        for (const n of idxs) assert.ok(p.exists(`${dir}/${n}`), `${n} rebuilt`);
        wal = await open(p, { maxSegmentSize: 400 });
        try {
          assert.deepEqual(await wal.get("ix", 1), data[1]);
        } finally {
          await wal.close();
        }
      });
    }
  }
});

// ----------------------------------------------------- missing segment file

describe("a missing middle segment", () => {
  it("reading ids in the gap is CORRUPTION; ids after it still read", async () => {
    for (const mk of places) {
      const p = mk();
      let wal = await open(p, { maxEntriesPerSegment: 10 });
      for (let i = 0; i < 40; i++) await wal.append("g", b(`v${i}`));
      await wal.close();
      p.remove(`${p.root}/g/${segName(10)}`);
      p.remove(`${p.root}/g/${idxName(10)}`);
      wal = await open(p, { maxEntriesPerSegment: 10 });
      try {
        for (const id of [10, 15, 19]) {
          const m = await rejectsCode(wal.get("g", id), "CORRUPTION");
          assert.ok(m.includes('"g"'), m);
        }
        await rejectsCode(collect(wal.iter("g", 12)), "CORRUPTION");
        await rejectsCode(collect(wal.iter("g")), "CORRUPTION");
        assert.equal(s(await wal.get("g", 25)), "v25");
        assert.equal(s(await wal.get("g", 39)), "v39");
        assert.equal(await wal.append("g", b("v40")), 40);
      } finally {
        await wal.close();
      }
    }
  });
});

// ------------------------------------------------------------ garbage in root

describe("garbage in the root", () => {
  it("files and directories that are not streams are warnings, not a crash", async () => {
    const p = realPlace();
    let wal = await open(p);
    await wal.append("good", b("1"));
    await wal.close();
    const r = p.root;
    nfs.writeFileSync(`${r}/junk.txt`, "hello");
    nfs.mkdirSync(`${r}/Not A Stream`);
    nfs.mkdirSync(`${r}/x_zz`);
    nfs.mkdirSync(`${r}/a_61`); // not canonical: 'a' is never escaped
    nfs.writeFileSync(`${r}/looksok`, "a file where a stream directory would be");
    nfs.writeFileSync(`${r}/good/notes.txt`, "stray");
    nfs.writeFileSync(`${r}/good/123.wal`, "wrong name");
    nfs.mkdirSync(`${r}/good/subdir`);
    const rootStrays = ["junk.txt", "Not A Stream", "x_zz", "a_61", "looksok"];
    const streamStrays = ["notes.txt", "123.wal", "subdir"];
    const warned: string[] = [];
    wal = await open(p, { meter: (e) => e.type === "warning" && warned.push(e.message) });
    try {
      // The root is listed at open. The stream directory is not (its ACTIVE hint
      // names the active segment): its strays are reported when it is first listed.
      let w = wal.recovery.warnings.join("\n");
      for (const n of rootStrays) assert.ok(w.includes(n), `warning for ${n} in:\n${w}`);
      for (const n of streamStrays) assert.ok(!w.includes(n), `no warning for ${n} before the stream is listed:\n${w}`);
      assert.deepEqual(warned, wal.recovery.warnings);
      assert.equal(wal.firstId("good"), 0, "firstId lists the stream directory");
      w = wal.recovery.warnings.join("\n");
      for (const n of [...rootStrays, ...streamStrays]) assert.ok(w.includes(n), `warning for ${n} in:\n${w}`);
      assert.deepEqual(warned, wal.recovery.warnings, "later warnings are emitted too");
      assert.equal(wal.firstId("good"), 0);
      assert.equal(warned.length, rootStrays.length + streamStrays.length, "each stray is reported once");
      assert.deepEqual(wal.streams(), ["good"]);
      assert.equal(s(await wal.get("good", 0)), "1");
      assert.equal(await wal.append("good", b("2")), 1);
      assert.equal(await wal.append("looksok2", b("x")), 0);
      // a stream whose directory name is taken by a file: a clear error, and the id is not used up
      const m = await rejectsCode(wal.append("looksok", b("x")), "IO");
      assert.ok(m.includes("looksok"), m);
      assert.equal(wal.nextId("looksok"), 0);
      assert.equal(await wal.get("looksok", 0), undefined);
    } finally {
      await wal.close();
    }
    assert.equal(nfs.readFileSync(`${r}/junk.txt`, "utf8"), "hello", "garbage is left alone");
    assert.equal(nfs.readFileSync(`${r}/good/123.wal`, "utf8"), "wrong name");
    // Without the hint, open lists the stream directory and reports everything at once.
    nfs.rmSync(`${r}/good/ACTIVE`);
    wal = await open(p);
    try {
      const w = wal.recovery.warnings.join("\n");
      for (const n of [...rootStrays, ...streamStrays]) assert.ok(w.includes(n), `warning for ${n} in:\n${w}`);
      assert.equal(s(await wal.get("good", 1)), "2");
    } finally {
      await wal.close();
    }
  });

  it("an empty stream directory is an empty stream", async () => {
    const p = realPlace();
    nfs.mkdirSync(`${p.root}/empty`, { recursive: true });
    const wal = await open(p);
    try {
      assert.deepEqual(wal.recovery.warnings, []);
      assert.equal(wal.nextId("empty"), 0);
      assert.equal(await wal.get("empty", 0), undefined);
      assert.equal(await wal.append("empty", b("first")), 0);
      assert.equal(s(await wal.get("empty", 0)), "first");
    } finally {
      await wal.close();
    }
  });

  it("a failed open releases the lock", async () => {
    const p = realPlace();
    let wal = await open(p);
    for (let i = 0; i < 3; i++) await wal.append("d", b(`${i}`));
    await wal.close();
    flip(p, `${p.root}/d/${SEG0}`, 2);
    await assert.rejects(open(p), (e: unknown) => {
      isWalError(e, "CORRUPTION");
      return true;
    });
    wal = await open(p, { onCorruption: "truncate" });
    await wal.close();
    assert.ok(segmentFiles(`${p.root}/d`).length === 1);
  });
});
