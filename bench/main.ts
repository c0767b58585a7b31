/**
 * The main benchmark (SPEC §7): every figure as a ratio against a bare
 * `node:fs` loop run in the same process, on the same machine, in the same
 * run, so the ratios hold on a noisy box. Ends with one line
 * `BENCH_JSON {...}` holding every figure.
 *
 * Run: `deno run -A bench/main.ts`, `bun bench/main.ts`, or compiled
 * `node npm/bench/main.js` (`npm run bench` builds and runs all three).
 * Flags: `--quick` (smaller sizes), `--mem-mib N` (size of the memory test,
 * default 1024, quick 256; env IRONWAL_BENCH_MEM_MIB), `--only a,b` (figure
 * keys: latency, concurrent, async, batch, get, iter, open, memory, codecs,
 * sharded).
 *
 * @module
 */

import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { crc32, Wal } from "../mod.ts";
import { crc32Implementation, setCrc32Sparse } from "../src/format/crc32.ts";
import type { IterOptions, WalOptions } from "../mod.ts";
import { SEGMENT_HEADER } from "../src/format/segment.ts";
import { FRAME_HEADER } from "../src/format/frame.ts";
import { landing } from "../src/stream/cursor.ts";
import { benchCodecs } from "./lz4.ts";

// ------------------------------------------------------------------ setup

const g = globalThis as { Bun?: { version: string; gc?: (force: boolean) => void }; Deno?: { version: { deno: string } }; gc?: () => void };
const runtime = g.Bun !== undefined ? "bun" : g.Deno !== undefined ? "deno" : "node";
const runtimeVersion = g.Bun !== undefined ? g.Bun.version : g.Deno !== undefined ? g.Deno.version.deno : process.versions.node;

const argv = process.argv.slice(2);
function flag(name: string): string | undefined {
  const i = argv.findIndex((a) => a === name || a.startsWith(name + "="));
  if (i < 0) return undefined;
  const a = argv[i];
  return a.includes("=") ? a.slice(a.indexOf("=") + 1) : (argv[i + 1] ?? "");
}
const quick = argv.includes("--quick");
const only = new Set((flag("--only") ?? "").split(",").filter((s) => s !== ""));
const want = (k: string) => only.size === 0 || only.has(k);

const P = quick
  ? {
    latencyN: 600,
    writers: 256,
    perWriter: 20,
    asyncN: 60_000,
    batchMiB: 64,
    getEntries: 50_000,
    getReads: 100_000,
    iterMiB: 64,
    openSegments: 1000,
    openPerSegment: 1000,
    openRuns: 5,
    memMiB: 256,
  }
  : {
    latencyN: 2000,
    writers: 256,
    perWriter: 100,
    asyncN: 300_000,
    batchMiB: 256,
    getEntries: 200_000,
    getReads: 400_000,
    iterMiB: 256,
    openSegments: 1000,
    openPerSegment: 1000,
    openRuns: 9,
    memMiB: 1024,
  };
const memOverride = flag("--mem-mib") ?? process.env.IRONWAL_BENCH_MEM_MIB;
if (memOverride !== undefined && memOverride !== "") {
  const n = Number(memOverride);
  if (!Number.isFinite(n) || n <= 0) throw new Error(`--mem-mib must be a positive number, got ${memOverride}`);
  P.memMiB = n;
}

const tmpRoot = fs.mkdtempSync(path.join(os.tmpdir(), "ironwal-bench-"));
let dirSeq = 0;
function freshDir(name: string): string {
  const d = path.join(tmpRoot, `${++dirSeq}-${name}`);
  fs.mkdirSync(d);
  return d;
}
function rm(p: string): void {
  fs.rmSync(p, { recursive: true, force: true });
}

const now = () => performance.now();
function gc(): void {
  if (typeof g.gc === "function") g.gc();
  else g.Bun?.gc?.(true);
}
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** One step of xorshift32: the benchmark's reproducible pseudo-random numbers. */
function xorshift32(s: number): number {
  s ^= s << 13;
  s >>>= 0;
  s ^= s >>> 17;
  s ^= s << 5;
  return s >>> 0;
}

function bytes(n: number, seed = 1): Uint8Array {
  const b = new Uint8Array(n);
  let s = seed * 2654435761 >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    s = xorshift32(s);
    b[i] = s & 0xff;
  }
  return b;
}

function quantile(sorted: number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * (sorted.length - 1)))];
}
function median(a: number[]): number {
  return quantile([...a].sort((x, y) => x - y), 0.5);
}

// ---------------------------------------------------------------- figures

interface Figure {
  key: string;
  name: string;
  unit: string;
  ours: number;
  bare: number | null;
  /** ours / bare (for latency and time: ours / bare too; the target says which way). */
  ratio: number | null;
  /** Target on the ratio (or on `ours` when bare is null). */
  target: { op: ">=" | "<=" | "<"; value: number; on: "ratio" | "ours" } | null;
  pass: boolean | null;
  note?: string;
}
const figures: Figure[] = [];
const extras: Record<string, unknown> = {};

