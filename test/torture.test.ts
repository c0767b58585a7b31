// Crash torture (issue 3 items 2 and 3): model-based random workloads with
// crashes at random operations, and crash-by-exhaustion of a fixed workload
// (after every mutating operation, and after every byte of every write).
// See test/_torture.ts for the model and the contract checked.
//
// Replay a failure: IRONWAL_SEED=<seed> node scripts/test.mjs torture
// Fast profile here (>= 700 crash points per runtime); the long profile is
// `npm run torture` (scripts/torture.mjs).

import { describe, it } from "node:test";
import assert from "node:assert/strict";
import process from "node:process";
import { type CrashOptions, FaultyFs } from "../adapters/faulty.ts";
import { Down, Driver, type DriverOptions, Rand, SYNC_MODES, tortureRun, tortureSeed } from "./_torture.ts";
import type { SyncMode } from "../src/options.ts";

const replay = process.env.IRONWAL_SEED;
const MIN_CRASHES = Number(process.env.TORTURE_MIN_CRASHES ?? 2000);

describe("torture: random workloads, crashes at random points, SPEC §5 checked against a model", () => {
  if (replay !== undefined) {
    it(`replays IRONWAL_SEED=${replay}`, { timeout: 300_000 }, async () => {
      const r = await tortureSeed(Number(replay), Number(process.env.TORTURE_STEPS ?? 120));
      console.log(`torture replay: ${JSON.stringify(r)}`);
    });
    return;
  }
  it(`verifies at least ${MIN_CRASHES} crash points over every sync mode`, { timeout: 300_000 }, async () => {
    const base = Number(process.env.TORTURE_BASE_SEED ?? 1);
    const perMode = new Map<string, number>();
    const deferred = new Map<string, { seals: number; crashes: number }>();
    const res = await tortureRun(base, MIN_CRASHES, 55_000, 120, (s) => {
      perMode.set(s.syncMode, (perMode.get(s.syncMode) ?? 0) + s.crashes);
      const d = deferred.get(s.syncMode) ?? { seals: 0, crashes: 0 };
      d.seals += s.deferredSeals;
      d.crashes += s.deferredCrashes;
      deferred.set(s.syncMode, d);
    });
    console.log(
      `torture: ${res.crashes} crash points verified (+${res.recoveryCrashes} crashes inside recovery), ` +
        `${res.reopens} clean reopens, ${res.appends} entries, ${res.seeds} seeds from ${base}, ${res.ms} ms; ` +
        `per mode ${JSON.stringify(Object.fromEntries(perMode))}; deferred seals ${res.deferredSeals}, ` +
        `crashes with a deferred hint on disk ${res.deferredCrashes}, torn middle segments cut ${res.middleCuts}; ` +
        `${res.kills} kills (kill -9, no power loss) reopened and verified; ` +
        `per mode ${JSON.stringify(Object.fromEntries(deferred))}`,
    );
    assert.ok(res.crashes >= 700, `only ${res.crashes} crash points in the time budget`);
    for (const m of SYNC_MODES) assert.ok((perMode.get(m) ?? 0) > 0, `no crash point in mode ${m}`);
    // Async and interval seeds must exercise deferred seals and the recovery of their unsynced tail.
    for (const m of ["async", "interval"]) {
      const d = deferred.get(m);
      assert.ok(d !== undefined && d.seals > 0 && d.crashes > 0, `mode ${m}: deferred seals and crashes ${JSON.stringify(d)}`);
    }
    for (const m of ["strict", "batch-only"]) assert.equal(deferred.get(m)?.seals ?? 0, 0, `mode ${m} never defers a seal`);
    assert.ok(res.middleCuts > 0, "no crash cut a log at a torn middle segment");
    assert.ok(res.kills > 0, "no kill -9 was reopened");
  });
});

// ------------------------------------------------------------ exhaustion

