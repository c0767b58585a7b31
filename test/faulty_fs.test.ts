import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { CrashSignal, FaultyFs, seededRng } from "../adapters/faulty.ts";
import { MemoryFs } from "../adapters/memory.ts";
import { WalError } from "../src/errors.ts";
import { bytes, readAll, throwsCode } from "./_fs_util.ts";
import type { WalFile } from "../src/io.ts";

const fill = (n: number, v: number) => new Uint8Array(n).fill(v);



/** A FaultyFs with a durable directory `/wal`. */
function setup(options?: { maxOpenFiles?: number }): FaultyFs {
  const fs = new FaultyFs(options);
  fs.mkdir("/wal");
  fs.syncDir("/");
  return fs;
}

/** Creates `/wal/<name>` durably with `content` durable. */
function durableFile(fs: FaultyFs, name: string, content: Uint8Array): WalFile {
  const f = fs.open(`/wal/${name}`, "create");
  f.write(content, 0);
  f.datasync();
  fs.syncDir("/wal");
  return f;
}

describe("FaultyFs without crashes behaves as MemoryFs", () => {
  it("is a MemoryFs named faulty and runs the same operations", () => {
    const fs = new FaultyFs();
    assert.ok(fs instanceof MemoryFs);
    assert.equal(fs.name, "faulty");
    fs.mkdir("/a/b");
    const f = fs.open("/a/b/f", "create");
    f.write(bytes(1, 2), 3);
    assert.deepEqual(readAll(fs, "/a/b/f"), bytes(0, 0, 0, 1, 2));
    assert.deepEqual(fs.stat("/a/b/f"), { isFile: true, isDirectory: false, size: 5 });
    assert.deepEqual(fs.readDir("/a/b").map((e) => e.name), ["f"]);
    f.truncate(1);
    assert.equal(f.size(), 1);
    fs.rename("/a/b/f", "/a/g");
    fs.remove("/a/g");
    fs.removeDir("/a/b");
    throwsCode(() => fs.open("/a/b/x", "create"), "ENOENT", "/a/b/x");
    throwsCode(() => fs.removeDir("/"), "EBUSY");
    f.close();
    throwsCode(() => f.size(), "EBADF", "/a/b/f");
    throwsCode(() => fs.map("/a"), "EISDIR", "/a");
  });

  it("map, lock and read-only handles", () => {
    const fs = setup();
    durableFile(fs, "seg", bytes(9, 8)).close();
    assert.deepEqual(fs.map("/wal/seg").bytes, bytes(9, 8));
    const l = fs.lock("/wal");
    assert.throws(
      () => fs.lock("/wal"),
      (e: unknown) => e instanceof WalError && e.code === "LOCKED",
    );
    l.release();
    l.release();
    fs.lock("/wal").release();
    const r = fs.open("/wal/seg", "read");
    throwsCode(() => r.write(bytes(1), 0), "EBADF");
    r.close();
  });
});