function fmt(x: number): string {
  if (!Number.isFinite(x)) return String(x);
  const a = Math.abs(x);
  if (a >= 100_000) return Math.round(x).toLocaleString("en-US");
  if (a >= 100) return x.toFixed(0);
  if (a >= 10) return x.toFixed(1);
  if (a >= 1) return x.toFixed(2);
  return x.toFixed(3);
}

function report(
  key: string,
  name: string,
  unit: string,
  ours: number,
  bare: number | null,
  target: Figure["target"],
  note?: string,
): void {
  const ratio = bare === null ? null : ours / bare;
  let pass: boolean | null = null;
  if (target !== null) {
    const v = target.on === "ratio" ? ratio! : ours;
    pass = target.op === ">=" ? v >= target.value : target.op === "<=" ? v <= target.value : v < target.value;
  }
  const f: Figure = { key, name, unit, ours, bare, ratio, target, pass };
  if (note !== undefined) f.note = note;
  figures.push(f);
  const t = target === null
    ? "no target"
    : `target ${target.on === "ratio" ? "ratio " : ""}${target.op} ${target.value}${target.on === "ours" ? " " + unit : "×"}`;
  const verdict = pass === null ? "INFO" : pass ? "PASS" : "FALL SHORT";
  console.log(
    `${name}: ours ${fmt(ours)} ${unit}, bare ${bare === null ? "-" : `${fmt(bare)} ${unit}`}, ` +
      `ratio ${ratio === null ? "-" : fmt(ratio) + "×"} (${t}) ${verdict}${note ? `  [${note}]` : ""}`,
  );
}

async function openWal(root: string, o: WalOptions = {}): Promise<Wal> {
  return await Wal.open({ root, ...o });
}

/** Appends `n` entries without awaiting each: windows of `win` settled with Promise.all. */
async function pipelined(wal: Wal, stream: string, n: number, data: (i: number) => Uint8Array, win = 1024): Promise<void> {
  const ps: Promise<number>[] = new Array(win);
  for (let i = 0; i < n;) {
    const m = Math.min(win, n - i);
    if (ps.length !== m) ps.length = m;
    for (let j = 0; j < m; j++) ps[j] = wal.append(stream, data(i + j));
    await Promise.all(ps);
    i += m;
  }
}

// 1 + 2: strict ---------------------------------------------------------

/** Bare loop: `n` sequential writeSync calls of `data` into a fresh file. Returns the seconds taken. */
function bareWriteLoop(file: string, n: number, data: Uint8Array): number {
  const fd = fs.openSync(file, "w");
  let pos = 0;
  const t = now();
  try {
    for (let i = 0; i < n; i++) {
      fs.writeSync(fd, data, 0, data.length, pos);
      pos += data.length;
    }
    return (now() - t) / 1000;
  } finally {
    fs.closeSync(fd);
  }
}

/** Bare loop: writeSync + fdatasync per `size`-byte write into a fresh growing file. Returns latencies (ms). */
function bareFsyncLoop(file: string, n: number, data: Uint8Array): number[] {
  const fd = fs.openSync(file, "w");
  const lat: number[] = new Array(n);
  let pos = 0;
  try {
    for (let i = 0; i < n; i++) {
      const t = now();
      fs.writeSync(fd, data, 0, data.length, pos);
      fs.fdatasyncSync(fd);
      lat[i] = now() - t;
      pos += data.length;
    }
  } finally {
    fs.closeSync(fd);
  }
  return lat;
}

