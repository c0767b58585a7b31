/**
 * Stream keys and their directories (SPEC §3): keys that need escaping stay
 * distinct across a reopen, nothing is ever created outside the root, and
 * bad keys (empty, too long, lone surrogates) are CONFIG errors.
 */

import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import * as nfs from "node:fs";
import { Wal } from "../mod.ts";
import { MemoryFs } from "../adapters/memory.ts";
import { nodeFs } from "../adapters/node.ts";
import { b, listTree, rejectsCode, removeDir, s, tempDir, throwsCode } from "./_wal_util.ts";

let top = "";
let counter = 0;
before(() => {
  top = tempDir("names");
});
after(() => {
  removeDir(top);
});

const KEYS = [
  "a",
  "A",
  "a/b",
  "a:b",
  "a_b",
  "a_2fb",
  "a_5fb",
  "a\\b",
  "..",
  ".",
  "../escape",
  "../../etc",
  "/abs",
  "a/../b",
  "b",
  "LOCK",
  "LOCK.x",
  "lock",
  "Lock",
  "head",
  "shards",
  "con",
  "com1",
  "_6cock",
  "locks",
  "x.wal",
  "00000000000000000000.wal",
  "ключ",
  "Ключ",
  "🦀",
  "🦀🦀",
  "emoji 🎉 mix",
  "nul\0byte",
  " ",
  "%2f",
  "a-b",
  "_",
  "__",
  "z".repeat(255),
  "é".repeat(42), // 84 bytes, each escaped to 3 characters: 252
];

describe("stream keys that need escaping", () => {
  it("stay distinct, round-trip across a reopen and never leave the root (real files)", async () => {
    const parent = `${top}/p${counter++}`;
    nfs.mkdirSync(parent);
    const root = `${parent}/root`;
    let wal = await Wal.open({ root, fs: nodeFs });
    for (let i = 0; i < KEYS.length; i++) {
      assert.equal(await wal.append(KEYS[i], b(`value of #${i}`)), 0, `key #${i} ${JSON.stringify(KEYS[i])}`);
      await wal.append(KEYS[i], b(`second of #${i}`));
    }
    assert.deepEqual(wal.streams(), [...KEYS].sort());
    await wal.close();

    assert.deepEqual(nfs.readdirSync(parent), ["root"], "nothing was created next to the root");
    const dirs = nfs.readdirSync(root).filter((n) => n !== "LOCK" && !n.startsWith("LOCK."));
    assert.equal(dirs.length, KEYS.length, "one directory per key");
    for (const d of dirs) {
      assert.match(d, /^[a-z0-9_-]+$/, `directory name ${d}`);
      assert.ok(d.length <= 255);
      assert.ok(nfs.statSync(`${root}/${d}`).isDirectory());
    }
    for (const f of listTree(root)) {
      assert.ok(!f.includes(".."), f);
      assert.match(f, /^(LOCK.*|[a-z0-9_-]+\/(\d{20}\.(wal|idx)|ACTIVE)?)$/, `unexpected path ${f}`);
    }
    // case-insensitive file systems cannot merge two keys
    assert.equal(new Set(dirs.map((d) => d.toLowerCase())).size, dirs.length);

    wal = await Wal.open({ root, fs: nodeFs });
    try {
      assert.deepEqual(wal.recovery.warnings, []);
      assert.deepEqual(wal.streams(), [...KEYS].sort());
      for (let i = 0; i < KEYS.length; i++) {
        assert.equal(wal.nextId(KEYS[i]), 2);
        assert.equal(s(await wal.get(KEYS[i], 0)), `value of #${i}`);
        assert.equal(s(await wal.get(KEYS[i], 1)), `second of #${i}`);
        assert.equal(await wal.append(KEYS[i], b("third")), 2);
      }
    } finally {
      await wal.close();
    }
  });

  it("the same on MemoryFs, where nothing outside the root exists afterwards", async () => {
    const fs = new MemoryFs();
    fs.mkdir("/outer/root");
    let wal = await Wal.open({ root: "/outer/root", fs });
    for (const k of KEYS) await wal.append(k, b(k));
    await wal.close();
    assert.deepEqual(fs.readDir("/").map((e) => e.name), ["outer"]);
    assert.deepEqual(fs.readDir("/outer").map((e) => e.name), ["root"]);
    wal = await Wal.open({ root: "/outer/root", fs });
    try {
      assert.deepEqual(wal.streams(), [...KEYS].sort());
      for (const k of KEYS) assert.equal(s(await wal.get(k, 0)), k);
    } finally {
      await wal.close();
    }
  });

  it("keys differing only in case or escaping never share entries", async () => {
    const wal = await Wal.open({ root: "/r", fs: new MemoryFs() });
    try {
      const groups = [["a", "A"], ["a_b", "a_5fb", "a/b", "a_2fb"], ["ключ", "Ключ"], ["🦀", "🦀🦀"]];
      for (const g of groups) {
        for (let i = 0; i < g.length; i++) for (let j = 0; j <= i; j++) await wal.append(g[i], b(`${g[i]}#${j}`));
        for (let i = 0; i < g.length; i++) {
          assert.equal(wal.nextId(g[i]), i + 1, `${g[i]} has ${i + 1} entries`);
          assert.equal(s(await wal.get(g[i], i)), `${g[i]}#${i}`);
        }
      }
    } finally {
      await wal.close();
    }
  });
});

