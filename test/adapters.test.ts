/**
 * Tests of the runtime adapters (adapters/node.ts, deno.ts, bun.ts, default.ts)
 * and their lock. Runs unchanged under `deno test -A`, `bun test` and
 * `node --test` (on the compiled JS).
 */

import { afterEach, beforeEach, describe, it } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import process from "node:process";
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { WalError } from "../src/errors.ts";
import { crc32Range } from "../src/format/crc32.ts";
import type { WalFs } from "../src/io.ts";
import { createNodeFs, nodeFs } from "../adapters/node.ts";
import { denoFs } from "../adapters/deno.ts";
import { bunFs } from "../adapters/bun.ts";
import { defaultFs } from "../adapters/default.ts";

const g = globalThis as { Bun?: unknown; Deno?: unknown };
const runtime = g.Bun !== undefined ? "bun" : g.Deno !== undefined ? "deno" : "node";
const SLOW = { timeout: 60_000 };
const enc = new TextEncoder();
const dec = new TextDecoder();

/** The adapter of this runtime. */
const wfs: WalFs = defaultFs();

let dir = "";
beforeEach(() => {
  dir = fs.mkdtempSync(os.tmpdir() + "/ironwal-adapters-");
});
afterEach(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

function codeOf(err: unknown): unknown {
  return (err as { code?: unknown }).code;
}

/** Asserts that `fn` throws an error whose `code` is `code`. */
function throwsCode(fn: () => unknown, code: string): void {
  assert.throws(fn, (err: unknown) => {
    assert.equal(codeOf(err), code);
    return true;
  });
}

/** Asserts that `fn` throws a WalError with code LOCKED; returns its message. */
function throwsLocked(fn: () => unknown): string {
  let message = "";
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof WalError, `expected a WalError, got ${String(err)}`);
    assert.equal(err.code, "LOCKED");
    message = err.message;
    return true;
  });
  return message;
}

// ---------------------------------------------------------------------------
// Child processes of the running runtime.

const adapterUrl = new URL(
  import.meta.url.endsWith(".ts") ? "../adapters/default.ts" : "../adapters/default.js",
  import.meta.url,
).href;

function evalArgs(code: string): string[] {
  if (runtime === "deno") return ["eval", code];
  if (runtime === "bun") return ["-e", code];
  return ["--input-type=module", "-e", code];
}

/** Spawns a child that runs `code` (an ES module importing `defaultFs`). */
function spawnChild(code: string): ChildProcess {
  const src = `import process from "node:process";\n` +
    `import { defaultFs } from ${JSON.stringify(adapterUrl)};\n${code}`;
  return spawn(process.execPath, evalArgs(src), { stdio: ["ignore", "pipe", "pipe"] });
}

/** Resolves with the child's first line of output, or rejects if it exits first. */
function firstLine(child: ChildProcess): Promise<string> {
  return new Promise((resolve, reject) => {
    let out = "";
    let err = "";
    child.stderr!.on("data", (d) => (err += String(d)));
    child.stdout!.on("data", (d) => {
      out += String(d);
      const nl = out.indexOf("\n");
      if (nl >= 0) resolve(out.slice(0, nl).trim());
    });
    child.on("exit", (code) => reject(new Error(`child exited (${code}) early: ${out} ${err}`)));
  });
}

/**
 * Resolves once the child is gone. Deno emits "exit" after a kill before the
 * kernel has finished the process, so wait for its pid to disappear as well.
 */
async function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode === null && child.signalCode === null) {
    await new Promise<void>((resolve) => child.on("exit", () => resolve()));
  }
  for (let i = 0; i < 1000; i++) {
    try {
      process.kill(child.pid!, 0);
    } catch {
      return;
    }
    let state = "";
    try {
      const stat = fs.readFileSync(`/proc/${child.pid}/stat`, "utf8");
      state = stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3);
    } catch {
      // no /proc
    }
    if (state === "Z") return; // exited, not yet reaped
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  throw new Error(`child ${child.pid} did not exit`);
}

/** The pid of a process that has exited. */
function deadPid(): number {
  const r = spawnSync(process.execPath, ["--version"]);
  assert.equal(typeof r.pid, "number");
  return r.pid as number;
}