async function benchStrict(): Promise<void> {
  const data = bytes(128);
  let bareTotalMs = 0;
  let bareCount = 0;
  if (want("latency")) {
    const dir = freshDir("strict-latency");
    const wal = await openWal(path.join(dir, "wal"), { syncMode: "strict" });
    for (let i = 0; i < 50; i++) await wal.append("s", data); // warm-up
    bareFsyncLoop(path.join(dir, "bare-warm"), 50, data);
    const ours: number[] = [];
    const bare: number[] = [];
    const rounds = 4;
    const per = Math.ceil(P.latencyN / rounds);
    // Alternate bare and ours so that drifts of the (virtual) disk hit both.
    for (let r = 0; r < rounds; r++) {
      const b = bareFsyncLoop(path.join(dir, `bare-${r}`), per, data);
      for (const x of b) bare.push(x);
      for (let i = 0; i < per; i++) {
        const t = now();
        await wal.append("s", data);
        ours.push(now() - t);
      }
    }
    await wal.close();
    for (const x of bare) bareTotalMs += x;
    bareCount = bare.length;
    ours.sort((a, b) => a - b);
    bare.sort((a, b) => a - b);
    report("strictP50", "1. strict 128 B append p50 latency (1 writer)", "µs", quantile(ours, 0.5) * 1000, quantile(bare, 0.5) * 1000, {
      op: "<=",
      value: 1.3,
      on: "ratio",
    });
    report("strictP99", "1. strict 128 B append p99 latency (1 writer)", "µs", quantile(ours, 0.99) * 1000, quantile(bare, 0.99) * 1000, null);
    rm(dir);
  }
  if (want("concurrent")) {
    const dir = freshDir("strict-concurrent");
    if (bareCount === 0) {
      const b = bareFsyncLoop(path.join(dir, "bare"), Math.min(1000, P.latencyN), data);
      for (const x of b) bareTotalMs += x;
      bareCount = b.length;
    }
    const bareRate = bareCount / (bareTotalMs / 1000);
    const wal = await openWal(path.join(dir, "wal"), { syncMode: "strict" });
    const run = async (per: number) => {
      const t = now();
      await Promise.all(Array.from({ length: P.writers }, async () => {
        for (let i = 0; i < per; i++) await wal.append("s", data);
      }));
      return (P.writers * per) / ((now() - t) / 1000);
    };
    await run(3); // warm-up
    const rate = Math.max(await run(P.perWriter), await run(P.perWriter));
    const fsyncs = wal.stats().fsyncs;
    await wal.close();
    report("strictConcurrent", `2. strict, ${P.writers} concurrent appenders of 128 B`, "appends/s", rate, bareRate, {
      op: ">=",
      value: 20,
      on: "ratio",
    }, `${fsyncs} fsyncs`);
    rm(dir);
  }
}

// 3 + 4: async ----------------------------------------------------------

async function benchAsync(): Promise<void> {
  if (want("async")) {
    const data = bytes(128);
    const n = P.asyncN;
    let bare = 0;
    let awaited = 0;
    let piped = 0;
    for (let round = 0; round < 2; round++) {
      const dir = freshDir("async-128");
      bare = Math.max(bare, n / bareWriteLoop(path.join(dir, "bare"), n, data));
      {
        const wal = await openWal(path.join(dir, "wal-a"), { syncMode: "async" });
        await wal.append("s", data);
        const t = now();
        for (let i = 0; i < n; i++) await wal.append("s", data);
        awaited = Math.max(awaited, n / ((now() - t) / 1000));
        await wal.close();
      }
      {
        const wal = await openWal(path.join(dir, "wal-p"), { syncMode: "async" });
        await wal.append("s", data);
        const t = now();
        await pipelined(wal, "s", n, () => data);
        piped = Math.max(piped, n / ((now() - t) / 1000));
        await wal.close();
      }
      rm(dir);
    }
    report("async128Awaited", "3a. async 128 B appends, awaiting each", "entries/s", awaited, bare, { op: ">=", value: 1.0, on: "ratio" });
    report("async128Pipelined", "3b. async 128 B appends, pipelined (windows of 1024)", "entries/s", piped, bare, {
      op: ">=",
      value: 1.0,
      on: "ratio",
    });
  }
  if (want("batch")) {
    const entries = Array.from({ length: 16 }, (_, i) => bytes(4096, i + 7));
    const chunk = new Uint8Array(16 * 4096);
    for (let i = 0; i < 16; i++) chunk.set(entries[i], i * 4096);
    const total = P.batchMiB * 1024 * 1024;
    const batches = Math.ceil(total / chunk.length);
    let bare = 0;
    let awaited = 0;
    let piped = 0;
    for (let round = 0; round < 2; round++) {
      const dir = freshDir("async-batch");
      bare = Math.max(bare, (batches * chunk.length) / 1e6 / bareWriteLoop(path.join(dir, "bare"), batches, chunk));
      rm(path.join(dir, "bare"));
      {
        const wal = await openWal(path.join(dir, "wal-a"), { syncMode: "async" });
        await wal.appendBatch("s", entries);
        const t = now();
        for (let i = 0; i < batches; i++) await wal.appendBatch("s", entries);
        awaited = Math.max(awaited, (batches * chunk.length) / 1e6 / ((now() - t) / 1000));
        await wal.close();
        rm(path.join(dir, "wal-a"));
      }
      {
        const wal = await openWal(path.join(dir, "wal-p"), { syncMode: "async" });
        await wal.appendBatch("s", entries);
        const ps: Promise<unknown>[] = new Array(16);
        const t = now();
        for (let i = 0; i < batches; i += 16) {
          const m = Math.min(16, batches - i);
          ps.length = m;
          for (let j = 0; j < m; j++) ps[j] = wal.appendBatch("s", entries);
          await Promise.all(ps);
        }
        piped = Math.max(piped, (batches * chunk.length) / 1e6 / ((now() - t) / 1000));
        await wal.close();
      }
      rm(dir);
    }
    const note = `${P.batchMiB} MiB, 64 MiB segments (the seal's fsync is deferred to sync/close)`;
    report("asyncBatchAwaited", "4a. async appendBatch 16 × 4 KiB, awaiting each", "MB/s", awaited, bare, { op: ">=", value: 0.6, on: "ratio" }, note);
    report("asyncBatchPipelined", "4b. async appendBatch 16 × 4 KiB, 16 in flight", "MB/s", piped, bare, { op: ">=", value: 0.6, on: "ratio" }, note);
  }
}

