import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { MemoryFs, normalizePath } from "../adapters/memory.ts";
import { WalError } from "../src/errors.ts";
import { bytes, readAll, throwsCode } from "./_fs_util.ts";
import type { WalFs } from "../src/io.ts";




describe("MemoryFs paths and directories", () => {
  it("normalises paths", () => {
    assert.equal(normalizePath("wal/./a/../b/"), "/wal/b");
    assert.equal(normalizePath("/../x//y"), "/x/y");
    assert.equal(normalizePath(""), "/");
    assert.equal(normalizePath("a\\b"), "/a/b");
    const fs = new MemoryFs();
    assert.equal(fs.name, "memory");
    fs.mkdir("./wal/x/");
    assert.equal(fs.stat("/wal/x")?.isDirectory, true);
    assert.equal(fs.stat("wal/y/../x")?.isDirectory, true);
  });

  it("mkdir is recursive and idempotent; a file in the way fails", () => {
    const fs = new MemoryFs();
    fs.mkdir("/a/b/c");
    fs.mkdir("/a/b/c");
    assert.deepEqual(fs.readDir("/a"), [{ name: "b", isFile: false, isDirectory: true }]);
    fs.open("/a/f", "create").close();
    throwsCode(() => fs.mkdir("/a/f"), "EEXIST", "/a/f");
    throwsCode(() => fs.mkdir("/a/f/g"), "ENOTDIR", "/a/f");
  });

  it("readDir lists files and directories; errors on missing and files", () => {
    const fs = new MemoryFs();
    fs.mkdir("/d/sub");
    fs.open("/d/x", "create").close();
    const names = fs.readDir("/d").map((e) => `${e.name}:${e.isFile}:${e.isDirectory}`).sort();
    assert.deepEqual(names, ["sub:false:true", "x:true:false"]);
    assert.deepEqual(fs.readDir("/").map((e) => e.name), ["d"]);
    throwsCode(() => fs.readDir("/nope"), "ENOENT", "/nope");
    throwsCode(() => fs.readDir("/d/x"), "ENOTDIR", "/d/x");
  });

  it("stat describes files, directories and missing paths", () => {
    const fs = new MemoryFs();
    fs.mkdir("/d");
    const f = fs.open("/d/f", "create");
    f.write(bytes(1, 2, 3), 0);
    assert.deepEqual(fs.stat("/d/f"), { isFile: true, isDirectory: false, size: 3 });
    assert.deepEqual(fs.stat("/d"), { isFile: false, isDirectory: true, size: 0 });
    assert.equal(fs.stat("/")?.isDirectory, true);
    assert.equal(fs.stat("/d/missing"), undefined);
    assert.equal(fs.stat("/d/f/below"), undefined);
  });

  it("removeDir removes only empty directories", () => {
    const fs = new MemoryFs();
    fs.mkdir("/d/e");
    throwsCode(() => fs.removeDir("/d"), "ENOTEMPTY", "/d");
    fs.removeDir("/d/e");
    fs.removeDir("/d");
    assert.equal(fs.stat("/d"), undefined);
    throwsCode(() => fs.removeDir("/d"), "ENOENT", "/d");
    fs.open("/f", "create").close();
    throwsCode(() => fs.removeDir("/f"), "ENOTDIR", "/f");
    throwsCode(() => fs.removeDir("/"), "EBUSY");
  });

  it("syncDir needs a directory and does nothing else", () => {
    const fs = new MemoryFs();
    fs.mkdir("/d");
    fs.syncDir("/d");
    fs.syncDir("/");
    throwsCode(() => fs.syncDir("/x"), "ENOENT", "/x");
    fs.open("/f", "create").close();
    throwsCode(() => fs.syncDir("/f"), "ENOTDIR", "/f");
  });
});