describe("FaultyFs durability", () => {
  it("synced bytes survive a crash, unsynced bytes are lost", () => {
    const fs = setup();
    const f = durableFile(fs, "a", bytes(1, 2, 3));
    f.write(bytes(4, 5), 3);
    f.write(bytes(7), 0);
    fs.crash();
    assert.deepEqual(readAll(fs, "/wal/a"), bytes(1, 2, 3));
  });

  it("sync() makes data durable like datasync()", () => {
    const fs = setup();
    const f = durableFile(fs, "a", bytes());
    f.write(bytes(1, 2), 0);
    f.sync();
    f.write(bytes(3), 2);
    fs.crash();
    assert.deepEqual(readAll(fs, "/wal/a"), bytes(1, 2));
  });

  it("only what changed since the last sync is lost, across many syncs", () => {
    const fs = setup();
    const f = durableFile(fs, "a", bytes());
    for (let i = 0; i < 50; i++) {
      f.write(fill(100, i), i * 100);
      if (i % 7 === 0) f.datasync();
    }
    fs.crash();
    const got = readAll(fs, "/wal/a");
    assert.equal(got.length, 50 * 100);
    for (let i = 0; i < 50; i++) assert.equal(got[i * 100 + 99], i);
    const g = fs.open("/wal/a", "write");
    g.write(fill(10, 1), 6000);
    fs.crash();
    assert.equal(fs.stat("/wal/a")?.size, 50 * 100);
  });

  it("syncs copy only what changed: many small synced appends stay fast", () => {
    const fs = setup();
    const f = durableFile(fs, "a", bytes());
    const frame = fill(64, 5);
    const t0 = Date.now();
    for (let i = 0; i < 50_000; i++) {
      f.write(frame, i * 64);
      f.datasync();
    }
    const ms = Date.now() - t0;
    assert.ok(ms < 3000, `50k write+datasync took ${ms} ms`);
    fs.crash();
    assert.equal(fs.stat("/wal/a")?.size, 50_000 * 64);
  });

  it("unsynced truncates are lost, synced ones kept", () => {
    const fs = setup();
    const f = durableFile(fs, "a", bytes(1, 2, 3, 4));
    f.truncate(2);
    fs.crash();
    assert.deepEqual(readAll(fs, "/wal/a"), bytes(1, 2, 3, 4));
    const g = fs.open("/wal/a", "write");
    g.truncate(1);
    g.datasync();
    g.truncate(3); // grows with zeros, unsynced
    fs.crash();
    assert.deepEqual(readAll(fs, "/wal/a"), bytes(1));
    const h = fs.open("/wal/a", "write");
    h.truncate(3);
    h.write(bytes(6), 4);
    h.datasync();
    fs.crash();
    assert.deepEqual(readAll(fs, "/wal/a"), bytes(1, 0, 0, 0, 6));
  });

  it("a file created without syncing its directory disappears, even with data synced", () => {
    const fs = setup();
    const f = fs.open("/wal/new", "create");
    f.write(bytes(1), 0);
    f.datasync();
    fs.crash();
    assert.equal(fs.stat("/wal/new"), undefined);
    assert.deepEqual(fs.readDir("/wal"), []);
  });

  it("a created file whose directory is synced survives, with only its synced bytes", () => {
    const fs = setup();
    const f = fs.open("/wal/new", "create");
    fs.syncDir("/wal");
    f.write(bytes(1), 0);
    fs.crash();
    assert.deepEqual(fs.stat("/wal/new"), { isFile: true, isDirectory: false, size: 0 });
  });

  it("directories need their parent synced; the root always exists", () => {
    const fs = new FaultyFs();
    fs.mkdir("/a/b");
    fs.syncDir("/a");
    fs.crash();
    assert.equal(fs.stat("/a"), undefined);
    assert.equal(fs.stat("/")?.isDirectory, true);
    fs.mkdir("/a/b");
    fs.syncDir("/");
    fs.crash();
    assert.equal(fs.stat("/a")?.isDirectory, true);
    assert.equal(fs.stat("/a/b"), undefined);
  });

  it("a rename without a directory sync is undone, the replaced file comes back", () => {
    const fs = setup();
    durableFile(fs, "tmp", bytes(1)).close();
    durableFile(fs, "HEAD", bytes(2)).close();
    fs.rename("/wal/tmp", "/wal/HEAD");
    assert.deepEqual(readAll(fs, "/wal/HEAD"), bytes(1));
    fs.crash();
    assert.deepEqual(readAll(fs, "/wal/tmp"), bytes(1));
    assert.deepEqual(readAll(fs, "/wal/HEAD"), bytes(2));
    fs.rename("/wal/tmp", "/wal/HEAD");
    fs.syncDir("/wal");
    fs.crash();
    assert.equal(fs.stat("/wal/tmp"), undefined);
    assert.deepEqual(readAll(fs, "/wal/HEAD"), bytes(1));
  });

  it("a rename across directories is durable per directory", () => {
    const fs = setup();
    fs.mkdir("/other");
    fs.syncDir("/");
    durableFile(fs, "x", bytes(3)).close();
    fs.rename("/wal/x", "/other/y");
    fs.syncDir("/other");
    fs.crash();
    assert.deepEqual(readAll(fs, "/other/y"), bytes(3));
    assert.deepEqual(readAll(fs, "/wal/x"), bytes(3), "the source directory was not synced");
  });

  it("a remove without a directory sync is undone, with the durable content", () => {
    const fs = setup();
    const f = durableFile(fs, "a", bytes(1, 2));
    f.write(bytes(3), 2);
    fs.remove("/wal/a");
    fs.crash();
    assert.deepEqual(readAll(fs, "/wal/a"), bytes(1, 2));
    fs.remove("/wal/a");
    fs.syncDir("/wal");
    fs.crash();
    assert.equal(fs.stat("/wal/a"), undefined);
  });

  it("removeDir is undone without a parent sync", () => {
    const fs = setup();
    fs.removeDir("/wal");
    fs.crash();
    assert.equal(fs.stat("/wal")?.isDirectory, true);
    fs.removeDir("/wal");
    fs.syncDir("/");
    fs.crash();
    assert.equal(fs.stat("/wal"), undefined);
  });

  it("syncAll makes everything durable", () => {
    const fs = new FaultyFs();
    fs.mkdir("/a/b");
    const f = fs.open("/a/b/f", "create");
    f.write(bytes(1, 2), 0);
    const before = fs.opCount;
    fs.syncAll();
    assert.equal(fs.opCount, before, "syncAll is not an operation");
    f.write(bytes(3), 2);
    fs.crash();
    assert.deepEqual(readAll(fs, "/a/b/f"), bytes(1, 2));
  });

  it("a crash invalidates handles, drops locks and resets the open count", () => {
    const fs = setup();
    const f = durableFile(fs, "a", bytes(1));
    fs.lock("/wal");
    assert.equal(fs.openFiles, 1);
    fs.crash();
    assert.equal(fs.openFiles, 0);
    throwsCode(() => f.read(new Uint8Array(1), 0), "EBADF", "/wal/a");
    throwsCode(() => f.write(bytes(1), 0), "EBADF");
    throwsCode(() => f.datasync(), "EBADF");
    throwsCode(() => f.sync(), "EBADF");
    throwsCode(() => f.truncate(0), "EBADF");
    throwsCode(() => f.size(), "EBADF");
    throwsCode(() => f.close(), "EBADF");
    const l = fs.lock("/wal");
    l.release();
    const g = fs.open("/wal/a", "read");
    assert.equal(g.size(), 1);
    g.close();
  });
});