function lockNames(): string[] {
  return fs.readdirSync(dir).filter((n) => n === "LOCK" || n.startsWith("LOCK.")).sort();
}

function writeLock(value: unknown): void {
  fs.writeFileSync(dir + "/LOCK", typeof value === "string" ? value : JSON.stringify(value));
}

function lockToken(): string {
  return JSON.parse(fs.readFileSync(dir + "/LOCK", "utf8")).token;
}

// ---------------------------------------------------------------------------

describe("adapters: files", () => {
  it("writes and reads back at explicit positions", () => {
    const f = wfs.open(dir + "/a", "create");
    f.write(enc.encode("hello"), 0);
    f.write(enc.encode("world"), 10); // leaves a hole of zeros
    assert.equal(f.size(), 15);
    const buf = new Uint8Array(15);
    assert.equal(f.read(buf, 0), 15);
    assert.equal(dec.decode(buf.subarray(0, 5)), "hello");
    assert.deepEqual([...buf.subarray(5, 10)], [0, 0, 0, 0, 0]);
    assert.equal(dec.decode(buf.subarray(10)), "world");
    f.write(enc.encode("J"), 0); // overwrite in place
    const one = new Uint8Array(1);
    assert.equal(f.read(one, 0), 1);
    assert.equal(dec.decode(one), "J");
    f.close();
  });

  it("writes a large buffer whole and reads it back", () => {
    const big = new Uint8Array(8 * 1024 * 1024 + 7);
    for (let i = 0; i < big.length; i++) big[i] = (i * 31) & 0xff;
    const f = wfs.open(dir + "/big", "create");
    f.write(big, 3);
    assert.equal(f.size(), big.length + 3);
    const back = new Uint8Array(big.length);
    assert.equal(f.read(back, 3), big.length);
    assert.deepEqual(back, big);
    f.close();
  });

  it("reads short at end of file and zero past it", () => {
    const f = wfs.open(dir + "/s", "create");
    f.write(enc.encode("abcdef"), 0);
    const buf = new Uint8Array(10);
    assert.equal(f.read(buf, 4), 2);
    assert.equal(dec.decode(buf.subarray(0, 2)), "ef");
    assert.equal(f.read(buf, 6), 0);
    assert.equal(f.read(buf, 100), 0);
    f.close();
  });

  it("readInto fills only the asked part of a buffer, short at end of file", () => {
    const f = wfs.open(dir + "/ri", "create");
    f.write(enc.encode("abcdefgh"), 0);
    assert.equal(typeof f.readInto, "function", "the runtime's adapter offers readInto");
    const buf = new Uint8Array(10).fill(0x2e);
    assert.equal(f.readInto!(buf, 3, 4, 2), 4);
    assert.equal(dec.decode(buf), "...cdef...");
    assert.equal(f.readInto!(buf, 0, 5, 6), 2, "short at end of file");
    assert.equal(dec.decode(buf), "gh.cdef...");
    assert.equal(f.readInto!(buf, 9, 1, 8), 0, "nothing at end of file");
    assert.equal(buf[9], 0x2e);
    f.close();
  });

  it("readAsync fills only the asked part of a buffer, short at end of file; closed handles refuse reads", async () => {
    const f = wfs.open(dir + "/ra", "create");
    f.write(enc.encode("abcdefgh"), 0);
    assert.equal(typeof f.readAsync, "function", "the runtime's adapter offers readAsync");
    const buf = new Uint8Array(10).fill(0x2e);
    assert.equal(await f.readAsync!(buf, 3, 4, 2), 4);
    assert.equal(dec.decode(buf), "...cdef...");
    assert.equal(await f.readAsync!(buf, 0, 5, 6), 2, "short at end of file");
    assert.equal(dec.decode(buf), "gh.cdef...");
    assert.equal(await f.readAsync!(buf, 9, 1, 8), 0, "nothing at end of file");
    assert.equal(buf[9], 0x2e);
    // Many at once, each into its own part of one buffer.
    const big = new Uint8Array(1 << 20);
    for (let i = 0; i < big.length; i++) big[i] = (i * 31) >>> 3;
    f.write(big, 0);
    const into = new Uint8Array(big.length);
    const parts = await Promise.all([0, 1, 2, 3].map((k) => f.readAsync!(into, k << 18, 1 << 18, k << 18)));
    assert.deepEqual(parts, [1 << 18, 1 << 18, 1 << 18, 1 << 18]);
    assert.ok(into.every((v, i) => v === big[i]), "every part landed where asked");
    f.close();
    await assert.rejects(f.readAsync!(buf, 0, 1, 0), (e) => codeOf(e) === "EBADF", "readAsync after close");
    assert.throws(() => f.read(buf, 0), (e) => codeOf(e) === "EBADF", "read after close");
    assert.throws(() => f.close(), (e) => codeOf(e) === "EBADF", "a second close");
  });

  it("a close while readAsync runs keeps the descriptor until the read ends, then closes it", async () => {
    // The OS hands a closed descriptor's number to the next open: a read still
    // queued on it would land in that other file.
    const fdCount = (): number => fs.readdirSync("/proc/self/fd").length;
    const linux = fs.existsSync("/proc/self/fd");
    const data = new Uint8Array(4 << 20);
    for (let i = 0; i < data.length; i++) data[i] = (i * 131) >>> 7;
    fs.writeFileSync(dir + "/pending", data);
    fs.writeFileSync(dir + "/other", new Uint8Array(data.length).fill(0xee));
    for (let round = 0; round < 20; round++) {
      const before = linux ? fdCount() : 0;
      const f = wfs.open(dir + "/pending", "read");
      const buf = new Uint8Array(data.length);
      const p = f.readAsync!(buf, 0, buf.length, 0);
      f.close();
      // A file opened now would get the descriptor's number if close() had let it go,
      // and a read not yet started would then return this file's bytes.
      const other = wfs.open(dir + "/other", "read");
      assert.equal(await p, data.length, `round ${round}: the pending read completes`);
      assert.ok(buf.every((v, i) => v === data[i]), `round ${round}: with the file's bytes`);
      other.close();
      if (linux) assert.equal(fdCount(), before, `round ${round}: no descriptor left open`);
    }
  });

  it("datasyncAsync syncs in the background; a close while it runs keeps the descriptor until it ends", async () => {
    const fdCount = (): number => fs.readdirSync("/proc/self/fd").length;
    const linux = fs.existsSync("/proc/self/fd");
    const f0 = wfs.open(dir + "/ds", "create");
    assert.equal(typeof f0.datasyncAsync, "function", "the runtime's adapter offers datasyncAsync");
    f0.write(enc.encode("abc"), 0);
    await f0.datasyncAsync!();
    f0.close();
    await assert.rejects(f0.datasyncAsync!(), (e) => codeOf(e) === "EBADF", "datasyncAsync after close");
    for (let round = 0; round < 20; round++) {
      const before = linux ? fdCount() : 0;
      const f = wfs.open(dir + "/ds", "write");
      f.write(enc.encode(`round ${round}`), 3);
      const p = f.datasyncAsync!();
      f.close();
      await p;
      if (linux) assert.equal(fdCount(), before, `round ${round}: the descriptor is closed once the sync ends`);
    }
    const all = Promise.all([0, 1, 2, 3].map(async (k) => {
      const f = wfs.open(dir + "/ds" + k, "create");
      f.write(new Uint8Array(4096).fill(k), 0);
      await f.datasyncAsync!();
      f.close();
    }));
    await all;
    for (let k = 0; k < 4; k++) assert.equal(wfs.stat(dir + "/ds" + k)?.size, 4096);
  });

  it("truncates, reports size, syncs", () => {
    const f = wfs.open(dir + "/t", "create");
    assert.equal(f.size(), 0);
    f.write(new Uint8Array(1000).fill(7), 0);
    f.datasync();
    f.sync();
    f.truncate(100);
    assert.equal(f.size(), 100);
    f.truncate(300); // extends with zeros
    assert.equal(f.size(), 300);
    const buf = new Uint8Array(300);
    assert.equal(f.read(buf, 0), 300);
    assert.equal(buf[99], 7);
    assert.equal(buf[100], 0);
    f.datasync();
    f.close();
    assert.equal(wfs.stat(dir + "/t")?.size, 300);
  });

  it("opens in each mode with the right errors", () => {
    throwsCode(() => wfs.open(dir + "/missing", "read"), "ENOENT");
    throwsCode(() => wfs.open(dir + "/missing", "write"), "ENOENT");
    const f = wfs.open(dir + "/m", "create");
    f.write(enc.encode("xyz"), 0);
    f.close();
    throwsCode(() => wfs.open(dir + "/m", "create"), "EEXIST");
    const w = wfs.open(dir + "/m", "write"); // does not truncate
    assert.equal(w.size(), 3);
    w.write(enc.encode("Q"), 3);
    w.close();
    const r = wfs.open(dir + "/m", "read");
    const buf = new Uint8Array(4);
    assert.equal(r.read(buf, 0), 4);
    assert.equal(dec.decode(buf), "xyzQ");
    assert.throws(() => r.write(enc.encode("no"), 0)); // read-only handle
    r.close();
  });

  it("fails further calls after close", () => {
    const f = wfs.open(dir + "/c", "create");
    f.close();
    assert.throws(() => f.size());
  });
});