describe("MemoryFs files", () => {
  it("open modes: create needs absence, read/write need presence, dirs must exist", () => {
    const fs = new MemoryFs();
    throwsCode(() => fs.open("/nodir/f", "create"), "ENOENT", "/nodir/f");
    fs.mkdir("/d");
    throwsCode(() => fs.open("/d/f", "read"), "ENOENT", "/d/f");
    throwsCode(() => fs.open("/d/f", "write"), "ENOENT", "/d/f");
    fs.open("/d/f", "create").close();
    throwsCode(() => fs.open("/d/f", "create"), "EEXIST", "/d/f");
    throwsCode(() => fs.open("/d", "read"), "EISDIR", "/d");
    throwsCode(() => fs.open("/d", "create"), "EEXIST", "/d");
    throwsCode(() => fs.open("/d/f/g", "create"), "ENOTDIR");
    fs.open("/d/f", "write").close();
    fs.open("/d/f", "read").close();
  });

  it("positional read and write; writing past the end zero-fills", () => {
    const fs = new MemoryFs();
    const f = fs.open("/f", "create");
    f.write(bytes(1, 2, 3), 0);
    f.write(bytes(9), 1);
    f.write(bytes(7, 7), 6);
    assert.equal(f.size(), 8);
    const buf = new Uint8Array(10);
    assert.equal(f.read(buf, 0), 8);
    assert.deepEqual(buf, bytes(1, 9, 3, 0, 0, 0, 7, 7, 0, 0));
    assert.equal(f.read(new Uint8Array(4), 6), 2);
    assert.equal(f.read(new Uint8Array(4), 8), 0);
    assert.equal(f.read(new Uint8Array(4), 100), 0);
    f.write(new Uint8Array(0), 50);
    assert.equal(f.size(), 8, "an empty write does not extend");
    throwsCode(() => f.write(bytes(1), -1), "EINVAL");
    throwsCode(() => f.read(new Uint8Array(1), 1.5), "EINVAL");
    f.close();
  });

  it("the caller's buffer is copied, not kept", () => {
    const fs = new MemoryFs();
    const f = fs.open("/f", "create");
    const src = bytes(1, 2, 3);
    f.write(src, 0);
    src[0] = 99;
    const out = new Uint8Array(3);
    f.read(out, 0);
    assert.deepEqual(out, bytes(1, 2, 3));
  });

  it("truncate shrinks and grows with zeros", () => {
    const fs = new MemoryFs();
    const f = fs.open("/f", "create");
    f.write(bytes(1, 2, 3, 4, 5), 0);
    f.truncate(2);
    assert.equal(f.size(), 2);
    assert.equal(fs.stat("/f")?.size, 2);
    f.truncate(5);
    const buf = new Uint8Array(5);
    f.read(buf, 0);
    assert.deepEqual(buf, bytes(1, 2, 0, 0, 0), "no stale bytes after shrink + grow");
    f.truncate(1);
    f.write(bytes(8), 3);
    assert.deepEqual(readAll(fs, "/f"), bytes(1, 0, 0, 8));
    throwsCode(() => f.truncate(-1), "EINVAL");
    f.close();
  });

  it("datasync and sync succeed on open handles", () => {
    const fs = new MemoryFs();
    const f = fs.open("/f", "create");
    f.datasync();
    f.sync();
    f.close();
  });

  it("a closed handle throws EBADF; a read handle refuses writes", () => {
    const fs = new MemoryFs();
    const f = fs.open("/f", "create");
    f.close();
    throwsCode(() => f.read(new Uint8Array(1), 0), "EBADF", "/f");
    throwsCode(() => f.write(bytes(1), 0), "EBADF");
    throwsCode(() => f.datasync(), "EBADF");
    throwsCode(() => f.sync(), "EBADF");
    throwsCode(() => f.truncate(0), "EBADF");
    throwsCode(() => f.size(), "EBADF");
    throwsCode(() => f.close(), "EBADF");
    const r = fs.open("/f", "read");
    throwsCode(() => r.write(bytes(1), 0), "EBADF");
    throwsCode(() => r.truncate(0), "EBADF");
    r.close();
  });

  it("handles of one file see each other's writes", () => {
    const fs = new MemoryFs();
    const w = fs.open("/f", "create");
    const r = fs.open("/f", "read");
    w.write(bytes(5, 6), 0);
    assert.equal(r.size(), 2);
    const buf = new Uint8Array(2);
    r.read(buf, 0);
    assert.deepEqual(buf, bytes(5, 6));
  });

  it("appending many small writes is linear", () => {
    const fs = new MemoryFs();
    const f = fs.open("/big", "create");
    const frame = new Uint8Array(32).fill(7);
    const n = 300_000;
    const t0 = Date.now();
    for (let i = 0, pos = 0; i < n; i++, pos += frame.length) f.write(frame, pos);
    const ms = Date.now() - t0;
    assert.equal(f.size(), n * 32);
    assert.ok(ms < 3000, `300k appends took ${ms} ms`);
    const buf = new Uint8Array(32);
    f.read(buf, (n - 1) * 32);
    assert.deepEqual(buf, frame);
  });
});