describe("FaultyFs torn writes", () => {
  it("prefix: the last unsynced write survives as a prefix of itself", () => {
    const seen = new Set<number>();
    for (let seed = 0; seed < 200; seed++) {
      const fs = setup();
      const f = durableFile(fs, "a", fill(10, 1));
      f.write(fill(5, 2), 10); // an earlier unsynced write: lost in prefix mode
      f.write(fill(20, 3), 15); // the last write
      fs.crash({ torn: "prefix", rng: seededRng(seed) });
      const got = readAll(fs, "/wal/a");
      assert.deepEqual(got.subarray(0, 10), fill(10, 1), "durable bytes unchanged");
      const kept = got.length === 10 ? 0 : got.length - 15;
      assert.ok(kept >= 0 && kept <= 20, `length ${got.length}`);
      if (kept > 0) {
        assert.deepEqual(got.subarray(10, 15), fill(5, 0), "the earlier write is lost");
        assert.deepEqual(got.subarray(15), fill(kept, 3));
      }
      seen.add(kept);
    }
    assert.ok(seen.has(0) && seen.has(20) && seen.size > 15, `prefix lengths seen: ${[...seen]}`);
  });

  it("prefix: an overwrite inside the durable length keeps the length", () => {
    const fs = setup();
    const f = durableFile(fs, "a", fill(10, 1));
    f.write(fill(4, 9), 2);
    fs.crash({ torn: "prefix", rng: () => 0.99 });
    assert.deepEqual(readAll(fs, "/wal/a"), bytes(1, 1, 9, 9, 9, 9, 1, 1, 1, 1));
  });

  it("prefix: tears every file with unsynced writes, deterministically per seed", () => {
    const run = (seed: number) => {
      const fs = setup();
      const a = durableFile(fs, "a", bytes());
      const b = durableFile(fs, "b", bytes());
      a.write(fill(100, 1), 0);
      b.write(fill(100, 2), 0);
      fs.crash({ torn: "prefix", rng: seededRng(seed) });
      return [fs.stat("/wal/a")?.size, fs.stat("/wal/b")?.size];
    };
    assert.deepEqual(run(5), run(5));
    const [a, b] = run(5);
    assert.ok(a !== undefined && a <= 100 && b !== undefined && b <= 100);
    const sizes = new Set(Array.from({ length: 20 }, (_, i) => run(i).join()));
    assert.ok(sizes.size > 10);
  });

  it("pages: each unsynced page is old or new, the length durable or extended", () => {
    const P = 4096;
    const outcomes = new Set<string>();
    for (let seed = 0; seed < 100; seed++) {
      const fs = setup();
      const f = durableFile(fs, "a", fill(2 * P, 1));
      f.write(fill(4 * P, 2), P); // overwrites page 1, extends over pages 2..4
      fs.crash({ torn: "pages", rng: seededRng(seed) });
      const got = readAll(fs, "/wal/a");
      assert.ok(
        got.length === 2 * P || (got.length > 2 * P && got.length <= 5 * P && got.length % P === 0),
      );
      assert.deepEqual(
        got.subarray(0, P),
        fill(P, 1),
        "a page with no unsynced change is untouched",
      );
      const pages: number[] = [];
      for (let p = 1; p < got.length / P; p++) {
        const page = got.subarray(p * P, (p + 1) * P);
        const v = page[0];
        assert.ok(page.every((x) => x === v), "a page is never mixed");
        if (p === 1) assert.ok(v === 1 || v === 2);
        else assert.ok(v === 0 || v === 2, "past the durable length a dropped page reads as zeros");
        pages.push(v);
      }
      if (got.length > 2 * P) {
        assert.equal(pages[pages.length - 1], 2, "extended only to cover kept data");
      }
      outcomes.add(`${got.length}:${pages.join("")}`);
    }
    assert.ok(outcomes.size > 8, `only ${outcomes.size} outcomes`);
  });

  it("pages: deterministic per seed", () => {
    const run = (seed: number) => {
      const fs = setup();
      const f = durableFile(fs, "a", bytes());
      for (let i = 0; i < 10; i++) f.write(fill(4096, i + 1), i * 4096);
      const g = durableFile(fs, "b", bytes());
      g.write(fill(9000, 7), 0);
      fs.crash({ torn: "pages", rng: seededRng(seed) });
      return [readAll(fs, "/wal/a"), readAll(fs, "/wal/b")];
    };
    assert.deepEqual(run(42), run(42));
    assert.deepEqual(run(7), run(7));
    const distinct = new Set(
      Array.from({ length: 10 }, (_, s) => run(s).map((b) => b.join()).join("|")),
    );
    assert.ok(distinct.size > 5);
  });

  it("torn modes never revive unsynced data of a synced-away state or touch synced files", () => {
    for (const torn of ["prefix", "pages"] as const) {
      const fs = setup();
      const f = durableFile(fs, "a", fill(8192, 4));
      f.close();
      fs.crash({ torn, rng: () => 0 });
      assert.deepEqual(readAll(fs, "/wal/a"), fill(8192, 4));
    }
  });

  it("seededRng is deterministic and in [0, 1)", () => {
    const a = seededRng(1);
    const b = seededRng(1);
    const c = seededRng(2);
    const xs = Array.from({ length: 1000 }, () => a());
    assert.deepEqual(xs.slice(0, 5), Array.from({ length: 5 }, () => b()));
    assert.notEqual(xs[0], c());
    assert.ok(xs.every((x) => x >= 0 && x < 1));
  });
});