describe("adapters: directories", () => {
  it("lists entries with their types", () => {
    fs.writeFileSync(dir + "/file", "x");
    fs.mkdirSync(dir + "/sub");
    fs.symlinkSync(dir + "/sub", dir + "/link");
    const entries = wfs.readDir(dir).sort((a, b) => a.name.localeCompare(b.name));
    assert.deepEqual(entries, [
      { name: "file", isFile: true, isDirectory: false },
      { name: "link", isFile: false, isDirectory: true },
      { name: "sub", isFile: false, isDirectory: true },
    ]);
    throwsCode(() => wfs.readDir(dir + "/nope"), "ENOENT");
  });

  it("stats files and directories, undefined for missing", () => {
    fs.writeFileSync(dir + "/file", "12345");
    assert.deepEqual(wfs.stat(dir + "/file"), { isFile: true, isDirectory: false, size: 5 });
    const d = wfs.stat(dir);
    assert.equal(d?.isDirectory, true);
    assert.equal(d?.isFile, false);
    assert.equal(wfs.stat(dir + "/missing"), undefined);
    assert.equal(wfs.stat(dir + "/file/below"), undefined); // ENOTDIR
  });

  it("mkdir creates parents and tolerates existing", () => {
    wfs.mkdir(dir + "/a/b/c");
    wfs.mkdir(dir + "/a/b/c");
    assert.equal(wfs.stat(dir + "/a/b/c")?.isDirectory, true);
  });

  it("rename replaces the target", () => {
    fs.writeFileSync(dir + "/from", "new");
    fs.writeFileSync(dir + "/to", "old");
    wfs.rename(dir + "/from", dir + "/to");
    assert.equal(fs.readFileSync(dir + "/to", "utf8"), "new");
    assert.equal(wfs.stat(dir + "/from"), undefined);
    throwsCode(() => wfs.rename(dir + "/from", dir + "/x"), "ENOENT");
  });

  it("removes files and empty directories", () => {
    fs.writeFileSync(dir + "/f", "x");
    fs.mkdirSync(dir + "/d");
    fs.writeFileSync(dir + "/d/inner", "x");
    throwsCode(() => wfs.removeDir(dir + "/d"), "ENOTEMPTY");
    wfs.remove(dir + "/d/inner");
    wfs.removeDir(dir + "/d");
    wfs.remove(dir + "/f");
    assert.deepEqual(fs.readdirSync(dir), []);
    throwsCode(() => wfs.remove(dir + "/f"), "ENOENT");
  });

  it("syncs a directory", () => {
    fs.writeFileSync(dir + "/f", "x");
    wfs.syncDir(dir);
    throwsCode(() => wfs.syncDir(dir + "/missing"), "ENOENT");
  });
});

