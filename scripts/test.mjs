#!/usr/bin/env node
// The one test command (`npm test`): build, then run the node:test suite under
// Deno, Bun and Node (compiled output), streaming each runtime's output live,
// and finish with exactly one line `N passed, M failed` summed over all three.
//
// Usage: node scripts/test.mjs [--only deno|bun|node]... [file substrings...]
//   --only R        run only runtime R (repeatable, or comma-separated)
//   substrings      run only test files whose path (e.g. test/smoke.test.ts)
//                   contains one of them; passed to Deno/Bun as paths, mapped
//                   to the compiled npm/test/**/*.test.js files for Node
// Env: TEST_TIMEOUT_MIN (per runtime, default 15), TEST_NODE_CONCURRENCY (default 1)
//
// How a runtime's counts are read (the last closing line in its output wins):
//   deno  `ok | N passed (S steps) | M failed (F steps)` or `FAILED | …`:
//         N and M count tests (a top-level describe() is one test; its it()s
//         are steps and are not counted); steps are shown but not summed
//   bun   ` N pass` and ` M fail` lines (leaf tests)
//   node  TAP `# pass N`, `# fail M`, `# cancelled C` (failed = M + C)
// A build (tsc) error counts as 1 failed; Node still runs what tsc emitted.
// A runtime counts as failed if it exits non-zero, is killed by the timeout,
// reports 0 tests, or prints no parsable closing line. When that happens
// without any failed test in its counts, 1 is added to its failed count (and
// said so), so `M failed` is 0 exactly when the exit code is 0.

import { spawn } from "node:child_process";
import { existsSync, readdirSync } from "node:fs";
import { basename, dirname, join, relative, sep } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const bin = (name) => join(root, "node_modules", ".bin", name);
const RUNTIMES = ["deno", "bun", "node"];
const TIMEOUT_MS = Number(process.env.TEST_TIMEOUT_MIN || 15) * 60_000;
const NODE_CONCURRENCY = Number(process.env.TEST_NODE_CONCURRENCY || 1);

// ---------------------------------------------------------------- arguments
function usage(msg) {
  if (msg) console.error(`test: ${msg}`);
  console.error("usage: node scripts/test.mjs [--only deno|bun|node]... [file substrings...]");
  process.exit(2);
}
const only = new Set();
const filters = [];
{
  const args = process.argv.slice(2);
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (a === "--only" || a.startsWith("--only=")) {
      const v = a === "--only" ? args[++i] : a.slice("--only=".length);
      if (!v) usage("--only needs a runtime");
      for (const r of v.split(",")) {
        if (!RUNTIMES.includes(r)) usage(`unknown runtime "${r}"`);
        only.add(r);
      }
    } else if (a === "-h" || a === "--help") usage();
    else if (a === "--") filters.push(...args.slice(i + 1)), (i = args.length);
    else if (a.startsWith("-")) usage(`unknown option ${a}`);
    else filters.push(a);
  }
}
const selected = RUNTIMES.filter((r) => only.size === 0 || only.has(r));

// ---------------------------------------------------------------- test files
const posix = (p) => p.split(sep).join("/");
function listFiles(dir, re) {
  const out = [];
  if (!existsSync(dir)) return out;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...listFiles(p, re));
    else if (re.test(e.name)) out.push(posix(relative(root, p)));
  }
  return out.sort();
}
// The suite's files are test/**/*.test.ts; Node runs their compiled twins.
const sourceTests = listFiles(join(root, "test"), /\.test\.ts$/);
const matches = (f) => filters.length === 0 || filters.some((s) => f.includes(s));
const chosen = sourceTests.filter(matches);
if (filters.length && chosen.length === 0) {
  usage(`no test file under test/ matches ${filters.map((f) => JSON.stringify(f)).join(", ")}` +
    ` (have: ${sourceTests.join(", ") || "none"})`);
}
// Files Deno or Bun would discover by their own rules but Node would not run.
const strays = listFiles(join(root, "test"), /(^|[._])(test|spec)\.[cm]?[jt]sx?$/)
  .filter((f) => !f.endsWith(".test.ts"));
if (strays.length) {
  console.log(`test: warning: ${strays.join(", ")} may run under Deno/Bun but not Node; name test files *.test.ts`);
}