describe("FaultyFs fault injection", () => {
  it("the (n+1)-th write fails with EIO and writes nothing; later writes succeed", () => {
    const fs = setup();
    const f = durableFile(fs, "a", bytes());
    fs.failAfter({ op: "write", count: 2, code: "EIO" });
    f.write(bytes(1), 0);
    f.write(bytes(2), 1);
    throwsCode(() => f.write(bytes(3), 2), "EIO", "/wal/a");
    assert.equal(f.size(), 2);
    f.write(bytes(4), 2);
    assert.deepEqual(readAll(fs, "/wal/a"), bytes(1, 2, 4));
  });

  it("ENOSPC on a write first writes the first half of the buffer", () => {
    const fs = setup();
    const f = durableFile(fs, "a", bytes());
    fs.failAfter({ op: "write", count: 0, code: "ENOSPC" });
    throwsCode(() => f.write(bytes(1, 2, 3, 4, 5), 0), "ENOSPC");
    assert.deepEqual(readAll(fs, "/wal/a"), bytes(1, 2));
  });

  it("EMFILE from failAfter and from maxOpenFiles", () => {
    const fs = setup({ maxOpenFiles: 2 });
    durableFile(fs, "a", bytes()).close();
    fs.failAfter({ op: "open", count: 0, code: "EMFILE" });
    throwsCode(() => fs.open("/wal/a", "read"), "EMFILE", "/wal/a");
    const h1 = fs.open("/wal/a", "read");
    const h2 = fs.open("/wal/b", "create");
    assert.equal(fs.openFiles, 2);
    throwsCode(() => fs.open("/wal/a", "read"), "EMFILE", "/wal/a");
    throwsCode(() => fs.open("/wal/c", "create"), "EMFILE");
    assert.equal(fs.stat("/wal/c"), undefined);
    h1.close();
    fs.open("/wal/a", "read").close();
    h2.close();
    assert.equal(fs.openFiles, 0);
  });

  it("EIO on sync leaves the data not durable, even after a later successful sync", () => {
    const fs = setup();
    const f = durableFile(fs, "a", bytes(1));
    f.write(bytes(2), 1);
    fs.failAfter({ op: "sync", count: 0, code: "EIO" });
    throwsCode(() => f.datasync(), "EIO", "/wal/a");
    assert.deepEqual(readAll(fs, "/wal/a"), bytes(1, 2), "still readable before the crash");
    fs.crash();
    assert.deepEqual(readAll(fs, "/wal/a"), bytes(1));

    const g = fs.open("/wal/a", "write");
    g.write(bytes(5), 1);
    fs.failAfter({ op: "sync", count: 0, code: "EIO" });
    throwsCode(() => g.sync(), "EIO");
    g.write(bytes(6), 2);
    g.datasync(); // succeeds, but the page marked clean by the failed sync is gone
    fs.crash();
    assert.deepEqual(readAll(fs, "/wal/a"), bytes(1, 0, 6));
  });

  it("a failed syncDir leaves the entries not durable", () => {
    const fs = setup();
    fs.open("/wal/a", "create").close();
    fs.failAfter({ op: "sync", count: 0, code: "EIO" });
    throwsCode(() => fs.syncDir("/wal"), "EIO", "/wal");
    fs.crash();
    assert.equal(fs.stat("/wal/a"), undefined);
  });

  it("rename and any faults; clearFaults disarms", () => {
    const fs = setup();
    durableFile(fs, "a", bytes(1)).close();
    fs.failAfter({ op: "rename", count: 0, code: "EIO" });
    throwsCode(() => fs.rename("/wal/a", "/wal/b"), "EIO");
    assert.equal(fs.stat("/wal/a")?.isFile, true);
    fs.failAfter({ op: "any", count: 1, code: "EIO" });
    fs.stat("/wal/a");
    throwsCode(() => fs.readDir("/wal"), "EIO", "/wal");
    fs.failAfter({ op: "any", count: 0, code: "EIO" });
    fs.failAfter({ op: "write", count: 0, code: "ENOSPC" });
    fs.clearFaults();
    const f = fs.open("/wal/a", "write");
    f.write(bytes(2), 0);
    f.close();
    assert.throws(() => fs.failAfter({ op: "write", count: -1, code: "EIO" }), RangeError);
  });

  it("faults on reads, size, mkdir, remove and truncate through any", () => {
    const fs = setup();
    const f = durableFile(fs, "a", bytes(1, 2));
    for (
      const call of [
        () => f.read(new Uint8Array(1), 0),
        () => f.size(),
        () => f.truncate(0),
        () => fs.mkdir("/x"),
        () => fs.remove("/wal/a"),
        () => fs.map("/wal/a"),
        () => fs.lock("/wal"),
      ]
    ) {
      fs.failAfter({ op: "any", count: 0, code: "EIO" });
      throwsCode(call, "EIO");
    }
    assert.equal(f.size(), 2);
    assert.equal(fs.stat("/x"), undefined);
  });
});

