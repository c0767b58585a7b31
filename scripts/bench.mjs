#!/usr/bin/env node
// `npm run bench`: build (tsc into npm/), then run bench/main on the selected
// runtime(s) one after the other, streaming their output, and finish with a
// table of every figure per runtime (markdown) and the JSON of all runs.
//
// Usage: node scripts/bench.mjs [--runtime node|deno|bun|all] [--quick]
//                               [--mem-mib N] [--only fig,fig] [--json FILE]
//   --runtime R   runtime(s) to run (repeatable or comma-separated; default all)
//   --quick       smaller sizes (about a minute per runtime)
//   --mem-mib N   size of the memory-growth test (default 1024, quick 256)
//   --only K,...  figure keys: latency, concurrent, async, batch, get, iter,
//                 open, memory, codecs, sharded
//   --json FILE   also write the runs' JSON summaries to FILE
// Exit code: 0 when every run finished without errors (figures that fall
// short of their targets are reported, not failures), 1 otherwise.

import { spawn, spawnSync } from "node:child_process";
import { existsSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const bin = (name) => join(root, "node_modules", ".bin", name);
const ALL = ["node", "deno", "bun"];
const TIMEOUT_MS = Number(process.env.BENCH_TIMEOUT_MIN || 20) * 60_000;

function usage(msg) {
  if (msg) console.error(`bench: ${msg}`);
  console.error("usage: node scripts/bench.mjs [--runtime node|deno|bun|all] [--quick] [--mem-mib N] [--only keys] [--json FILE]");
  process.exit(2);
}

const runtimes = [];
const pass = [];
let jsonOut;
{
  const args = process.argv.slice(2);
  const value = (i, a, name) => {
    if (a.startsWith(name + "=")) return [a.slice(name.length + 1), i];
    if (i + 1 >= args.length) usage(`${name} needs a value`);
    return [args[i + 1], i + 1];
  };
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (a === "--runtime" || a.startsWith("--runtime=")) {
      let v;
      [v, i] = value(i, a, "--runtime");
      for (const r of v.split(",")) {
        if (r === "all") runtimes.push(...ALL);
        else if (ALL.includes(r)) runtimes.push(r);
        else usage(`unknown runtime "${r}"`);
      }
    } else if (a === "--quick") pass.push(a);
    else if (a === "--mem-mib" || a.startsWith("--mem-mib=") || a === "--only" || a.startsWith("--only=")) {
      const name = a.startsWith("--mem-mib") ? "--mem-mib" : "--only";
      let v;
      [v, i] = value(i, a, name);
      pass.push(`${name}=${v}`);
    } else if (a === "--json" || a.startsWith("--json=")) [jsonOut, i] = value(i, a, "--json");
    else if (a === "-h" || a === "--help") usage();
    else usage(`unknown argument ${a}`);
  }
}
const selected = [...new Set(runtimes.length ? runtimes : ALL)];

// ------------------------------------------------------------------- build
{
  const r = spawnSync(process.execPath, [join(root, "scripts", "build.mjs")], { cwd: root, stdio: "inherit" });
  if (r.status !== 0) {
    // tsc still emits on type errors; Deno and Bun run the sources anyway.
    if (!existsSync(join(root, "npm", "bench", "main.js"))) {
      console.error("bench: build failed and npm/bench/main.js is missing");
      process.exit(1);
    }
    console.error("bench: WARNING: the build reported errors (above); going on with what tsc emitted");
  }
}

function command(rt) {
  switch (rt) {
    case "node":
      return [process.execPath, ["--expose-gc", join(root, "npm", "bench", "main.js"), ...pass]];
    case "deno":
      return [bin("deno"), ["run", "-A", "--v8-flags=--expose-gc", join(root, "bench", "main.ts"), ...pass]];
    case "bun":
      return [bin("bun"), [join(root, "bench", "main.ts"), ...pass]];
  }
}

function run(rt) {
  return new Promise((resolve) => {
    const [cmd, args] = command(rt);
    if (rt !== "node" && !existsSync(cmd)) {
      console.log(`bench: ${cmd} not found (npm install)`);
      resolve({ rt, code: 1, summary: undefined });
      return;
    }
    console.log(`\n===== ${rt}: ${[cmd, ...args].join(" ")}`);
    const child = spawn(cmd, args, { cwd: root, stdio: ["ignore", "pipe", "inherit"] });
    let out = "";
    let line = "";
    child.stdout.on("data", (chunk) => {
      const s = chunk.toString();
      out += s;
      // Echo everything but the long JSON line.
      line += s;
      const parts = line.split("\n");
      line = parts.pop();
      for (const p of parts) if (!p.startsWith("BENCH_JSON ")) process.stdout.write(p + "\n");
    });
    const timer = setTimeout(() => {
      console.log(`bench: ${rt} timed out after ${TIMEOUT_MS / 60000} min`);
      child.kill("SIGKILL");
    }, TIMEOUT_MS);
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      if (line && !line.startsWith("BENCH_JSON ")) process.stdout.write(line + "\n");
      const m = out.split("\n").find((l) => l.startsWith("BENCH_JSON "));
      let summary;
      try {
        summary = m ? JSON.parse(m.slice("BENCH_JSON ".length)) : undefined;
      } catch {
        summary = undefined;
      }
      resolve({ rt, code: code ?? (signal ? 1 : 0), summary });
    });
  });
}

const results = [];
for (const rt of selected) results.push(await run(rt));

// ------------------------------------------------------------------- table
function fmt(x) {
  if (x === null || x === undefined) return "-";
  if (!Number.isFinite(x)) return String(x);
  const a = Math.abs(x);
  if (a >= 100_000) return Math.round(x).toLocaleString("en-US");
  if (a >= 100) return x.toFixed(0);
  if (a >= 10) return x.toFixed(1);
  if (a >= 1) return x.toFixed(2);
  return x.toFixed(3);
}
function target(t, unit) {
  if (!t) return "-";
  return t.on === "ratio" ? `${t.op} ${t.value}×` : `${t.op} ${t.value} ${unit}`;
}

const done = results.filter((r) => r.summary);
if (done.length > 0) {
  console.log("\n## Results\n");
  for (const r of done) {
    const s = r.summary;
    console.log(`### ${s.runtime} ${s.version} (${s.profile}, ${s.seconds.toFixed(0)} s)\n`);
    console.log("| figure | ours | bare | ratio | target | result |");
    console.log("|---|---:|---:|---:|---|---|");
    for (const f of s.figures) {
      const res = f.pass === null ? "info" : f.pass ? "PASS" : "FALL SHORT";
      console.log(
        `| ${f.name}${f.note ? ` (${f.note})` : ""} | ${fmt(f.ours)} ${f.unit} | ${f.bare === null ? "-" : `${fmt(f.bare)} ${f.unit}`} | ` +
          `${f.ratio === null ? "-" : fmt(f.ratio) + "×"} | ${target(f.target, f.unit)} | ${res} |`,
      );
    }
    if (s.errors.length) console.log(`\nerrors: ${s.errors.join("; ")}`);
    console.log("");
  }
}
if (jsonOut) writeFileSync(jsonOut, JSON.stringify(results.map((r) => r.summary ?? { runtime: r.rt, failed: true }), null, 2) + "\n");
const failed = results.filter((r) => r.code !== 0 || !r.summary).map((r) => r.rt);
console.log(`bench: ${results.length - failed.length} of ${results.length} runtime runs completed${failed.length ? `; failed: ${failed.join(", ")}` : ""}`);
process.exit(failed.length ? 1 : 0);