describe("adapters: runtime", () => {
  it("defaultFs matches the running runtime", () => {
    assert.equal(defaultFs().name, runtime);
    assert.equal(nodeFs.name, "node");
    assert.equal(denoFs.name, "deno");
    assert.equal(bunFs.name, "bun");
    assert.equal(createNodeFs().name, "node");
  });

  it("alloc gives plain Uint8Arrays of the size asked, each over its own memory", () => {
    assert.equal(typeof wfs.alloc, "function");
    for (const n of [0, 1, 4096, 1024 * 1024 + 69632]) {
      const a = wfs.alloc!(n);
      const b = wfs.alloc!(n);
      assert.equal(Object.getPrototypeOf(a), Uint8Array.prototype);
      assert.equal(a.length, n);
      assert.equal(a.byteOffset, 0);
      assert.equal(a.buffer.byteLength, n, "no pool slice: the ArrayBuffer is the array's alone");
      if (n > 0) {
        a.fill(1);
        b.fill(2);
        assert.equal(a[n - 1], 1, "two allocations do not share memory");
      }
    }
  });

  it("crc32 gives the check value and chains with a seed", () => {
    assert.equal(typeof wfs.crc32, "function");
    const crc = wfs.crc32!;
    assert.equal(crc(enc.encode("123456789")), 0xcbf43926);
    assert.equal(crc(enc.encode("56789"), crc(enc.encode("1234"))), 0xcbf43926);
    assert.equal(crc(new Uint8Array(0)), 0);
  });

  it("crc32Range (by table, no view) agrees with the runtime's crc32 on every span and seed", () => {
    const crc = wfs.crc32!;
    const buf = new Uint8Array(300);
    for (let i = 0; i < buf.length; i++) buf[i] = (i * 151 + 7) & 0xff;
    for (const [start, end] of [[0, 0], [0, 1], [3, 31], [4, 32], [5, 300], [17, 18], [0, 300]]) {
      for (const seed of [0, 0xcbf43926, 0xffffffff]) {
        assert.equal(crc32Range(buf, start, end, seed), crc(buf.subarray(start, end), seed), `[${start}, ${end}) seed ${seed}`);
      }
    }
    // A frame's CRC as the reader computes it: header span by table, payload natively.
    assert.equal(crc(buf.subarray(40, 200), crc32Range(buf, 12, 40)), crc(buf.subarray(12, 200)));
  });

  it("map returns the file's bytes on bun, is absent elsewhere", () => {
    if (runtime !== "bun") {
      assert.equal(wfs.map, undefined);
      return;
    }
    const data = enc.encode("sealed segment bytes ".repeat(1000));
    fs.writeFileSync(dir + "/seg", data);
    const m = wfs.map!(dir + "/seg");
    assert.deepEqual(new Uint8Array(m.bytes), data);
    m.close();
    m.close();
    assert.equal(m.bytes.length, 0);
    fs.writeFileSync(dir + "/empty", "");
    const e = wfs.map!(dir + "/empty");
    assert.equal(e.bytes.length, 0);
    e.close();
  });
});