describe("FaultyFs operation counting and crashAfterOp", () => {
  it("opCount and onOp see each mutating operation once", () => {
    const log: string[] = [];
    const fs = new FaultyFs({ onOp: (op, path) => log.push(`${op} ${path}`) });
    fs.mkdir("/wal");
    fs.syncDir("/");
    const f = fs.open("wal/a", "create");
    f.write(bytes(1), 0);
    f.read(new Uint8Array(1), 0);
    f.size();
    f.truncate(1);
    f.datasync();
    f.sync();
    fs.stat("/wal/a");
    fs.readDir("/wal");
    fs.open("/wal/a", "read").close();
    fs.rename("/wal/a", "/wal/b");
    fs.remove("/wal/b");
    fs.removeDir("/wal");
    f.close();
    assert.deepEqual(log, [
      "mkdir /wal",
      "syncDir /",
      "create /wal/a",
      "write /wal/a",
      "truncate /wal/a",
      "datasync /wal/a",
      "sync /wal/a",
      "rename /wal/a -> /wal/b",
      "remove /wal/b",
      "removeDir /wal",
    ]);
    assert.equal(fs.opCount, log.length);
  });

  it("crashAfterOp(k) refuses the (k+1)-th mutating op and keeps the fs down until crash()", () => {
    const fs = setup();
    const f = durableFile(fs, "a", bytes());
    fs.crashAfterOp(1);
    f.write(bytes(1), 0);
    f.read(new Uint8Array(1), 0); // reads are not crash points
    assert.throws(
      () => f.datasync(),
      (e: unknown) => e instanceof CrashSignal && e.code === "ECRASH",
    );
    assert.equal(fs.crashed, true);
    assert.throws(() => fs.stat("/wal"), CrashSignal);
    assert.throws(() => f.size(), CrashSignal);
    assert.throws(() => f.close(), CrashSignal);
    assert.throws(() => fs.open("/wal/a", "read"), CrashSignal);
    fs.crash();
    assert.equal(fs.crashed, false);
    assert.deepEqual(readAll(fs, "/wal/a"), bytes(), "the write was never synced");
    assert.throws(() => fs.crashAfterOp(-1), RangeError);
  });

  it("onOp may crash the fs after any operation", () => {
    const fs = setup();
    const f = durableFile(fs, "a", bytes());
    fs.onOp = (op) => {
      if (op === "write") fs.crash();
    };
    f.write(bytes(1), 0);
    fs.onOp = undefined;
    throwsCode(() => f.write(bytes(2), 1), "EBADF");
    assert.equal(fs.stat("/wal/a")?.size, 0);
  });

  /**
   * A tiny log: each record is appended, synced, and acknowledged; a new file
   * is created (and its directory synced) every 3 records; a HEAD pointer is
   * replaced by a rename. After a crash at any op, every acknowledged record
   * is there and nothing else but a torn tail of the last write.
   */
  function workload(fs: FaultyFs, acked: number[]): void {
    fs.mkdir("/wal");
    fs.syncDir("/");
    let f: WalFile | undefined;
    let pos = 0;
    for (let i = 0; i < 7; i++) {
      if (i % 3 === 0) {
        f?.close();
        f = fs.open(`/wal/${i}.log`, "create");
        fs.syncDir("/wal");
        pos = 0;
      }
      f!.write(fill(10, i + 1), pos);
      pos += 10;
      f!.datasync();
      const tmp = fs.open("/wal/HEAD.tmp", "create");
      tmp.write(bytes(i), 0);
      tmp.datasync();
      tmp.close();
      fs.rename("/wal/HEAD.tmp", "/wal/HEAD");
      fs.syncDir("/wal");
      acked.push(i);
    }
    f?.close();
  }

  it("exhaustive: crash after every op, with every torn mode", () => {
    const probe = new FaultyFs();
    workload(probe, []);
    const n = probe.opCount;
    assert.ok(n > 40, `${n} ops`);
    for (const torn of ["none", "prefix", "pages"] as const) {
      let unackedSurvived = 0;
      for (let k = 0; k <= n; k++) {
        const fs = new FaultyFs();
        fs.crashAfterOp(k);
        const acked: number[] = [];
        try {
          workload(fs, acked);
          assert.equal(k, n, "only the last k lets the workload finish");
        } catch (e) {
          if (!(e instanceof CrashSignal)) throw e;
          assert.equal(fs.crashed, true);
        }
        assert.equal(fs.opCount, k);
        fs.crash({ torn, rng: seededRng(k) });
        // Every acknowledged record is intact; at most a torn tail follows.
        const records: number[] = [];
        for (let i = 0; i < 7; i += 3) {
          const st = fs.stat(`/wal/${i}.log`);
          if (st === undefined) break;
          const data = readAll(fs, `/wal/${i}.log`);
          for (let off = 0; off + 10 <= data.length; off += 10) {
            const v = data[off];
            if (v === 0 || !data.subarray(off, off + 10).every((x) => x === v)) break;
            records.push(v - 1);
          }
        }
        assert.deepEqual(records.slice(0, acked.length), acked, `k=${k} torn=${torn}`);
        if (records.length > acked.length) unackedSurvived++;
        for (let j = 0; j < records.length; j++) assert.equal(records[j], j);
        if (acked.length > 0) {
          const head = readAll(fs, "/wal/HEAD");
          assert.equal(head.length, 1);
          assert.ok(head[0] >= acked[acked.length - 1], `k=${k}: HEAD ${head[0]} behind ack`);
        }
      }
      // Synced but not yet acknowledged records survive in every mode; the
      // torn modes add writes that were never synced.
      assert.ok(unackedSurvived > 0, `torn=${torn}`);
    }
  });
});