// ---------------------------------------------------------------- running
// deno-lint-ignore no-control-regex -- ANSI colour codes start with ESC
const strip = (s) => s.replace(/\x1b\[[0-9;?]*[A-Za-z]/g, "").replace(/\r/g, "");
let current = null; // the running child, killed on timeout or our own SIGINT/SIGTERM

function killGroup(child, signal) {
  try {
    process.kill(-child.pid, signal); // detached: the child leads its own process group
  } catch {
    try { child.kill(signal); } catch { /* already gone */ }
  }
}

/** Runs cmd with stdout+stderr merged (in order) to our stdout; resolves with the output. */
function run(label, cmd, args, { timeoutMs = TIMEOUT_MS, env = {} } = {}) {
  return new Promise((resolve) => {
    const t0 = Date.now();
    const shown = cmd.startsWith(root) ? relative(root, cmd) : basename(cmd);
    console.log(`\n===== ${label}: ${[shown, ...args].join(" ")}`);
    // `sh -c 'exec "$@" 2>&1'` gives the child one pipe for both streams, so
    // the captured text keeps the order the runtime wrote it in.
    const child = spawn("/bin/sh", ["-c", 'exec "$@" 2>&1', "sh", cmd, ...args], {
      cwd: root,
      env: { ...process.env, ...env },
      stdio: ["ignore", "pipe", "inherit"],
      detached: true,
    });
    current = child;
    let out = "";
    let timedOut = false;
    let settled = false;
    child.stdout.on("data", (b) => {
      process.stdout.write(b);
      out += b.toString("utf8");
    });
    const timer = setTimeout(() => {
      timedOut = true;
      console.log(`\n===== ${label}: timeout after ${Math.round(timeoutMs / 1000)} s, killing it`);
      killGroup(child, "SIGTERM");
      setTimeout(() => killGroup(child, "SIGKILL"), 5000).unref();
    }, timeoutMs);
    const finish = (code, signal, error) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      current = null;
      // anything the runtime left behind in its group (spawned by tests) goes too
      killGroup(child, "SIGKILL");
      resolve({ out, code, signal, error, timedOut, ms: Date.now() - t0 });
    };
    child.on("error", (e) => finish(null, null, e));
    // 'close' comes once the child exited and the pipe drained; a grandchild
    // (spawned by a test) still holding the pipe must not keep us waiting.
    child.on("close", (code, signal) => finish(code, signal));
    child.on("exit", (code, signal) => {
      setTimeout(() => { child.stdout.destroy(); finish(code, signal); }, 2000).unref();
    });
  });
}
for (const sig of ["SIGINT", "SIGTERM"]) {
  process.on(sig, () => {
    if (current) killGroup(current, "SIGKILL");
    console.log(`\ntest: interrupted by ${sig}`);
    process.exit(130);
  });
}

// ---------------------------------------------------------------- parsing
const lastMatch = (text, re) => {
  let m = null;
  for (const x of text.matchAll(re)) m = x;
  return m;
};
const PARSERS = {
  deno(text) {
    const m = lastMatch(text,
      /^(ok|FAILED) \| (\d+) passed(?: \((\d+) steps?\))? \| (\d+) failed(?: \((\d+) steps?\))?(?: \| (\d+) ignored(?: \((\d+) steps?\))?)?/gm);
    if (!m) return null;
    const steps = Number(m[3] ?? 0) + Number(m[5] ?? 0);
    return {
      passed: Number(m[2]), failed: Number(m[4]), skipped: Number(m[6] ?? 0),
      note: steps ? `steps not counted: ${m[3] ?? 0} passed, ${m[5] ?? 0} failed` : "",
    };
  },
  bun(text) {
    const p = lastMatch(text, /^\s*(\d+) pass\s*$/gm);
    const f = lastMatch(text, /^\s*(\d+) fail\s*$/gm);
    if (!p || !f) return null;
    const skip = lastMatch(text, /^\s*(\d+) skip\s*$/gm);
    const todo = lastMatch(text, /^\s*(\d+) todo\s*$/gm);
    return { passed: Number(p[1]), failed: Number(f[1]), skipped: Number(skip?.[1] ?? 0) + Number(todo?.[1] ?? 0), note: "" };
  },
  node(text) {
    const get = (k) => lastMatch(text, new RegExp(`^# ${k} (\\d+)\\s*$`, "gm"));
    const p = get("pass");
    const f = get("fail");
    if (!p || !f) return null;
    const c = Number(get("cancelled")?.[1] ?? 0);
    return {
      passed: Number(p[1]), failed: Number(f[1]) + c,
      skipped: Number(get("skipped")?.[1] ?? 0) + Number(get("todo")?.[1] ?? 0),
      note: c ? `${c} cancelled counted as failed` : "",
    };
  },
};

