#!/usr/bin/env node
// The long crash-torture profile (`npm run torture`): builds npm/, then runs
// the model-based torture of test/_torture.ts (compiled to
// npm/test/_torture.js) in parallel Node processes until at least --crashes
// crash points are verified. Each crash point is a power loss (torn writes)
// followed by a recovery checked against SPEC §5.
//
// Usage: node scripts/torture.mjs [--crashes 100000] [--jobs <cpus>] [--seed 1000000]
//   A failure prints the seed: replay it with
//   IRONWAL_SEED=<seed> node scripts/test.mjs torture
// Env TORTURE_STEPS: steps per seed (default 120).

import { spawn, spawnSync } from "node:child_process";
import { availableParallelism } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const args = process.argv.slice(2);
const opt = (name, def) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? Number(args[i + 1]) : def;
};
const steps = Number(process.env.TORTURE_STEPS || 120);

if (args[0] === "--worker") {
  // Worker: seeds start, start + stride, ... until `target` crash points.
  const [start, stride, target] = args.slice(1, 4).map(Number);
  const { tortureSeed } = await import(pathToFileURL(join(root, "npm", "test", "_torture.js")).href);
  let crashes = 0, seeds = 0, recoveryCrashes = 0, reopens = 0, deferredSeals = 0, deferredCrashes = 0, middleCuts = 0, kills = 0;
  let last = Date.now();
  for (let seed = start; crashes < target; seed += stride) {
    try {
      const r = await tortureSeed(seed, steps);
      crashes += r.crashes;
      recoveryCrashes += r.recoveryCrashes;
      reopens += r.reopens;
      deferredSeals += r.deferredSeals;
      deferredCrashes += r.deferredCrashes;
      middleCuts += r.middleCuts;
      kills += r.kills;
      seeds++;
    } catch (e) {
      process.stdout.write(JSON.stringify({ fail: seed, message: String(e?.message ?? e) }) + "\n");
      process.exit(1);
    }
    if (Date.now() - last > 2000 || crashes >= target) {
      last = Date.now();
      process.stdout.write(JSON.stringify({ crashes, seeds, recoveryCrashes, reopens, deferredSeals, deferredCrashes, middleCuts, kills }) + "\n");
    }
  }
  process.exit(0);
}

const target = opt("crashes", 100_000);
const jobs = opt("jobs", Math.max(1, Math.min(8, availableParallelism())));
const base = opt("seed", 1_000_000);

const b = spawnSync(process.execPath, [join(root, "scripts", "build.mjs")], { stdio: "inherit" });
if (b.status !== 0) process.exit(1);

const t0 = Date.now();
const state = Array.from({ length: jobs }, () => ({ crashes: 0, seeds: 0, recoveryCrashes: 0, reopens: 0, deferredSeals: 0, deferredCrashes: 0, middleCuts: 0, kills: 0 }));
let failed = false;
const sum = (k) => state.reduce((s, x) => s + x[k], 0);
const ticker = setInterval(() => {
  console.log(`torture: ${sum("crashes")} / ${target} crash points, ${sum("seeds")} seeds, ${((Date.now() - t0) / 1000).toFixed(0)} s`);
}, 15_000);
await Promise.all(state.map((st, w) => new Promise((resolve) => {
  const share = Math.ceil(target / jobs);
  const child = spawn(process.execPath, [fileURLToPath(import.meta.url), "--worker", String(base + w), String(jobs), String(share)], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  let buf = "";
  child.stdout.on("data", (d) => {
    buf += d;
    let i;
    while ((i = buf.indexOf("\n")) >= 0) {
      const line = buf.slice(0, i);
      buf = buf.slice(i + 1);
      let m;
      try { m = JSON.parse(line); } catch { console.log(line); continue; }
      if (m.fail !== undefined) {
        failed = true;
        console.log(`torture: FAILED at IRONWAL_SEED=${m.fail}\n${m.message}`);
      } else Object.assign(st, m);
    }
  });
  child.on("close", (code) => {
    if (code !== 0) failed = true;
    resolve();
  });
})));
clearInterval(ticker);
const secs = (Date.now() - t0) / 1000;
console.log(
  `torture: ${failed ? "FAILED" : "ok"}: ${sum("crashes")} crash points verified ` +
    `(+${sum("recoveryCrashes")} crashes inside recovery, ${sum("reopens")} clean reopens; ` +
    `${sum("deferredSeals")} deferred seals, ${sum("deferredCrashes")} crashes with a deferred hint on disk, ` +
    `${sum("middleCuts")} logs cut at a torn middle segment; ${sum("kills")} kill -9 reopens), ` +
    `${sum("seeds")} seeds from ${base}, ${jobs} processes, ${secs.toFixed(1)} s (node ${process.version})`,
);
process.exit(failed ? 1 : 0);