describe("adapters: lock", () => {
  it("refuses a second lock in the same process, across adapter instances", () => {
    const lock = wfs.lock(dir);
    try {
      const msg = throwsLocked(() => wfs.lock(dir));
      assert.match(msg, /already locked by this process/);
      assert.ok(msg.includes(dir));
      throwsLocked(() => createNodeFs().lock(dir));
      throwsLocked(() => wfs.lock(dir + "/./")); // same real path
    } finally {
      lock.release();
    }
  });

  it("writes an owner record, removes it on release, relocks", () => {
    const lock = wfs.lock(dir);
    assert.deepEqual(lockNames(), ["LOCK"]);
    const owner = JSON.parse(fs.readFileSync(dir + "/LOCK", "utf8"));
    assert.equal(owner.pid, process.pid);
    assert.equal(owner.host, os.hostname());
    assert.equal(typeof owner.token, "string");
    if (process.platform === "linux") assert.match(owner.start, /^\d+$/);
    lock.release();
    lock.release(); // idempotent
    assert.deepEqual(lockNames(), []);
    const again = wfs.lock(dir);
    assert.notEqual(lockToken(), owner.token);
    again.release();
    assert.deepEqual(lockNames(), []);
  });

  it("release leaves a LOCK that is no longer ours", () => {
    const lock = wfs.lock(dir);
    writeLock({ pid: 1, start: null, host: "elsewhere", token: "theirs" });
    lock.release();
    assert.equal(lockToken(), "theirs");
    throwsLocked(() => wfs.lock(dir)); // registry cleared: refused by the file
  });

  it("takes over a LOCK whose process is dead", () => {
    writeLock({ pid: deadPid(), start: null, host: os.hostname(), token: "stale" });
    const lock = wfs.lock(dir);
    assert.notEqual(lockToken(), "stale");
    assert.deepEqual(lockNames(), ["LOCK"]);
    lock.release();
    assert.deepEqual(lockNames(), []);
  });

  it("takes over a garbage, truncated or empty LOCK", () => {
    for (const junk of ["garbage{", '{"pid":', "", "\u0000\u0000\u0000", "null", '{"pid":0}']) {
      writeLock(junk);
      const lock = wfs.lock(dir);
      assert.equal(typeof lockToken(), "string");
      lock.release();
      assert.deepEqual(lockNames(), []);
    }
  });

  it("takes over a LOCK whose pid was reused (start time differs)", () => {
    if (!fs.existsSync(`/proc/${process.pid}/stat`)) return; // start times need /proc
    writeLock({ pid: process.pid, start: "1", host: os.hostname(), token: "old" });
    const lock = wfs.lock(dir);
    assert.notEqual(lockToken(), "old");
    lock.release();
  });

  it("refuses a LOCK of a live process, or of another host", () => {
    writeLock({ pid: process.pid, start: null, host: os.hostname(), token: "worker" });
    assert.match(throwsLocked(() => wfs.lock(dir)), /this process/);
    writeLock({ pid: deadPid(), start: null, host: "other-host.example", token: "remote" });
    const msg = throwsLocked(() => wfs.lock(dir));
    assert.match(msg, /other-host\.example/);
    assert.ok(msg.includes(dir + "/LOCK"));
    assert.equal(lockToken(), "remote");
    assert.deepEqual(lockNames(), ["LOCK"]); // no leftovers from the attempt
  });

  it("sweeps leftovers of crashed lockers", () => {
    fs.writeFileSync(dir + "/LOCK.0123-4567.tmp", "");
    fs.writeFileSync(dir + "/LOCK.abc-12.claim0", "{}");
    const lock = wfs.lock(dir);
    assert.deepEqual(lockNames(), ["LOCK"]);
    lock.release();
  });

  it("reports a lock held by another process, and takes it after kill -9", SLOW, async () => {
    const child = spawnChild(
      `defaultFs().lock(${JSON.stringify(dir)}); console.log("locked"); ` +
        `setInterval(() => {}, 1000);`,
    );
    try {
      assert.equal(await firstLine(child), "locked");
      const msg = throwsLocked(() => wfs.lock(dir));
      assert.ok(msg.includes(`process ${child.pid} `), msg);
      assert.ok(msg.includes(dir), msg);
    } finally {
      child.kill("SIGKILL");
      await exited(child);
    }
    const lock = wfs.lock(dir);
    assert.equal(JSON.parse(fs.readFileSync(dir + "/LOCK", "utf8")).pid, process.pid);
    lock.release();
  });

  it("lets exactly one of several racing processes take over a stale LOCK", SLOW, async () => {
    writeLock({ pid: deadPid(), start: null, host: os.hostname(), token: "stale" });
    const start = Date.now() + (runtime === "node" ? 1500 : 3000);
    const code = `const t = ${start}; while (Date.now() < t) {}\n` +
      `let r = "OK"; try { defaultFs().lock(${JSON.stringify(dir)}); }\n` +
      `catch (e) { r = e.code ?? String(e); }\n` +
      `console.log(r); if (r === "OK") setInterval(() => {}, 1000); else process.exit(0);`;
    const children = [0, 1, 2, 3].map(() => spawnChild(code));
    try {
      const results = await Promise.all(children.map(firstLine));
      assert.deepEqual(results.sort(), ["LOCKED", "LOCKED", "LOCKED", "OK"]);
    } finally {
      for (const c of children) c.kill("SIGKILL");
      await Promise.all(children.map(exited));
    }
    const lock = wfs.lock(dir);
    lock.release();
  });
});
