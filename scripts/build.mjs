#!/usr/bin/env node
// The npm build (plays dnt's role): `tsc -p tsconfig.json` into npm/, then
// rewrite relative `.ts` specifiers in the emitted .d.ts files to `.js`.
// tsc's rewriteRelativeImportExtensions already does this for the .js output;
// declarations keep `./x.ts`, which TS < 5.0 consumers cannot resolve.
// Plain Node ESM, no dependencies. Copies nothing else into npm/.
//
// Usage: node scripts/build.mjs        (exit 0 on success, 1 on any tsc error)

import { spawnSync } from "node:child_process";
import { existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const outDir = join(root, "npm");
const tscBin = join(root, "node_modules", "typescript", "bin", "tsc");

function fail(msg) {
  console.error(`build: ${msg}`);
  process.exit(1);
}

if (!existsSync(tscBin)) fail(`TypeScript not installed (${relative(root, tscBin)} missing); run npm install`);

const t0 = Date.now();
rmSync(outDir, { recursive: true, force: true });

// Run tsc through the current node binary (no shell, works without .bin shims).
const r = spawnSync(process.execPath, [tscBin, "-p", join(root, "tsconfig.json"), "--pretty", "false"], {
  cwd: root,
  encoding: "utf8",
  maxBuffer: 64 * 1024 * 1024,
});
const out = `${r.stdout ?? ""}${r.stderr ?? ""}`.trim();
if (r.error) fail(`could not run tsc: ${r.error.message}`);
if (r.status !== 0 || r.signal) {
  if (out) console.error(out);
  const n = (out.match(/error TS\d+/g) ?? []).length;
  fail(`tsc failed (exit ${r.status ?? r.signal}${n ? `, ${n} error${n === 1 ? "" : "s"}` : ""})`);
}
if (out) console.log(out); // should not happen on success, but never hide tsc output

// Rewrite relative `.ts`/`.mts`/`.cts` specifiers in declarations:
//   from "./x.ts"  |  import("./x.ts")  |  import "./x.ts"  |  /// <reference path="./x.ts" />
// Only specifiers starting with ./ or ../ are touched; `.d.ts` specifiers are left alone.
const spec = /(\bfrom\s*|\bimport\s*\(\s*|\bimport\s+|\brequire\s*\(\s*)(["'])(\.{1,2}\/[^"'\n]*?)(?<!\.d)\.([mc]?)ts\2/g;
const ref = /(\/\/\/\s*<reference\s+path\s*=\s*)(["'])(\.{1,2}\/[^"'\n]*?)(?<!\.d)\.([mc]?)ts\2/g;

function* walk(dir) {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) yield* walk(p);
    else if (e.isFile()) yield p;
  }
}

let files = 0;
let decls = 0;
let rewritten = 0;
if (!existsSync(outDir)) fail("tsc succeeded but emitted nothing into npm/");
for (const file of walk(outDir)) {
  files++;
  if (!/\.d\.[mc]?ts$/.test(file)) continue;
  decls++;
  const src = readFileSync(file, "utf8");
  // Leave comments (JSDoc @example blocks) alone: find comment ranges first,
  // stepping over string literals so that "//" inside a string is no comment.
  const comments = [];
  for (const m of src.matchAll(/"(?:[^"\\\n]|\\.)*"|'(?:[^'\\\n]|\\.)*'|`(?:[^`\\]|\\.)*`|\/\*[\s\S]*?\*\/|\/\/[^\n]*/g)) {
    if (m[0][0] === "/") comments.push([m.index, m.index + m[0].length]);
  }
  const inComment = (at) => comments.some(([a, b]) => at >= a && at < b);
  let changed = 0;
  const next = src
    .replace(spec, (m, pre, q, path, x, at) => inComment(at) ? m : (changed++, `${pre}${q}${path}.${x}js${q}`))
    // a triple-slash reference is a directive even though it looks like a comment
    .replace(ref, (_m, pre, q, path, x) => (changed++, `${pre}${q}${path}.${x}js${q}`));
  if (changed) {
    writeFileSync(file, next);
    rewritten += changed;
  }
}

console.log(
  `build: npm/ ← tsc: ${files} files (${decls} .d.ts, ${rewritten} .ts specifier${rewritten === 1 ? "" : "s"} → .js) in ${Date.now() - t0} ms`,
);
