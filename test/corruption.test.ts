// Bad input (issue 3 item 5, SPEC §4): every byte of a segment flipped, a
// segment cut at every length, random and mutated files as segments, index
// files and LOCK. Each case must end in a documented result:
//   - open repairs a torn tail (the result is a prefix of the entries), or
//   - open throws CORRUPTION naming the file and the offset ("error"), or
//   - a read throws CRC_MISMATCH / CORRUPTION naming the file and offset, or
//   - success, every entry equal to what was written (a tolerated byte),
// never a non-WalError, a wrong entry, or a hang.

import { describe, it } from "node:test";
import assert from "node:assert/strict";
import * as nodeFs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { MemoryFs } from "../adapters/memory.ts";
import { Wal } from "../src/wal.ts";
import { WalError } from "../src/errors.ts";
import { defaultFs } from "../adapters/default.ts";
import { seededRng } from "../adapters/faulty.ts";
import type { OnCorruption } from "../src/options.ts";
import { readAll } from "./_fs_util.ts";

const entry = (id: number) => {
  const n = 5 + ((id * 13) % 40);
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = (id * 29 + i * 3 + 1) & 0xff;
  return b;
};

type Files = Map<string, Uint8Array>; // path relative to root -> bytes


/** Writes 7 entries (singles and a batch) to stream "a" and closes; returns every file. */
async function image(maxSegmentSize = 64 * 1024 * 1024): Promise<{ files: Files; ids: number }> {
  const fs = new MemoryFs();
  const wal = await Wal.open({ root: "/w", fs, maxSegmentSize });
  let id = 0;
  for (let i = 0; i < 3; i++) await wal.append("a", entry(id++));
  await wal.appendBatch("a", [entry(id++), entry(id++), entry(id++)]);
  await wal.append("a", entry(id++));
  if (maxSegmentSize < 1024) {
    for (let i = 0; i < 8; i++) await wal.append("a", entry(id++));
    // Read everything once so sealed segments get their .idx files.
    for await (const _ of wal.iter("a", 0)) { /* nothing */ }
  }
  await wal.close();
  const files: Files = new Map();
  for (const d of fs.readDir("/w")) {
    if (!d.isDirectory) continue;
    for (const f of fs.readDir(`/w/${d.name}`)) files.set(`${d.name}/${f.name}`, readAll(fs, `/w/${d.name}/${f.name}`));
  }
  return { files, ids: id };
}

function materialise(files: Files): MemoryFs {
  const fs = new MemoryFs();
  fs.mkdir("/w");
  for (const [p, b] of files) {
    fs.mkdir(`/w/${p.split("/")[0]}`);
    const f = fs.open(`/w/${p}`, "create");
    f.write(b, 0);
    f.close();
  }
  return fs;
}

type Outcome = "ok" | "repaired" | "open-corruption" | "read-error";