// 5 + 6: reads ----------------------------------------------------------

/** Segment files of stream directory `dir`, oldest first. */
function segmentFiles(dir: string): string[] {
  return fs.readdirSync(dir).filter((n) => n.endsWith(".wal")).sort().map((n) => path.join(dir, n));
}

function streamDir(root: string): string {
  const d = fs.readdirSync(root).filter((n) => fs.statSync(path.join(root, n)).isDirectory());
  if (d.length !== 1) throw new Error(`expected one stream directory in ${root}, found ${d.join(", ")}`);
  return path.join(root, d[0]);
}

/** `count` pseudo-random ids below `n` (xorshift32 from `seed`): the same every run. */
function randomIds(seed: number, count: number, n: number): Uint32Array {
  const ids = new Uint32Array(count);
  let s = seed >>> 0;
  for (let i = 0; i < count; i++) {
    s = xorshift32(s);
    ids[i] = s % n;
  }
  return ids;
}

/**
 * Where each of the `n` entries of a stream lies, for bare loops that read
 * them at known offsets: every frame is `frame` bytes (header included)
 * after its segment's header. Returns each id's segment (index in `files`)
 * and the file offset of its frame.
 */
function frameStarts(files: string[], frame: number, n: number): { segOf: Int32Array; offOf: Float64Array } {
  const segOf = new Int32Array(n);
  const offOf = new Float64Array(n);
  let id = 0;
  for (let s = 0; s < files.length; s++) {
    const cnt = (fs.statSync(files[s]).size - SEGMENT_HEADER) / frame;
    if (!Number.isInteger(cnt)) throw new Error(`unexpected segment size of ${files[s]}`);
    for (let k = 0; k < cnt; k++, id++) {
      segOf[id] = s;
      offOf[id] = SEGMENT_HEADER + k * frame;
    }
  }
  if (id !== n) throw new Error(`found ${id} entries in the segment files, wrote ${n}`);
  return { segOf, offOf };
}

async function benchGet(): Promise<void> {
  const dir = freshDir("get");
  const root = path.join(dir, "wal");
  const n = P.getEntries;
  const entry = (i: number) => {
    const b = new Uint8Array(128);
    b[0] = i & 0xff;
    b[1] = (i >> 8) & 0xff;
    b[2] = (i >> 16) & 0xff;
    return b;
  };
  {
    const wal = await openWal(root, { syncMode: "async", maxSegmentSize: 4 * 1024 * 1024 });
    await pipelined(wal, "s", n, entry);
    await wal.close();
  }
  // Where each id is; the bare loop reads the entry's bytes, after its frame header.
  const files = segmentFiles(streamDir(root));
  const fds = files.map((f) => fs.openSync(f, "r"));
  const { segOf: segOfId, offOf: offOfId } = frameStarts(files, FRAME_HEADER + 128, n);
  for (let id = 0; id < n; id++) offOfId[id] += FRAME_HEADER;
  const reads = P.getReads;
  const ids = randomIds(0x2545f491, reads, n);
  const buf = new Uint8Array(128);
  const bareRun = () => {
    const t = now();
    for (let i = 0; i < reads; i++) {
      const id = ids[i];
      fs.readSync(fds[segOfId[id]], buf, 0, 128, offOfId[id]);
    }
    return reads / ((now() - t) / 1000);
  };
  // Sanity: the bare loop reads the very bytes get returns.
  for (let i = 0; i < 3; i++) {
    const id = ids[i];
    fs.readSync(fds[segOfId[id]], buf, 0, 128, offOfId[id]);
    if (buf[0] !== (id & 0xff) || buf[1] !== ((id >> 8) & 0xff) || buf[2] !== ((id >> 16) & 0xff)) {
      throw new Error("bench: bare offsets do not match the stored entries");
    }
  }
  const configs: [string, string, WalOptions][] = [
    ["getStandard", 'readStrategy "standard"', { readStrategy: "standard" }],
    ["getMmap", 'readStrategy "mmap"', { readStrategy: "mmap" }],
    ["getBlockCache", 'blockCacheSize 64 MiB', { readStrategy: "standard", blockCacheSize: 64 * 1024 * 1024 }],
  ];
  bareRun(); // warm the page cache
  const getSyncRates: Record<string, number> = {};
  for (const [key, label, o] of configs) {
    const wal = await openWal(root, { syncMode: "async", maxSegmentSize: 4 * 1024 * 1024, ...o });
    const ourRun = async () => {
      const t = now();
      for (let i = 0; i < reads; i++) {
        const d = await wal.get("s", ids[i]);
        if (d === undefined) throw new Error(`get ${ids[i]} missing`);
      }
      return reads / ((now() - t) / 1000);
    };
    const syncRun = () => {
      const t = now();
      for (let i = 0; i < reads; i++) wal.getSync("s", ids[i]);
      return reads / ((now() - t) / 1000);
    };
    const d = await wal.get("s", ids[7]);
    if (d === undefined || d[0] !== (ids[7] & 0xff) || d[1] !== ((ids[7] >> 8) & 0xff)) throw new Error("get returned the wrong entry");
    await ourRun(); // warm-up (fills the caches)
    const { bare, ours, sync } = await bestOfTwo(bareRun, ourRun, syncRun);
    await wal.close();
    getSyncRates[key] = sync;
    report(key, `5. random get of 128 B entries, ${label}`, "reads/s", ours, bare, { op: ">=", value: 0.5, on: "ratio" }, `getSync ${fmt(sync)}/s`);
  }
  extras.getSync = getSyncRates;
  for (const fd of fds) fs.closeSync(fd);
  rm(dir);
}