function fixedOptions(syncMode: SyncMode): DriverOptions {
  return {
    syncMode,
    maxSegmentSize: 256,
    maxEntriesPerSegment: 4,
    maxOpenSegments: 128,
    blockCacheSize: 0,
    syncIntervalMs: 1000,
    compression: "none",
    minCompressionSize: 1024,
    readStrategy: "standard",
  };
}

/** A short fixed workload: appends, a batch, a commit, rotations, a truncate, a reopen, more appends. */
async function workload(d: Driver): Promise<void> {
  const r = new Rand(7);
  const e = (n: number) => {
    const b = new Uint8Array(n);
    for (let i = 0; i < n; i++) b[i] = (r.next() * 256) | 0;
    return b;
  };
  await d.start();
  await Promise.all([d.append("a", e(20)), d.append("a", e(30)), d.append("b", e(10))]);
  d.check();
  await d.appendBatch("a", [e(40), e(5), e(60)]);
  d.check();
  await d.commit("b", [e(8), e(9)]);
  d.check();
  // Rotation: 256-byte segments, 4 entries each.
  await d.append("a", e(90));
  d.check();
  await d.append("a", e(120));
  d.check();
  await d.sync();
  d.check();
  await d.truncate("a", 5);
  await d.reopen("error");
  await Promise.all([d.append("a", e(25)), d.appendBatch("b", [e(3), e(4)])]);
  d.check();
  await d.append("a", e(50));
  d.check();
}

/** Runs the workload on a fresh FaultyFs crashing after op `k` (or at the end), recovers and verifies. */
async function crashRun(mode: SyncMode, k: number | undefined, crash: CrashOptions): Promise<Driver> {
  const d = new Driver(fixedOptions(mode), `exhaustion mode ${mode}, crashAfterOp(${k})`, new FaultyFs());
  if (k !== undefined) d.fs.crashAfterOp(k);
  try {
    await workload(d);
  } catch (e) {
    if (!(e instanceof Down)) throw e;
  }
  await d.recover(new Rand(k ?? 1), 0, crash);
  await d.wal.close();
  return d;
}

describe("crash by exhaustion: a fixed workload crashed after every operation and every byte", () => {
  for (const mode of SYNC_MODES) {
    it(`${mode}: crash after each of the N mutating operations, then after each byte of each write`, { timeout: 300_000 }, async () => {
      const probe = new Driver(fixedOptions(mode), "probe", new FaultyFs());
      const ops: string[] = [];
      const writes: { index: number; len: number }[] = [];
      probe.fs.onOp = (op) => ops.push(op);
      // Write lengths, to tear each write at every byte.
      const origOpen = probe.fs.open.bind(probe.fs);
      probe.fs.open = (path, m) => {
        const f = origOpen(path, m);
        const w = f.write.bind(f);
        f.write = (buf, pos) => {
          writes.push({ index: probe.fs.opCount, len: buf.length });
          w(buf, pos);
        };
        return f;
      };
      await workload(probe);
      await probe.wal.close();
      const n = ops.length;
      assert.ok(n > 30, `workload has only ${n} operations`);
      let points = 0;
      for (let k = 0; k <= n; k++) {
        await crashRun(mode, k, { torn: "none" });
        points++;
      }
      // Tear each write at every length: crash after the write (the next op is refused), keep a prefix of `keep` bytes.
      for (const w of writes) {
        for (let keep = 0; keep <= w.len; keep++) {
          const frac = (keep + 0.5) / (w.len + 1);
          await crashRun(mode, w.index + 1, { torn: "prefix", rng: () => frac });
          points++;
        }
      }
      // The very end: nothing armed, power cut after the last append.
      for (const torn of ["none", "prefix", "pages"] as const) {
        await crashRun(mode, undefined, { torn, rng: new Rand(3).next });
        points++;
      }
      console.log(`exhaustion ${mode}: ${n} operations, ${writes.length} writes, ${points} crash points verified`);
    });
  }
});