/** Turns a run into { passed, failed, ok, line }. */
function judge(name, res, parsed) {
  const problems = [];
  if (res.error) problems.push(`could not start: ${res.error.message}`);
  if (res.timedOut) problems.push(`killed by the ${(TIMEOUT_MS / 1000).toFixed(0)} s timeout`);
  else if (res.signal) problems.push(`killed by ${res.signal}`);
  else if (res.code !== 0 && res.code !== null) problems.push(`exit code ${res.code}`);
  let passed = 0;
  let failed = 0;
  let extra = "";
  if (!parsed) problems.push("output could not be parsed (no closing counts)");
  else {
    ({ passed, failed } = parsed);
    if (passed + failed === 0) problems.push("reported 0 tests");
    if (parsed.skipped) extra += `, ${parsed.skipped} skipped`;
    if (parsed.note) extra += ` (${parsed.note})`;
  }
  if (problems.length && failed === 0) {
    failed = 1;
    problems.push("counted as 1 failed");
  }
  const ok = problems.length === 0 && failed === 0;
  const line = `${name.padEnd(5)} ${ok ? "ok  " : "FAIL"}  ${passed} passed, ${failed} failed${extra}` +
    `  [${(res.ms / 1000).toFixed(1)} s]${problems.length ? `  — ${problems.join("; ")}` : ""}`;
  return { passed, failed, ok, line };
}

// ---------------------------------------------------------------- main
const t0 = Date.now();
const results = [];

// A failed build counts as 1 failed; tsc still emits, so Node runs whatever compiled.
const build = await run("build", process.execPath, [join("scripts", "build.mjs")]);
const buildOk = build.code === 0 && !build.timedOut;
results.push({
  passed: 0, failed: buildOk ? 0 : 1, ok: buildOk,
  line: `build ${buildOk ? "ok  " : "FAIL"}  [${(build.ms / 1000).toFixed(1)} s]${buildOk ? "" : "  — tsc errors above; counted as 1 failed"}`,
});

const commands = {
  deno: () => [bin("deno"), ["test", "-A", ...(filters.length ? chosen : [])]],
  // Bun treats bare words as name filters; ./paths are paths.
  // Bun's default per-test timeout is 5 s; the crash-torture and kill -9 suites run longer
  // (node:test's own per-test timeouts still apply on every runtime).
  bun: () => [bin("bun"), ["test", "--timeout", "600000", ...(filters.length ? chosen.map((f) => `./${f}`) : [])]],
  node: () => {
    const compiled = listFiles(join(root, "npm", "test"), /\.test\.js$/)
      .filter((f) => chosen.includes(f.replace(/^npm\//, "").replace(/\.js$/, ".ts")));
    return [process.execPath, [
      "--test", `--test-concurrency=${NODE_CONCURRENCY}`, "--test-reporter=tap", ...compiled,
    ], compiled.length];
  },
};

for (const name of selected) {
  const notRun = (why) =>
    results.push({ passed: 0, failed: 1, ok: false,
      line: `${name.padEnd(5)} FAIL  0 passed, 1 failed  — not run: ${why}; counted as 1 failed` });
  const [cmd, args, count] = commands[name]();
  if (count === 0) { notRun("no compiled npm/test/**/*.test.js matches"); continue; }
  if (cmd !== process.execPath && !existsSync(cmd)) { notRun(`${relative(root, cmd)} missing (run npm install)`); continue; }
  const res = await run(name, cmd, args, { env: name === "deno" ? { DENO_NO_UPDATE_CHECK: "1" } : {} });
  results.push(judge(name, res, PARSERS[name](strip(res.out))));
}

const passed = results.reduce((s, r) => s + r.passed, 0);
const failed = results.reduce((s, r) => s + r.failed, 0);
const allOk = results.every((r) => r.ok);
console.log(`\n===== summary (${((Date.now() - t0) / 1000).toFixed(1)} s${filters.length ? `; files: ${chosen.join(", ")}` : ""})`);
for (const r of results) console.log(r.line);
console.log(`${passed} passed, ${failed} failed`);
process.exit(allOk ? 0 : 1);