/** Best of two interleaved rounds of the bare loop, the async and the sync reads (one figure's three rates). */
async function bestOfTwo(bareRun: () => number, ourRun: () => Promise<number>, syncRun: () => number): Promise<{ bare: number; ours: number; sync: number }> {
  let ours = 0;
  let bare = 0;
  let sync = 0;
  for (let r = 0; r < 2; r++) {
    bare = Math.max(bare, bareRun());
    ours = Math.max(ours, await ourRun());
    sync = Math.max(sync, syncRun());
  }
  return { bare, ours, sync };
}

async function benchIter(): Promise<void> {
  const dir = freshDir("iter");
  const root = path.join(dir, "wal");
  const n = Math.ceil((P.iterMiB * 1024 * 1024) / 4096);
  const data = bytes(4096, 3);
  const seg = 16 * 1024 * 1024;
  {
    const wal = await openWal(root, { syncMode: "async", maxSegmentSize: seg });
    await pipelined(wal, "s", n, () => data, 256);
    await wal.close();
  }
  const files = segmentFiles(streamDir(root));
  let fileBytes = 0;
  for (const f of files) fileBytes += fs.statSync(f).size;
  // Each read lands where the kernel's copy runs at full speed (see
  // `landing` in src/stream/cursor.ts: on AMD Zen 3 a 64 KiB chunk read
  // into the start of an unluckily placed buffer runs 4× slower), so the
  // baseline is the fast loop, not whatever the allocator happened to give.
  const buf = new Uint8Array(64 * 1024 + 4096).subarray(landing(0), landing(0) + 64 * 1024);
  // The bare loop; with `check`, also the runtime's CRC over each chunk (one
  // call each): the most a reader that checks every byte it reads could do on
  // one core. With `fresh`, each 1 MiB chunk goes to new memory, as entries a
  // caller may keep must (iter without reuseBuffer).
  const bareLoop = (check: boolean, fresh = false) => (): number => {
    const t = now();
    let x = 0;
    for (const f of files) {
      const fd = fs.openSync(f, "r");
      let pos = 0;
      for (;;) {
        const b = fresh ? new Uint8Array(1024 * 1024 + 4096).subarray(landing(pos), landing(pos) + 1024 * 1024) : buf;
        const got = fs.readSync(fd, b, 0, b.length, pos);
        if (got === 0) break;
        pos += got;
        x += check ? crc32(got === b.length ? b : b.subarray(0, got)) : b[0];
      }
      fs.closeSync(fd);
    }
    if (x < 0) console.log(x);
    return fileBytes / 1e6 / ((now() - t) / 1000);
  };
  const bareRun = bareLoop(false);
  const bareCrcRun = bareLoop(true);
  const bareFreshRun = bareLoop(false, true);
  const bareFreshCrcRun = bareLoop(true, true);
  bareRun(); // warm the page cache
  {
    let bare = 0;
    let withCrc = 0;
    let fresh = 0;
    let freshCrc = 0;
    for (let r = 0; r < 2; r++) {
      bare = Math.max(bare, bareRun());
      withCrc = Math.max(withCrc, bareCrcRun());
      fresh = Math.max(fresh, bareFreshRun());
      freshCrc = Math.max(freshCrc, bareFreshCrcRun());
    }
    report("iterCrcBound", "6. bound for a checked read: bare readSync + CRC-32 of every 64 KiB chunk", "MB/s", withCrc, bare, null);
    report("iterFreshBound", "6. bound for entries a caller may keep: bare readSync into a new 1 MiB buffer per chunk", "MB/s", fresh, bare, null);
    report("iterFreshCrcBound", "6. the same + CRC-32 of every chunk", "MB/s", freshCrc, bare, null);
  }
  {
    // Why chunk reads land half a page in: 1 MiB reads into a buffer at each
    // multiple of 16 bytes across a page; the slowest placement against the
    // one `landing` picks. The buffer's own address is the allocator's, so
    // the scan covers a page rather than guess it.
    const big = new Uint8Array(1024 * 1024 + 4096);
    const fd = fs.openSync(files[0], "r");
    const into = (at: number): number => {
      const b = big.subarray(at, at + 1024 * 1024);
      const t = now();
      let pos = 0;
      for (let k = 0; k < 4; k++) pos += fs.readSync(fd, b, 0, b.length, pos);
      return pos / 1e6 / ((now() - t) / 1000);
    };
    let slowest = Infinity;
    let landed = 0;
    for (let r = 0; r < 2; r++) {
      for (let at = 0; at < 4096; at += 16) slowest = Math.min(slowest, Math.max(into(at), into(at)));
      landed = Math.max(landed, into(landing(0)), into(landing(0)));
    }
    fs.closeSync(fd);
    report("iterLanding", "6. bare readSync of 1 MiB chunks landing half a page in, vs the slowest of 256 placements in a page", "MB/s", landed, slowest, null);
  }

  const iterSyncRates: Record<string, number> = {};
  for (const [key, label, o, io] of [
    ["iterStandard", 'readStrategy "standard"', { readStrategy: "standard" }, {}],
    ["iterStandardReuse", 'readStrategy "standard", reuseBuffer', { readStrategy: "standard" }, { reuseBuffer: true }],
    ["iterMmap", 'readStrategy "mmap"', { readStrategy: "mmap" }, {}],
    ["iterMmapReuse", 'readStrategy "mmap", reuseBuffer', { readStrategy: "mmap" }, { reuseBuffer: true }],
  ] as [string, string, WalOptions, IterOptions][]) {
    const wal = await openWal(root, { syncMode: "async", maxSegmentSize: seg, ...o });
    const ourRun = async () => {
      const t = now();
      let count = 0;
      let x = 0;
      for await (const e of wal.iter("s", 0, io)) {
        count++;
        x += e.data[0];
      }
      if (count !== n) throw new Error(`iter gave ${count} entries, wrote ${n}`);
      if (x < 0) console.log(x);
      return fileBytes / 1e6 / ((now() - t) / 1000);
    };
    const syncRun = () => {
      const t = now();
      let count = 0;
      for (const _e of wal.iterSync("s", 0, io)) count++;
      if (count !== n) throw new Error(`iterSync gave ${count} entries, wrote ${n}`);
      return fileBytes / 1e6 / ((now() - t) / 1000);
    };
    await ourRun(); // warm-up
    const { bare, ours, sync } = await bestOfTwo(bareRun, ourRun, syncRun);
    await wal.close();
    iterSyncRates[key] = sync;
    report(key, `6. iter over 4 KiB entries, ${label}`, "MB/s", ours, bare, { op: ">=", value: 0.5, on: "ratio" }, `iterSync ${fmt(sync)} MB/s; ${P.iterMiB} MiB`);
  }
  extras.iterSync = iterSyncRates;

  {
    // Short iterations: a consumer catching up on 16 entries from a random id
    // (the cursor's first reads are short, see FIRST_CHUNK in
    // src/stream/cursor.ts), against one bare readSync of those 16 frames at
    // their known offset.
    const frame = FRAME_HEADER + 4096;
    const { segOf, offOf } = frameStarts(files, frame, n);
    const take = 16;
    const runs = 4000;
    const starts = randomIds(0x9e3779b9, runs, n - take);
    // Within one segment, so the bare loop's one read covers all 16.
    for (let i = 0; i < runs; i++) while (segOf[starts[i]] !== segOf[starts[i] + take - 1]) starts[i]--;
    const fds = files.map((f) => fs.openSync(f, "r"));
    const bigBuf = new Uint8Array(take * frame + 4096);
    const bareRun = (): number => {
      const t = now();
      let y = 0;
      for (let i = 0; i < runs; i++) {
        const s = starts[i];
        const off = offOf[s];
        const b = bigBuf.subarray(landing(off), landing(off) + take * frame);
        if (fs.readSync(fds[segOf[s]], b, 0, b.length, off) !== b.length) throw new Error("short bare read");
        y += b[FRAME_HEADER];
      }
      if (y < 0) console.log(y);
      return runs / ((now() - t) / 1000);
    };
    const wal = await openWal(root, { syncMode: "async", maxSegmentSize: seg });
    const ourRun = async (): Promise<number> => {
      const t = now();
      let y = 0;
      for (let i = 0; i < runs; i++) {
        let c = 0;
        for await (const e of wal.iter("s", starts[i])) {
          y += e.data[0];
          if (++c === take) break;
        }
        if (c !== take) throw new Error(`short iteration gave ${c} entries`);
      }
      if (y < 0) console.log(y);
      return runs / ((now() - t) / 1000);
    };
    const syncRun = (): number => {
      const t = now();
      for (let i = 0; i < runs; i++) {
        let c = 0;
        for (const _e of wal.iterSync("s", starts[i])) if (++c === take) break;
      }
      return runs / ((now() - t) / 1000);
    };
    await ourRun();
    const { bare, ours, sync } = await bestOfTwo(bareRun, ourRun, syncRun);
    await wal.close();
    for (const fd of fds) fs.closeSync(fd);
    report("iterShort", `6. iter of 16 entries of 4 KiB from a random id, vs one bare readSync of their frames`, "iterations/s", ours, bare, null, `iterSync ${fmt(sync)}/s`);
  }
  rm(dir);
}