describe("bad stream keys", () => {
  it("empty key → CONFIG everywhere a key is written", async () => {
    const wal = await Wal.open({ root: "/r", fs: new MemoryFs() });
    try {
      await rejectsCode(wal.append("", b("x")), "CONFIG");
      await rejectsCode(wal.appendBatch("", [b("x")]), "CONFIG");
      throwsCode(() => wal.writer(""), "CONFIG");
      await rejectsCode(wal.append(5 as unknown as string, b("x")), "CONFIG");
      await rejectsCode(wal.append(undefined as unknown as string, b("x")), "CONFIG");
      assert.deepEqual(wal.streams(), []);
    } finally {
      await wal.close();
    }
  });

  it("lone surrogates → CONFIG (they have no UTF-8 form); pairs are fine", async () => {
    const wal = await Wal.open({ root: "/r", fs: new MemoryFs() });
    try {
      for (const k of ["\uD800", "a\uDC00b", "x\uD83D", "\uDE00\uD83D"]) {
        const m = await rejectsCode(wal.append(k, b("x")), "CONFIG");
        assert.ok(m.includes("surrogate"), m);
        throwsCode(() => wal.writer(k), "CONFIG");
      }
      assert.deepEqual(wal.streams(), []);
      assert.equal(await wal.append("\uD83D\uDE00", b("ok")), 0);
      assert.deepEqual(wal.streams(), ["😀"]);
    } finally {
      await wal.close();
    }
  });

  it("long keys: up to the 255-byte directory name limit, beyond → CONFIG", async () => {
    const wal = await Wal.open({ root: "/r", fs: new MemoryFs() });
    try {
      assert.equal(await wal.append("k".repeat(255), b("x")), 0);
      assert.equal(await wal.append("_".repeat(85), b("x")), 0, "85 escaped bytes = 255 characters");
      for (const k of ["k".repeat(256), "_".repeat(86), "é".repeat(43), "🦀".repeat(22), "x".repeat(100_000)]) {
        const m = await rejectsCode(wal.append(k, b("x")), "CONFIG");
        assert.ok(m.includes("255"), m);
        throwsCode(() => wal.writer(k), "CONFIG");
      }
      assert.equal(wal.streams().length, 2);
    } finally {
      await wal.close();
    }
  });

  it("a key whose name would equal a root file ignoring case, or a Windows device, is escaped", async () => {
    const fs = new MemoryFs();
    const wal = await Wal.open({ root: "/r", fs });
    const keys = ["lock", "head", "shards", "nul", "lpt9", "locks", "Lock"];
    for (const k of keys) await wal.append(k, b(k));
    await wal.close();
    const names = fs.readDir("/r").filter((e) => e.isDirectory).map((e) => e.name).sort();
    assert.deepEqual(names, ["_4cock", "_68ead", "_6cock", "_6cpt9", "_6eul", "_73hards", "locks"]);
    for (const n of names) assert.ok(!["lock", "head", "shards"].includes(n.toLowerCase()), n);
    const again = await Wal.open({ root: "/r", fs });
    try {
      assert.deepEqual(again.streams(), [...keys].sort());
      for (const k of keys) assert.equal(s((await again.get(k, 0))!), k);
    } finally {
      await again.close();
    }
  });

  it("a stream directory named plainly by an older ironwal (lock) is still read and written", async () => {
    const fs = new MemoryFs();
    const wal = await Wal.open({ root: "/r", fs });
    await wal.append("lock", b("old"));
    await wal.close();
    // What an older ironwal wrote: the same stream in a plain "lock" directory.
    fs.rename("/r/_6cock", "/r/lock");
    const again = await Wal.open({ root: "/r", fs });
    try {
      assert.equal(s((await again.get("lock", 0))!), "old");
      assert.equal(await again.append("lock", b("new")), 1);
    } finally {
      await again.close();
    }
    assert.deepEqual(fs.readDir("/r").filter((e) => e.isDirectory).map((e) => e.name), ["lock"]);
  });

  it("two directories of one stream (lock and _6cock) fail open with CORRUPTION naming both", async () => {
    const fs = new MemoryFs();
    const wal = await Wal.open({ root: "/r", fs });
    await wal.append("lock", b("x"));
    await wal.close();
    fs.mkdir("/r/lock");
    await assert.rejects(Wal.open({ root: "/r", fs }), (e: Error & { code?: string }) => {
      assert.equal(e.code, "CORRUPTION");
      assert.match(e.message, /_6cock/);
      assert.match(e.message, /"lock"/);
      return true;
    });
  });

  it("reads of an unknown key find nothing instead of throwing", async () => {
    const wal = await Wal.open({ root: "/r", fs: new MemoryFs() });
    try {
      assert.equal(await wal.get("never", 0), undefined);
      assert.equal(wal.nextId("never"), 0);
      assert.deepEqual(await wal.readRange("never", 0, 5), []);
      await rejectsCode(wal.truncate("never", 1), "STREAM_NOT_FOUND");
    } finally {
      await wal.close();
    }
  });
});
