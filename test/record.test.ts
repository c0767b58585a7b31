/**
 * Record (nori-wal key/value records): put/delete, encode/decode round
 * trips with and without TTL, through a WAL and back, and malformed bytes
 * rejected with CORRUPTION.
 */

import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { Record, Wal, type WalRecord } from "../mod.ts";
import { MemoryFs } from "../adapters/memory.ts";
import { b, pattern, s, throwsCode } from "./_wal_util.ts";

const rt = (r: WalRecord) => Record.decode(Record.encode(r));

describe("Record.put and Record.delete", () => {
  it("put holds key and value as bytes, from strings or bytes", () => {
    const r = Record.put("user:1", "alice");
    assert.deepEqual(r.key, b("user:1"));
    assert.deepEqual(r.value, b("alice"));
    assert.equal(r.tombstone, false);
    assert.equal(r.expiresAt, undefined);
    assert.equal("expiresAt" in r, false);
    const k = pattern(10, 1);
    const v = pattern(20, 2);
    const r2 = Record.put(k, v);
    assert.deepEqual(r2.key, k);
    assert.deepEqual(r2.value, v);
  });

  it("put with ttlMs sets expiresAt to now + ttl", () => {
    const t0 = Date.now();
    const r = Record.put("k", "v", { ttlMs: 60_000 });
    const t1 = Date.now();
    assert.ok(r.expiresAt! >= t0 + 60_000 && r.expiresAt! <= t1 + 60_000, String(r.expiresAt));
    const z = Record.put("k", "v", { ttlMs: 0 });
    assert.ok(z.expiresAt! >= t0 && z.expiresAt! <= Date.now());
  });

  it("bad ttlMs, key or value → CONFIG", () => {
    for (const ttlMs of [-1, 1.5, NaN, Infinity, 2 ** 60]) throwsCode(() => Record.put("k", "v", { ttlMs }), "CONFIG");
    throwsCode(() => Record.put(5 as unknown as string, "v"), "CONFIG");
    throwsCode(() => Record.put("k", { v: 1 } as unknown as string), "CONFIG");
    throwsCode(() => Record.delete(null as unknown as string), "CONFIG");
  });

  it("delete is a tombstone with an empty value", () => {
    const r = Record.delete("gone");
    assert.deepEqual(r.key, b("gone"));
    assert.equal(r.tombstone, true);
    assert.equal(r.value.length, 0);
    assert.equal(r.expiresAt, undefined);
  });
});