// 7: open ---------------------------------------------------------------

async function benchOpen(): Promise<void> {
  const dir = freshDir("open");
  const big = path.join(dir, "big");
  const small = path.join(dir, "small");
  const entry = bytes(16, 5);
  const total = P.openSegments * P.openPerSegment;
  const tb = now();
  {
    const wal = await openWal(big, { syncMode: "async", maxEntriesPerSegment: P.openPerSegment });
    await pipelined(wal, "s", total, () => entry, 1000);
    await wal.close();
  }
  const buildMs = now() - tb;
  {
    const wal = await openWal(small, { syncMode: "async", maxEntriesPerSegment: P.openPerSegment });
    await pipelined(wal, "s", P.openPerSegment, () => entry, 1000);
    await wal.close();
  }
  const segs = segmentFiles(streamDir(big)).length;
  const timeOpen = async (root: string) => {
    const t = now();
    const wal = await Wal.open({ root, syncMode: "async", maxEntriesPerSegment: P.openPerSegment });
    const ms = now() - t;
    await wal.close();
    return ms;
  };
  await timeOpen(small);
  await timeOpen(big);
  const bigMs: number[] = [];
  const smallMs: number[] = [];
  for (let i = 0; i < P.openRuns; i++) {
    smallMs.push(await timeOpen(small));
    bigMs.push(await timeOpen(big));
  }
  {
    // Check the big one really holds what was written.
    const wal = await Wal.open({ root: big, syncMode: "async" });
    if (wal.nextId("s") !== total) throw new Error(`big stream reopened with nextId ${wal.nextId("s")}, wrote ${total}`);
    await wal.close();
  }
  report(
    "openTime",
    `7. open: ${segs} segments / ${total.toLocaleString("en-US")} entries vs 1 segment / ${P.openPerSegment} entries`,
    "ms",
    median(bigMs),
    median(smallMs),
    { op: "<=", value: 3, on: "ratio" },
    `median of ${P.openRuns}; big stream built in ${(buildMs / 1000).toFixed(1)} s`,
  );
  rm(dir);
}