/** Opens and reads everything; checks the result is one of the documented ones. */
async function probe(files: Files, ids: number, onCorruption: OnCorruption, what: string, expectAll = true): Promise<Outcome> {
  const fs = materialise(files);
  let wal: Wal;
  try {
    wal = await Wal.open({ root: "/w", fs, onCorruption });
  } catch (e) {
    assert.ok(e instanceof WalError, `${what}: open threw a non-WalError: ${e}`);
    assert.equal(onCorruption, "error", `${what}: open threw with onCorruption "truncate": ${e.message}`);
    assert.equal(e.code, "CORRUPTION", `${what}: ${e.message}`);
    assert.match(e.message, /\.wal/, `${what}: the error does not name the file: ${e.message}`);
    assert.match(e.message, /offset \d+/, `${what}: the error does not give the offset: ${e.message}`);
    return "open-corruption";
  }
  try {
    let next = wal.firstId("a");
    let readError = false;
    try {
      for (const { id, data } of wal.iterSync("a", 0)) {
        assert.equal(id, next, `${what}: ids not contiguous`);
        assert.deepEqual(data, entry(id), `${what}: id ${id} reads back different bytes`);
        next++;
      }
    } catch (e) {
      if (e instanceof assert.AssertionError) throw e;
      assert.ok(e instanceof WalError, `${what}: iter threw a non-WalError: ${e}`);
      assert.ok(e.code === "CRC_MISMATCH" || e.code === "CORRUPTION", `${what}: iter threw ${e.code}: ${e.message}`);
      assert.match(e.message, /\.wal|\.idx/, `${what}: the error does not name the file: ${e.message}`);
      readError = true;
    }
    for (let id = 0; id < ids + 1; id++) {
      try {
        const g = wal.getSync("a", id);
        if (g !== undefined) assert.deepEqual(g, entry(id), `${what}: get(${id}) reads back different bytes`);
        else assert.ok(id >= wal.nextId("a") || id < wal.firstId("a"), `${what}: get(${id}) undefined inside the stream`);
      } catch (e) {
        if (e instanceof assert.AssertionError) throw e;
        assert.ok(e instanceof WalError, `${what}: get threw a non-WalError: ${e}`);
        assert.ok(e.code === "CRC_MISMATCH" || e.code === "CORRUPTION", `${what}: get threw ${e.code}: ${e.message}`);
        readError = true;
      }
    }
    if (readError) return "read-error";
    if (!readError) assert.equal(next, wal.nextId("a"), `${what}: iter stopped before nextId`);
    const repaired = wal.recovery.repairs.length > 0;
    if (expectAll && !repaired && !wal.recovery.corruptionDetected) {
      // Untouched or a tolerated byte: everything must be there.
      assert.equal(wal.nextId("a") - wal.firstId("a"), ids, `${what}: entries missing without a reported repair`);
    }
    // The stream stays writable after whatever open did.
    const n = wal.nextId("a");
    assert.equal(await wal.append("a", entry(n)), n);
    assert.deepEqual(await wal.get("a", n), entry(n));
    return repaired ? "repaired" : "ok";
  } finally {
    await wal.close().catch(() => {});
  }
}

function tally(m: Map<string, number>, k: string): void {
  m.set(k, (m.get(k) ?? 0) + 1);
}