describe("Record.encode / Record.decode", () => {
  it("round-trips puts, deletes and TTLs", () => {
    const cases: WalRecord[] = [
      Record.put("a", "b"),
      Record.put("", ""),
      Record.put("key", new Uint8Array(0)),
      Record.put(new Uint8Array(0), "value only"),
      Record.put("ключ", "значение 🦀"),
      Record.put(pattern(127, 1), pattern(128, 2)),
      Record.put(pattern(300, 3), pattern(20_000, 4)),
      Record.put(pattern(5, 5), pattern(3_000_000, 6)),
      Record.put("ttl", "v", { ttlMs: 1234 }),
      Record.put("ttl0", "", { ttlMs: 0 }),
      Record.delete("x"),
      Record.delete(""),
      Record.delete(pattern(200, 7)),
      { key: b("fixed"), value: b("time"), tombstone: false, expiresAt: 1_700_000_000_000 },
      { key: b("max"), value: b(""), tombstone: false, expiresAt: Number.MAX_SAFE_INTEGER },
      { key: b("del-ttl"), value: new Uint8Array(0), tombstone: true, expiresAt: 42 },
    ];
    for (const r of cases) {
      const back = rt(r);
      assert.deepEqual(back.key, r.key);
      assert.deepEqual(back.value, r.value);
      assert.equal(back.tombstone, r.tombstone);
      assert.equal(back.expiresAt, r.expiresAt);
      assert.equal("expiresAt" in back, r.expiresAt !== undefined);
    }
  });

  it("the encoding is compact and starts with the flags", () => {
    assert.deepEqual([...Record.encode(Record.put("k", "v"))], [0, 1, 0x6b, 1, 0x76]);
    assert.deepEqual([...Record.encode(Record.delete("k"))], [1, 1, 0x6b]);
    const t = Record.encode({ key: b("k"), value: b("v"), tombstone: false, expiresAt: 1 });
    assert.deepEqual([...t], [2, 1, 0x6b, 1, 0x76, 1, 0, 0, 0, 0, 0, 0, 0]);
    // a 200-byte key takes a two-byte length
    assert.equal(Record.encode(Record.put(pattern(200, 1), "")).length, 1 + 2 + 200 + 1);
  });

  it("a tombstone drops any value given to it", () => {
    const back = rt({ key: b("k"), value: b("ignored"), tombstone: true });
    assert.equal(back.tombstone, true);
    assert.equal(back.value.length, 0);
  });

  it("decoded bytes are copies, not views of the input", () => {
    const bytes = Record.encode(Record.put("key", "value"));
    const r = Record.decode(bytes);
    bytes.fill(0);
    assert.equal(s(r.key), "key");
    assert.equal(s(r.value), "value");
  });

  it("malformed bytes → CORRUPTION", () => {
    const good = Record.encode(Record.put("key", "value"));
    const ttl = Record.encode(Record.put("key", "value", { ttlMs: 10 }));
    const bad: Array<[string, Uint8Array]> = [
      ["empty", new Uint8Array(0)],
      ["one byte", new Uint8Array([0])],
      ["unknown flags", new Uint8Array([4, 0, 0])],
      ["flags 0xff", new Uint8Array([0xff, 0, 0])],
      ["key runs past the end", new Uint8Array([0, 10, 1, 2])],
      ["value runs past the end", good.subarray(0, good.length - 1)],
      ["value length missing", new Uint8Array([0, 1, 0x6b])],
      ["trailing bytes", new Uint8Array([...good, 0])],
      ["tombstone with trailing bytes", new Uint8Array([1, 1, 0x6b, 0])],
      ["TTL bit without the 8 bytes", new Uint8Array([2, 1, 0x6b, 1, 0x76, 0, 0, 0])],
      ["TTL cut", ttl.subarray(0, ttl.length - 1)],
      ["expiry out of range", new Uint8Array([2, 1, 0x6b, 1, 0x76, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff])],
      ["varint that never ends", new Uint8Array([0, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80])],
      ["varint cut", new Uint8Array([0, 0x80])],
      ["huge key length", new Uint8Array([0, 0xff, 0xff, 0xff, 0xff, 0x0f, 1])],
    ];
    for (const [what, bytes] of bad) {
      const m = throwsCode(() => Record.decode(bytes), "CORRUPTION");
      assert.ok(m.startsWith("record:"), `${what}: ${m}`);
    }
  });

  it("every truncation of a valid record is rejected", () => {
    const full = Record.encode(Record.put(pattern(150, 1), pattern(300, 2), { ttlMs: 5 }));
    for (let n = 0; n < full.length; n++) throwsCode(() => Record.decode(full.subarray(0, n)), "CORRUPTION");
  });
});

describe("Records in a WAL", () => {
  it("appended records decode to the same records after a reopen", async () => {
    const fs = new MemoryFs();
    const recs = [
      Record.put("user:1", "alice"),
      Record.put("user:2", "bob", { ttlMs: 86_400_000 }),
      Record.delete("user:1"),
      Record.put("blob", pattern(5000, 9)),
    ];
    let wal = await Wal.open({ root: "/kv", fs });
    for (const r of recs) await wal.append("kv", Record.encode(r));
    await wal.appendBatch("kv", [Record.encode(Record.put("a", "1")), Record.encode(Record.delete("a"))]);
    await wal.close();
    wal = await Wal.open({ root: "/kv", fs });
    try {
      const back: WalRecord[] = [];
      for await (const { data } of wal.iter("kv")) back.push(Record.decode(data));
      assert.equal(back.length, 6);
      for (let i = 0; i < recs.length; i++) {
        assert.deepEqual(back[i].key, recs[i].key);
        assert.deepEqual(back[i].value, recs[i].value);
        assert.equal(back[i].tombstone, recs[i].tombstone);
        assert.equal(back[i].expiresAt, recs[i].expiresAt);
      }
      assert.equal(s(back[4].value), "1");
      assert.equal(back[5].tombstone, true);
    } finally {
      await wal.close();
    }
  });
});
