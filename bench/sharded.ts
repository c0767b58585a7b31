/**
 * ShardedWal benchmark: appends/s in "strict" mode with 256 concurrent
 * callers over 1, 4, 16 and 64 shards, as ratios to a single-stream Wal
 * measured in the same run on the same files system; then checkpoint create
 * and load latency with 10 and 1,000 checkpoints stored. About 30-60 s.
 *
 * Run directly: `deno run -A bench/sharded.ts [dir]`, `bun bench/sharded.ts [dir]`,
 * or compiled `node npm/bench/sharded.js [dir]`; `bench/main.ts` calls
 * {@link benchSharded} as its figure 10.
 *
 * @module
 */

import * as nfs from "node:fs";
import * as os from "node:os";
import { ShardedWal, Wal } from "../mod.ts";

const CALLERS = 256;
const ENTRY = 128;

function median(xs: number[]): number {
  const s = xs.slice().sort((a, b) => a - b);
  return s.length === 0 ? NaN : s[s.length >> 1];
}

function quantile(xs: number[], q: number): number {
  const s = xs.slice().sort((a, b) => a - b);
  return s.length === 0 ? NaN : s[Math.min(s.length - 1, Math.floor(q * s.length))];
}

/** Runs `CALLERS` callers, each awaiting `perCaller` appends; returns appends/s. */
async function concurrent(perCaller: number, append: (caller: number, i: number) => Promise<unknown>): Promise<number> {
  const t0 = performance.now();
  await Promise.all(Array.from({ length: CALLERS }, async (_, c) => {
    for (let i = 0; i < perCaller; i++) await append(c, i);
  }));
  return (CALLERS * perCaller) / ((performance.now() - t0) / 1000);
}

/**
 * The ShardedWal benchmark; prints its lines and returns the figures.
 *
 * @param dir an empty directory on the file system to measure (removed by the caller)
 * @returns appends/s per shard count, ratios to a single stream, checkpoint latencies in ms
 *
 * @example
 * ```ts
 * import { benchSharded } from "./sharded.ts";
 * await benchSharded(await Deno.makeTempDir());
 * ```
 */
export async function benchSharded(dir: string): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  const value = new Uint8Array(ENTRY).fill(0x61);
  const deadline = performance.now() + 45_000;
  // Size the runs from a short single-stream warm-up, so a slow disk stays in budget.
  const warm = await Wal.open({ root: `${dir}/warm`, syncMode: "strict" });
  const warmRate = await concurrent(4, () => warm.append("s", value));
  await warm.close();
  const perCaller = Math.max(4, Math.min(400, Math.round(warmRate / CALLERS)));
  console.log(`sharded: strict, ${CALLERS} concurrent callers x ${perCaller} appends of ${ENTRY} B, real files in ${dir}`);

  const runSingle = async (tag: string): Promise<number> => {
    const wal = await Wal.open({ root: `${dir}/single-${tag}`, syncMode: "strict" });
    const rate = await concurrent(perCaller, () => wal.append("s", value));
    await wal.close();
    return rate;
  };
  const single: number[] = [await runSingle("a")];
  console.log(`  single-stream Wal        ${single[0].toFixed(0).padStart(8)} appends/s`);
  for (const shards of [1, 4, 16, 64]) {
    if (performance.now() > deadline - 15_000) {
      console.log(`  ${shards} shards: skipped (time budget)`);
      continue;
    }
    const sw = await ShardedWal.open({ root: `${dir}/sharded-${shards}`, syncMode: "strict" }, shards);
    const keys = Array.from({ length: CALLERS }, (_, c) => Array.from({ length: perCaller }, (_, i) => `user-${c}-${i}`));
    const rate = await concurrent(perCaller, (c, i) => sw.append(keys[c][i], value));
    const fsyncs = sw.stats().fsyncs;
    await sw.close();
    single.push(await runSingle(String(shards)));
    const base = median(single);
    out[`appendsPerSec${shards}`] = rate;
    out[`ratio${shards}`] = rate / base;
    console.log(
      `  ShardedWal ${String(shards).padStart(2)} shards    ${rate.toFixed(0).padStart(8)} appends/s  ` +
        `${(rate / base).toFixed(2)}x single stream (${fsyncs} fsyncs for ${CALLERS * perCaller} appends)`,
    );
  }
  out.singleAppendsPerSec = median(single);

  // Checkpoints: create and load latency with 10 and 1,000 stored.
  const sw = await ShardedWal.open({ root: `${dir}/checkpoints`, syncMode: "strict" }, 16);
  for (let i = 0; i < 1000; i++) await sw.append(`k${i}`, value);
  const create: number[] = [];
  const measureLoads = async (stored: number) => {
    const load: number[] = [];
    const latest: number[] = [];
    for (let i = 0; i < 200; i++) {
      let t = performance.now();
      await sw.loadCheckpoint(`cp-${(i * 7919) % stored}`);
      load.push(performance.now() - t);
      t = performance.now();
      await sw.loadLatestCheckpoint();
      latest.push(performance.now() - t);
    }
    out[`createMs${stored}`] = median(create.slice(-10));
    out[`loadMs${stored}`] = median(load);
    out[`loadLatestMs${stored}`] = median(latest);
    console.log(
      `  ${String(stored).padStart(4)} checkpoints stored: create p50 ${median(create.slice(-10)).toFixed(3)} ms ` +
        `(p99 ${quantile(create, 0.99).toFixed(3)}), load p50 ${median(load).toFixed(4)} ms, ` +
        `loadLatest p50 ${median(latest).toFixed(4)} ms`,
    );
  };
  console.log(`checkpoints: 16 shards, strict, ${dir}/checkpoints`);
  let stored = 0;
  for (; stored < 10; stored++) {
    await sw.append(`k${stored}`, value);
    const t = performance.now();
    await sw.createCheckpoint(`cp-${stored}`);
    create.push(performance.now() - t);
  }
  await measureLoads(10);
  const budget = deadline + 10_000;
  for (; stored < 1000 && performance.now() < budget; stored++) {
    if (stored % 10 === 0) await sw.append(`k${stored}`, value);
    const t = performance.now();
    await sw.createCheckpoint(`cp-${stored}`);
    create.push(performance.now() - t);
  }
  if (stored < 1000) console.log(`  (time budget: stopped at ${stored} checkpoints)`);
  await measureLoads(stored);
  const t = performance.now();
  const c = await sw.compactCheckpoints(10);
  console.log(
    `  compact ${c.checkpointsBefore} -> ${c.checkpointsAfter}: ${(performance.now() - t).toFixed(2)} ms, ${c.bytesReclaimed} bytes reclaimed`,
  );
  await sw.close();
  return out;
}

function runDirectly(): boolean {
  const meta = import.meta as ImportMeta & { main?: boolean };
  if (meta.main === true) return true;
  const argv1 = (globalThis as { process?: { argv?: string[] } }).process?.argv?.[1];
  return argv1 !== undefined && decodeURIComponent(meta.url).endsWith(argv1.replace(/\\/g, "/"));
}

if (runDirectly()) {
  const given = (globalThis as { process?: { argv?: string[] } }).process?.argv?.[2];
  const dir = given ?? nfs.mkdtempSync(os.tmpdir() + "/ironwal-bench-sharded-");
  try {
    await benchSharded(dir);
  } finally {
    if (given === undefined) nfs.rmSync(dir, { recursive: true, force: true });
  }
}