// 8: memory -------------------------------------------------------------

async function benchMemory(): Promise<void> {
  const dir = freshDir("memory");
  const entries = Array.from({ length: 16 }, (_, i) => bytes(4096, i + 11));
  const chunk = new Uint8Array(16 * 4096);
  for (let i = 0; i < 16; i++) chunk.set(entries[i], i * 4096);
  const total = P.memMiB * 1024 * 1024;
  const batches = Math.ceil(total / chunk.length);
  const rss = () => process.memoryUsage().rss;

  // Ours first, on the process as the earlier figures left it.
  gc();
  await sleep(20);
  const base = rss();
  let peak = base;
  const t = now();
  const wal = await openWal(path.join(dir, "wal"), { syncMode: "async" });
  const ps: Promise<unknown>[] = new Array(16);
  for (let i = 0; i < batches; i += 16) {
    const m = Math.min(16, batches - i);
    ps.length = m;
    for (let j = 0; j < m; j++) ps[j] = wal.appendBatch("s", entries);
    await Promise.all(ps);
    if ((i & 255) === 0) {
      const r = rss();
      if (r > peak) peak = r;
    }
  }
  peak = Math.max(peak, rss());
  const stats = wal.stats();
  await wal.close();
  const secs = (now() - t) / 1000;
  rm(path.join(dir, "wal"));

  gc();
  await sleep(20);
  const bareBase = rss();
  let barePeak = bareBase;
  {
    const fd = fs.openSync(path.join(dir, "bare"), "w");
    let pos = 0;
    for (let i = 0; i < batches; i++) {
      fs.writeSync(fd, chunk, 0, chunk.length, pos);
      pos += chunk.length;
      if ((i & 255) === 0) {
        const r = rss();
        if (r > barePeak) barePeak = r;
      }
    }
    fs.closeSync(fd);
  }
  barePeak = Math.max(barePeak, rss());
  rm(dir);
  const MiB = 1024 * 1024;
  report(
    "memoryGrowth",
    `8. RSS growth appending ${P.memMiB} MiB (async, 16 × 4 KiB batches, 16 in flight)`,
    "MiB",
    (peak - base) / MiB,
    (barePeak - bareBase) / MiB,
    { op: "<", value: 64, on: "ours" },
    `${((batches * chunk.length) / 1e6 / secs).toFixed(0)} MB/s; WAL's own estimate ${(stats.memoryUsageBytes / MiB).toFixed(2)} MiB`,
  );
}

// 9 + 10 ----------------------------------------------------------------