describe("MemoryFs rename and remove", () => {
  it("renames a file, replacing the target; open handles follow the file", () => {
    const fs = new MemoryFs();
    fs.mkdir("/a");
    fs.mkdir("/b");
    const f = fs.open("/a/x", "create");
    f.write(bytes(1), 0);
    const old = fs.open("/b/y", "create");
    old.write(bytes(2, 2), 0);
    fs.rename("/a/x", "/b/y");
    assert.equal(fs.stat("/a/x"), undefined);
    assert.deepEqual(readAll(fs, "/b/y"), bytes(1));
    f.write(bytes(3), 1);
    assert.deepEqual(readAll(fs, "/b/y"), bytes(1, 3));
    assert.equal(old.size(), 2, "the replaced file lives on in its handle");
    fs.rename("/b/y", "/b/y");
    assert.deepEqual(readAll(fs, "/b/y"), bytes(1, 3));
  });

  it("rename errors", () => {
    const fs = new MemoryFs();
    fs.mkdir("/d/sub");
    fs.open("/f", "create").close();
    throwsCode(() => fs.rename("/missing", "/z"), "ENOENT", "/missing");
    throwsCode(() => fs.rename("/f", "/nodir/z"), "ENOENT", "/nodir/z");
    throwsCode(() => fs.rename("/f", "/d"), "EISDIR", "/d");
    throwsCode(() => fs.rename("/d/sub", "/f"), "ENOTDIR", "/f");
    throwsCode(() => fs.rename("/d", "/d/sub/inner"), "EINVAL");
    fs.mkdir("/e/full");
    throwsCode(() => fs.rename("/d", "/e"), "ENOTEMPTY", "/e");
  });

  it("renames directories with their contents, replacing an empty one", () => {
    const fs = new MemoryFs();
    fs.mkdir("/d/sub");
    fs.open("/d/sub/f", "create").close();
    fs.mkdir("/empty");
    fs.rename("/d", "/empty");
    assert.equal(fs.stat("/d"), undefined);
    assert.equal(fs.stat("/empty/sub/f")?.isFile, true);
    fs.rename("/empty/sub", "/top");
    assert.deepEqual(fs.readDir("/top").map((e) => e.name), ["f"]);
  });

  it("remove deletes files only", () => {
    const fs = new MemoryFs();
    fs.mkdir("/d");
    const f = fs.open("/d/f", "create");
    f.write(bytes(4), 0);
    fs.remove("/d/f");
    assert.equal(fs.stat("/d/f"), undefined);
    assert.equal(f.size(), 1, "an open handle keeps the unlinked file");
    throwsCode(() => fs.remove("/d/f"), "ENOENT", "/d/f");
    throwsCode(() => fs.remove("/d"), "EISDIR", "/d");
    throwsCode(() => fs.remove("/x/y"), "ENOENT");
  });
});

describe("MemoryFs lock and map", () => {
  it("lock is exclusive per root and release is idempotent", () => {
    const fs = new MemoryFs();
    fs.mkdir("/wal");
    fs.mkdir("/other");
    const l = fs.lock("/wal");
    assert.throws(() => fs.lock("wal/"), (e: unknown) => {
      assert.ok(e instanceof WalError);
      assert.equal(e.code, "LOCKED");
      assert.ok(e.message.includes("/wal"), e.message);
      return true;
    });
    const l2 = fs.lock("/other");
    l.release();
    l.release();
    const l3 = fs.lock("/wal");
    l.release(); // a stale release does not free the new holder
    assert.throws(() => fs.lock("/wal"), WalError);
    l3.release();
    l2.release();
    throwsCode(() => fs.lock("/missing"), "ENOENT", "/missing");
  });

  it("map returns the file's bytes without a copy", () => {
    const fs = new MemoryFs();
    const f = fs.open("/seg", "create");
    f.write(bytes(1, 2, 3), 0);
    f.close();
    const m = fs.map("/seg");
    assert.deepEqual(m.bytes, bytes(1, 2, 3));
    const m2 = fs.map("/seg");
    assert.equal(m.bytes.buffer, m2.bytes.buffer, "both views share the file's storage");
    m.close();
    m.close();
    m2.close();
    fs.mkdir("/d");
    throwsCode(() => fs.map("/d"), "EISDIR");
    throwsCode(() => fs.map("/nope"), "ENOENT", "/nope");
    const asWalFs: WalFs = fs;
    assert.equal(asWalFs.crc32, undefined);
  });
});