describe("corruption: every byte, every length, random files", () => {
  it("flipping each byte of a one-segment stream gives a documented result", { timeout: 120_000 }, async () => {
    const { files, ids } = await image();
    const [segPath, seg] = [...files].find(([p]) => p.endsWith(".wal"))!;
    const seen = new Map<string, number>();
    for (let i = 0; i < seg.length; i++) {
      for (const mode of ["error", "truncate"] as const) {
        const bad = seg.slice();
        bad[i] ^= 0xff;
        tally(seen, await probe(new Map([[segPath, bad]]), ids, mode, `byte ${i} of ${seg.length} flipped (${mode})`));
      }
    }
    console.log(`byte flips over ${seg.length} bytes: ${JSON.stringify(Object.fromEntries(seen))}`);
    assert.ok((seen.get("open-corruption") ?? 0) + (seen.get("repaired") ?? 0) > 0);
  });

  it("flipping each byte of a sealed segment and of its index gives a documented result", { timeout: 120_000 }, async () => {
    const { files, ids } = await image(256);
    const sealed = [...files.keys()].filter((p) => p.endsWith(".wal")).sort()[0];
    const idx = sealed.replace(/\.wal$/, ".idx");
    assert.ok(files.has(idx), "the sealed segment has an index file");
    const seen = new Map<string, number>();
    for (const target of [sealed, idx]) {
      const orig = files.get(target)!;
      for (let i = 0; i < orig.length; i++) {
        const bad = orig.slice();
        bad[i] ^= 1 << (i % 8);
        const f = new Map(files);
        f.set(target, bad);
        tally(seen, `${target.endsWith(".idx") ? "idx" : "seg"}:${await probe(f, ids, "error", `${target} byte ${i} flipped`)}`);
      }
    }
    console.log(`sealed segment/index flips: ${JSON.stringify(Object.fromEntries(seen))}`);
    // A damaged index is rebuilt from the segment: never an error.
    for (const k of seen.keys()) if (k.startsWith("idx:")) assert.equal(k, "idx:ok");
  });

  it("cutting the last segment at every length opens with the tail cut", { timeout: 120_000 }, async () => {
    const { files, ids } = await image();
    const [segPath, seg] = [...files].find(([p]) => p.endsWith(".wal"))!;
    for (let len = 0; len <= seg.length; len++) {
      for (const mode of ["error", "truncate"] as const) {
        const r = await probe(new Map([[segPath, seg.slice(0, len)]]), ids, mode, `cut at ${len} (${mode})`, false);
        assert.ok(r === "ok" || r === "repaired", `cut at ${len}: ${r}`);
      }
    }
  });

  it("cutting a sealed segment at every length is reported on read, never crashes", { timeout: 120_000 }, async () => {
    const { files, ids } = await image(256);
    const sealed = [...files.keys()].filter((p) => p.endsWith(".wal")).sort()[0];
    const seg = files.get(sealed)!;
    for (let len = 0; len < seg.length; len++) {
      const f = new Map(files);
      f.set(sealed, seg.slice(0, len));
      await probe(f, ids, "error", `sealed cut at ${len}`, false);
    }
  });

  it("random and mutated files as segments and index files", { timeout: 120_000 }, async () => {
    const rng = seededRng(1234);
    const { files, ids } = await image(256);
    const names = [...files.keys()].sort();
    const seen = new Map<string, number>();
    for (let round = 0; round < 300; round++) {
      const f = new Map(files);
      const target = names[Math.floor(rng() * names.length)];
      const orig = f.get(target)!;
      let bad: Uint8Array;
      const kind = rng();
      if (kind < 0.3) {
        bad = new Uint8Array(Math.floor(rng() * 400));
        for (let i = 0; i < bad.length; i++) bad[i] = (rng() * 256) | 0;
      } else if (kind < 0.45) {
        // Plausible headers with absurd lengths: the first 32 bytes kept, the rest random.
        bad = orig.slice();
        for (let i = 32; i < bad.length; i++) if (rng() < 0.3) bad[i] = 0xff;
      } else {
        bad = orig.slice();
        const flips = 1 + Math.floor(rng() * 8);
        for (let k = 0; k < flips; k++) bad[Math.floor(rng() * bad.length)] ^= 1 << Math.floor(rng() * 8);
        if (rng() < 0.3) bad = bad.slice(0, Math.floor(rng() * bad.length));
      }
      f.set(target, bad);
      if (rng() < 0.1) f.set(`${target.split("/")[0]}/junk.txt`, bad);
      if (rng() < 0.1) f.set(`${target.split("/")[0]}/00000000000000000099.wal.tmp`, bad);
      tally(seen, await probe(f, ids, rng() < 0.5 ? "error" : "truncate", `round ${round}: ${target} mutated`, false));
    }
    console.log(`random/mutated files: ${JSON.stringify(Object.fromEntries(seen))}`);
  });

  it("garbage in root and in LOCK never blocks or crashes open (real file system)", async () => {
    const rng = seededRng(99);
    const dir = nodeFs.mkdtempSync(path.join(os.tmpdir(), "ironwal-corrupt-"));
    try {
      const fs = defaultFs();
      const w0 = await Wal.open({ root: dir, fs });
      await w0.append("a", entry(0));
      await w0.close();
      for (let round = 0; round < 20; round++) {
        const junk = new Uint8Array(Math.floor(rng() * 200));
        for (let i = 0; i < junk.length; i++) junk[i] = (rng() * 256) | 0;
        if (round % 3 === 1) junk.set(new TextEncoder().encode(`{"pid":${1 + round},"token":"x"`).subarray(0, junk.length));
        nodeFs.writeFileSync(path.join(dir, "LOCK"), junk);
        nodeFs.writeFileSync(path.join(dir, `garbage${round}.bin`), junk);
        const wal = await Wal.open({ root: dir, fs });
        assert.deepEqual(await wal.get("a", 0), entry(0));
        assert.ok(wal.recovery.warnings.some((w) => w.includes("garbage")));
        await wal.close();
      }
      // A stream directory that is a file: ignored with a warning.
      nodeFs.writeFileSync(path.join(dir, "not_a_stream"), "x");
      const wal = await Wal.open({ root: dir, fs });
      assert.deepEqual(await wal.get("a", 0), entry(0));
      await wal.close();
    } finally {
      nodeFs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