async function benchCodecFigures(): Promise<void> {
  const r = await benchCodecs();
  extras.codecs = r;
  const lz4Note = `ratio ${r.lz4Ratio.toFixed(2)}×; the TS codec alone: ${r.lz4TsCompressMBps.toFixed(0)} / ${r.lz4TsDecompressMBps.toFixed(0)} MB/s`;
  report("lz4Compress", "9. LZ4 compress (frame, JSON-like text)", "MB/s", r.lz4CompressMBps, null, { op: ">=", value: 400, on: "ours" }, lz4Note);
  report("lz4Decompress", "9. LZ4 decompress (frame, JSON-like text)", "MB/s", r.lz4DecompressMBps, null, { op: ">=", value: 1000, on: "ours" }, lz4Note);
  report("deflateCompress", "9. DEFLATE level 1 compress (fflate)", "MB/s", r.deflateMBps, null, null);
  report("deflateDecompress", "9. DEFLATE level 1 decompress (fflate)", "MB/s", r.inflateMBps, null, null);
  benchCrc();
}

/**
 * CRC-32 of 1 MiB: the runtime's own (`zlib.crc32`) against our WebAssembly
 * sparse reduction, and which one `crc32` picked for large spans.
 */
function benchCrc(): void {
  const data = new Uint8Array(1024 * 1024);
  for (let i = 0; i < data.length; i++) data[i] = (i * 2654435761) >>> 24;
  crc32(data); // let `crc32` make its choice first
  const inUse = crc32Implementation();
  const rate = (mode: "on" | "off"): number => {
    const was = setCrc32Sparse(mode);
    let best = 0;
    try {
      for (let r = 0; r < 5; r++) {
        const t = now();
        for (let i = 0; i < 64; i++) crc32(data, i);
        best = Math.max(best, (64 * data.length) / 1e6 / ((now() - t) / 1000));
      }
    } finally {
      setCrc32Sparse(was);
    }
    return best;
  };
  const runtime = rate("off");
  const sparse = rate("on");
  report("crcSparse", "9. CRC-32 of 1 MiB: our WebAssembly sparse reduction, vs the runtime's zlib.crc32", "MB/s", sparse, runtime, null, `in use: ${inUse}`);
}

async function benchShardedIfPresent(): Promise<void> {
  const here = import.meta.url;
  const ext = here.endsWith(".ts") ? ".ts" : ".js";
  const url = new URL("./sharded" + ext, here);
  if (url.protocol === "file:" && !fs.existsSync(fileURLToPath(url))) {
    console.log("10. sharded: bench/sharded.ts not present, skipped");
    return;
  }
  const m = await import(url.href) as { benchSharded?: (dir: string) => unknown };
  if (typeof m.benchSharded !== "function") {
    console.log("10. sharded: bench/sharded has no benchSharded(dir), skipped");
    return;
  }
  const dir = freshDir("sharded");
  try {
    extras.sharded = await m.benchSharded(dir);
  } finally {
    rm(dir);
  }
}

// ------------------------------------------------------------------- main

async function main(): Promise<void> {
  const t0 = now();
  console.log(
    `ironwal bench on ${runtime} ${runtimeVersion} (${quick ? "quick" : "full"} profile), ` +
      `${os.cpus().length} CPUs, tmp ${tmpRoot}`,
  );
  const steps: [string, () => Promise<void>][] = [
    ["strict", benchStrict],
    ["async", benchAsync],
    ["get", benchGet],
    ["iter", benchIter],
    ["open", benchOpen],
    ["memory", benchMemory],
    ["codecs", benchCodecFigures],
    ["sharded", benchShardedIfPresent],
  ];
  const errors: string[] = [];
  for (const [key, fn] of steps) {
    if (key === "strict" ? !(want("latency") || want("concurrent")) : key === "async" ? !(want("async") || want("batch")) : !want(key)) {
      continue;
    }
    const t = now();
    try {
      await fn();
    } catch (e) {
      const msg = `${key}: ${e instanceof Error ? e.stack ?? e.message : String(e)}`;
      errors.push(msg);
      console.log(`ERROR in ${msg}`);
    }
    console.log(`   (${key} took ${((now() - t) / 1000).toFixed(1)} s)`);
  }
  const summary = {
    runtime,
    version: runtimeVersion,
    profile: quick ? "quick" : "full",
    seconds: (now() - t0) / 1000,
    figures,
    extras,
    errors,
  };
  const short = figures.filter((f) => f.pass === false).map((f) => f.key);
  console.log(
    `\n${figures.filter((f) => f.pass === true).length} pass, ${short.length} fall short${short.length ? ` (${short.join(", ")})` : ""}, ` +
      `${errors.length} errors, ${summary.seconds.toFixed(0)} s`,
  );
  console.log("BENCH_JSON " + JSON.stringify(summary));
  if (errors.length > 0) process.exitCode = 1;
}

try {
  await main();
} finally {
  rm(tmpRoot);
}
