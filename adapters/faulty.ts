/**
 * A fault-injecting in-memory {@link WalFs} that simulates power loss, in the
 * spirit of RocksDB's `FaultInjectionTestFS` and LazyFS: it remembers which
 * bytes and which directory entries were made durable and forgets the rest
 * on {@link FaultyFs.crash}. No runtime globals, no `node:` imports.
 *
 * Durability model:
 * - File contents: `datasync()`/`sync()` of a handle make that file's current
 *   bytes and length durable. Nothing else does (not `close`, not `syncDir`).
 * - Directory entries: creating a file or directory, renaming and removing
 *   change the parent directory; the change becomes durable on `syncDir` of
 *   that directory, which records all its current entries. After a crash a
 *   file created in a never-synced directory is gone, an unsynced rename is
 *   undone (the old name comes back and the old target, if any, too) and an
 *   unsynced remove is undone (the file comes back with its durable bytes).
 *   A rename across directories touches both; if only one is synced the file
 *   may show under both names or none, as on a real file system.
 * - A failed sync (an injected fault) makes nothing durable and, like Linux
 *   after a failed fsync (the "fsyncgate" lesson), marks the file clean: the
 *   bytes written before it stay readable until a crash but never become
 *   durable through a later sync.
 *
 * @example
 * ```ts
 * import { FaultyFs } from "./faulty.ts";
 * const fs = new FaultyFs();
 * fs.mkdir("/wal");
 * fs.syncDir("/");
 * const f = fs.open("/wal/a", "create");
 * f.write(new Uint8Array([1, 2, 3]), 0);
 * f.datasync();
 * fs.syncDir("/wal");
 * f.write(new Uint8Array([4]), 3); // never synced
 * fs.crash();
 * console.log(fs.stat("/wal/a")?.size); // 3
 * ```
 *
 * @module
 */

import type { OpenMode, WalDirEntry, WalFile, WalLock, WalMapping, WalStat } from "../src/io.ts";
import { fsError, MemDir, MemInode, type MemNode, MemoryFs, normalizePath } from "./memory.ts";

/** The page size of `torn: "pages"`. */
const PAGE = 4096;

/**
 * The error codes {@link FaultyFs.failAfter} can inject.
 *
 * @example
 * ```ts
 * import type { FaultCode } from "./faulty.ts";
 * const code: FaultCode = "ENOSPC";
 * ```
 */
export type FaultCode = "EIO" | "ENOSPC" | "EMFILE";

/**
 * Which calls a fault matches: `"write"` handle writes; `"sync"` `datasync`,
 * `sync` and `syncDir`; `"open"` every `open`; `"rename"` renames; `"any"`
 * every call of the file system or a handle except `close`.
 *
 * @example
 * ```ts
 * import type { FaultOp } from "./faulty.ts";
 * const op: FaultOp = "sync";
 * ```
 */
export type FaultOp = "write" | "sync" | "open" | "rename" | "any";

/**
 * A fault to inject: the (`count`+1)-th call matching `op` from now throws an
 * `Error` with `code`. One-shot: later calls succeed again.
 *
 * @example
 * ```ts
 * import type { FaultSpec } from "./faulty.ts";
 * const thirdWriteFails: FaultSpec = { op: "write", count: 2, code: "EIO" };
 * ```
 */
export interface FaultSpec {
  /** Which calls count; see {@link FaultOp}. */
  op: FaultOp;
  /** How many matching calls succeed first (0 = the next one fails). */
  count: number;
  /** The POSIX code of the error thrown. */
  code: FaultCode;
}

/**
 * How {@link FaultyFs.crash} treats data that was written but not synced.
 *
 * @example
 * ```ts
 * import { type CrashOptions, seededRng } from "./faulty.ts";
 * const opts: CrashOptions = { torn: "pages", rng: seededRng(7) };
 * ```
 */
export interface CrashOptions {
  /**
   * `"none"` (default): every unsynced byte is lost. `"prefix"`: per file, the
   * most recent unsynced write survives as a random-length prefix (0 to all of
   * its bytes) on top of the durable content; earlier unsynced writes and
   * unsynced truncates are lost. `"pages"`: per file, each 4096-byte page with
   * unsynced changes independently keeps its new bytes or its old durable
   * bytes (zeros past the durable length), and the length is either the
   * durable length or extended to cover the kept pages.
   */
  torn?: "none" | "prefix" | "pages";
  /** Random numbers in [0, 1) for the torn modes; default `Math.random`. Use {@link seededRng} to replay. */
  rng?: () => number;
}

/**
 * Options of {@link FaultyFs}.
 *
 * @example
 * ```ts
 * import { FaultyFs, type FaultyFsOptions } from "./faulty.ts";
 * const opts: FaultyFsOptions = { maxOpenFiles: 8 };
 * const fs = new FaultyFs(opts);
 * ```
 */
export interface FaultyFsOptions {
  /** Opening more handles than this at once throws `EMFILE`. Default: unlimited. */
  maxOpenFiles?: number;
  /** Called after each mutating operation; see {@link FaultyFs.onOp}. */
  onOp?: (op: string, path: string) => void;
}

/**
 * Thrown by every call of a {@link FaultyFs} that is down: the power failed
 * (see {@link FaultyFs.crashAfterOp}) and {@link FaultyFs.crash} has not yet
 * rebooted it. `code` is `"ECRASH"`; `op` and `path` name the call that
 * found the file system down.
 *
 * @example
 * ```ts
 * import { CrashSignal, FaultyFs } from "./faulty.ts";
 * const fs = new FaultyFs();
 * fs.crashAfterOp(0);
 * try {
 *   fs.mkdir("/wal");
 * } catch (e) {
 *   console.log(e instanceof CrashSignal, fs.crashed); // true true
 * }
 * ```
 */
export class CrashSignal extends Error {
  /** Always `"ECRASH"` (not a POSIX code). */
  readonly code: "ECRASH" = "ECRASH";
  /** The operation that was refused. */
  readonly op: string;
  /** The path it was refused on. */
  readonly path: string;

  /** Builds the signal for `op` on `path`. */
  constructor(op: string, path: string) {
    super(`simulated power loss: ${op} '${path}' refused, the file system is down until crash()`);
    this.name = "CrashSignal";
    this.op = op;
    this.path = path;
  }
}

/**
 * A small deterministic random number generator (mulberry32): the same seed
 * gives the same sequence of numbers in [0, 1) on every runtime.
 *
 * @param seed any number; only its low 32 bits are used
 * @returns a function returning the next number of the sequence
 *
 * @example
 * ```ts
 * import { seededRng } from "./faulty.ts";
 * const a = seededRng(42), b = seededRng(42);
 * console.log(a() === b()); // true
 * ```
 */
export function seededRng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** What is durable of one file and what changed since. */
interface FileState {
  /** The durable content and length. */
  durable: MemInode;
  /** Every byte that may differ from `durable` lies in [lo, hi). */
  lo: number;
  hi: number;
  /** The most recent unsynced write (`lastLen` 0: none). */
  lastPos: number;
  lastLen: number;
}

interface Fault {
  op: FaultOp;
  remaining: number;
  code: FaultCode;
}

const SYNC_OPS = new Set(["datasync", "sync", "syncDir"]);

function matches(rule: FaultOp, op: string): boolean {
  if (rule === "any") return op !== "close";
  if (rule === "sync") return SYNC_OPS.has(op);
  if (rule === "open") return op === "open" || op === "create";
  return rule === op;
}

function checkPosition(value: number, syscall: string, path: string): void {
  if (!Number.isSafeInteger(value) || value < 0) throw fsError("EINVAL", syscall, path);
}

/** The durability and fault bookkeeping shared by a FaultyFs and its handles. */
class Disk {
  readonly files: WeakMap<MemInode, FileState> = new WeakMap();
  /** Durable entries of each directory (missing: none durable). */
  readonly dirs: WeakMap<MemDir, Map<string, MemNode>> = new WeakMap();
  readonly owner: FaultyFs;
  faults: Fault[] = [];
  generation = 0;
  openFiles = 0;
  ops = 0;
  crashAt: number | undefined = undefined;
  down = false;

  constructor(owner: FaultyFs) {
    this.owner = owner;
  }

  /**
   * The checks every call goes through, in order: the file system is down;
   * this mutating call is the one to crash at; an injected fault fires.
   * Returns the fault's code (the caller throws it).
   */
  enter(op: string, path: string, mutating: boolean): FaultCode | undefined {
    if (this.down) throw new CrashSignal(op, path);
    if (mutating && this.crashAt === this.ops) {
      this.down = true;
      this.crashAt = undefined;
      throw new CrashSignal(op, path);
    }
    for (let i = 0; i < this.faults.length; i++) {
      const f = this.faults[i];
      if (!matches(f.op, op)) continue;
      if (f.remaining > 0) {
        f.remaining--;
        continue;
      }
      this.faults.splice(i, 1);
      return f.code;
    }
    return undefined;
  }

  /** {@link enter}, throwing the fault. */
  guard(op: string, path: string, mutating: boolean): void {
    const code = this.enter(op, path, mutating);
    if (code !== undefined) throw fsError(code, op, path);
  }

  /** Counts a completed mutating operation and reports it. */
  done(op: string, path: string): void {
    this.ops++;
    this.owner.onOp?.(op, path);
  }

  state(inode: MemInode): FileState {
    let st = this.files.get(inode);
    if (st === undefined) {
      st = { durable: new MemInode(), lo: Infinity, hi: 0, lastPos: 0, lastLen: 0 };
      this.files.set(inode, st);
    }
    return st;
  }

  write(inode: MemInode, buf: Uint8Array, position: number): void {
    if (buf.length === 0) return;
    const st = this.state(inode);
    st.lo = Math.min(st.lo, position, inode.length);
    st.hi = Math.max(st.hi, position + buf.length);
    st.lastPos = position;
    st.lastLen = buf.length;
    inode.write(buf, position);
  }

  truncate(inode: MemInode, length: number): void {
    const st = this.state(inode);
    st.lo = Math.min(st.lo, length, inode.length);
    st.hi = Math.max(st.hi, length);
    if (st.lastPos + st.lastLen > length) st.lastLen = Math.max(0, length - st.lastPos);
    inode.truncate(length);
  }

  /** Makes the file's current bytes and length durable, copying only what changed. */
  sync(inode: MemInode): void {
    const st = this.state(inode);
    const hi = Math.min(st.hi, inode.length);
    if (st.lo < hi) st.durable.write(inode.bytes.subarray(st.lo, hi), st.lo);
    st.durable.truncate(inode.length);
    this.clean(st);
  }

  /** Forgets the unsynced changes without making them durable (a failed fsync). */
  clean(st: FileState): void {
    st.lo = Infinity;
    st.hi = 0;
    st.lastLen = 0;
  }

  /** Sets the file to what survives a crash, per {@link CrashOptions}. */
  recover(inode: MemInode, torn: string, rng: () => number): void {
    const st = this.state(inode);
    const result = st.durable.clone();
    if (torn === "prefix" && st.lastLen > 0) {
      const keep = Math.floor(rng() * (st.lastLen + 1));
      result.write(inode.bytes.subarray(st.lastPos, st.lastPos + keep), st.lastPos);
    } else if (torn === "pages") {
      const end = Math.min(st.hi, inode.length);
      for (let page = Math.floor(st.lo / PAGE); page * PAGE < end; page++) {
        if (rng() >= 0.5) continue;
        const start = page * PAGE;
        result.write(inode.bytes.subarray(start, Math.min(start + PAGE, inode.length)), start);
      }
      if (result.length > st.durable.length && rng() < 0.5) result.truncate(st.durable.length);
    }
    inode.bytes = result.bytes;
    inode.length = result.length;
    st.durable = result.clone();
    this.clean(st);
  }
}

/** A handle of {@link FaultyFs}; invalid after a crash. */
class FaultyHandle implements WalFile {
  private closed = false;
  private readonly disk: Disk;
  private readonly inode: MemInode;
  private readonly path: string;
  private readonly writable: boolean;
  private readonly generation: number;

  constructor(disk: Disk, inode: MemInode, path: string, writable: boolean) {
    this.disk = disk;
    this.inode = inode;
    this.path = path;
    this.writable = writable;
    this.generation = disk.generation;
  }

  read(buf: Uint8Array, position: number): number {
    this.live("read", false);
    checkPosition(position, "read", this.path);
    this.disk.guard("read", this.path, false);
    return this.inode.read(buf, position);
  }

  readInto(buf: Uint8Array, offset: number, length: number, position: number): number {
    return this.read(buf.subarray(offset, offset + length), position);
  }

  /** Checks (and injects faults) now, copies in a microtask. */
  readAsync(buf: Uint8Array, offset: number, length: number, position: number): Promise<number> {
    try {
      this.live("read", false);
      checkPosition(position, "read", this.path);
      this.disk.guard("read", this.path, false);
    } catch (e) {
      return Promise.reject(e);
    }
    return this.inode.readLater(buf, offset, length, position);
  }

  /** An injected `ENOSPC` first writes the first half (rounded down) of `buf`. */
  write(buf: Uint8Array, position: number): void {
    this.live("write", true);
    checkPosition(position, "write", this.path);
    const code = this.disk.enter("write", this.path, true);
    if (code === "ENOSPC") this.disk.write(this.inode, buf.subarray(0, buf.length >> 1), position);
    if (code !== undefined) throw fsError(code, "write", this.path);
    this.disk.write(this.inode, buf, position);
    this.disk.done("write", this.path);
  }

  datasync(): void {
    this.syncAs("datasync");
  }

  /**
   * Checks now; syncs (and injects faults, counts the operation, crashes) in
   * a microtask, as an fdatasync on an I/O thread that holds the descriptor
   * would, even if the handle is closed meanwhile. What it makes durable is
   * the file as it is then, which may include later writes, as a kernel may.
   */
  datasyncAsync(): Promise<void> {
    try {
      this.live("datasync", false);
    } catch (e) {
      return Promise.reject(e);
    }
    return Promise.resolve().then(() => this.syncAs("datasync", true));
  }

  sync(): void {
    this.syncAs("sync");
  }

  truncate(length: number): void {
    this.live("truncate", true);
    checkPosition(length, "truncate", this.path);
    this.disk.guard("truncate", this.path, true);
    this.disk.truncate(this.inode, length);
    this.disk.done("truncate", this.path);
  }

  size(): number {
    this.live("size", false);
    this.disk.guard("size", this.path, false);
    return this.inode.length;
  }

  close(): void {
    this.live("close", false);
    this.closed = true;
    this.disk.openFiles--;
  }

  private syncAs(op: string, running = false): void {
    if (running) {
      // Started before any close: only a crash (or the one that left this handle behind) stops it.
      if (this.disk.down) throw new CrashSignal(op, this.path);
      if (this.generation !== this.disk.generation) throw fsError("EBADF", op, this.path);
    } else {
      this.live(op, false);
    }
    const code = this.disk.enter(op, this.path, true);
    if (code !== undefined) {
      this.disk.clean(this.disk.state(this.inode));
      throw fsError(code, op, this.path);
    }
    this.disk.sync(this.inode);
    this.disk.done(op, this.path);
  }

  private live(op: string, write: boolean): void {
    if (this.disk.down) throw new CrashSignal(op, this.path);
    if (this.closed || this.generation !== this.disk.generation || (write && !this.writable)) {
      throw fsError("EBADF", op, this.path);
    }
  }
}

/**
 * An in-memory {@link WalFs} (the semantics of {@link MemoryFs}) that
 * simulates power loss and injects faults. See the module documentation for
 * the durability model.
 *
 * Operations: every call of the file system or of a handle is an operation
 * named `open`, `create` (an open with mode `"create"`), `read`, `write`,
 * `truncate`, `datasync`, `sync`, `size`, `close`, `readDir`, `stat`, `mkdir`,
 * `rename`, `remove`, `removeDir`, `syncDir`, `lock` or `map`. The mutating
 * ones (`create`, `write`, `truncate`, `datasync`, `sync`, `mkdir`, `rename`,
 * `remove`, `removeDir`, `syncDir`) are counted in {@link opCount}, reported
 * to {@link onOp} and are the crash points of {@link crashAfterOp}.
 *
 * Exhaustive crash testing: run the workload once and read `opCount` (N);
 * then for each k in 0..N run it on a fresh FaultyFs after `crashAfterOp(k)`,
 * call `crash()` when it stops, and check what a reopen sees.
 *
 * @example
 * ```ts
 * import { FaultyFs, seededRng } from "./faulty.ts";
 * function workload(fs: FaultyFs): void {
 *   fs.mkdir("/wal");
 *   fs.syncDir("/");
 *   const f = fs.open("/wal/a", "create");
 *   f.write(new Uint8Array(100), 0);
 *   f.datasync();
 *   fs.syncDir("/wal");
 *   f.close();
 * }
 * const probe = new FaultyFs();
 * workload(probe);
 * for (let k = 0; k <= probe.opCount; k++) {
 *   const fs = new FaultyFs();
 *   fs.crashAfterOp(k);
 *   try {
 *     workload(fs);
 *   } catch (e) {
 *     if (!fs.crashed) throw e;
 *   }
 *   fs.crash({ torn: "prefix", rng: seededRng(k) });
 *   // reopen and verify here: e.g. fs.stat("/wal/a")
 * }
 * ```
 */
export class FaultyFs extends MemoryFs {
  /** `"faulty"`. */
  override readonly name: string = "faulty";
  /** Opening more handles than this at once throws `EMFILE`. */
  maxOpenFiles: number;
  /**
   * Called after each mutating operation succeeds, with its name and
   * normalised path (`"from -> to"` for a rename). It may throw, or call
   * {@link crash}; what it throws reaches the caller of the operation.
   */
  onOp?: (op: string, path: string) => void;
  private readonly disk: Disk = new Disk(this);

  /** A fresh, empty file system whose root `/` exists and is durable. */
  constructor(options: FaultyFsOptions = {}) {
    super();
    this.maxOpenFiles = options.maxOpenFiles ?? Infinity;
    this.onOp = options.onOp;
  }

  /** Mutating operations completed so far (see the class documentation). */
  get opCount(): number {
    return this.disk.ops;
  }

  /** True while the file system is down: after the crash point of {@link crashAfterOp}, until {@link crash}. */
  get crashed(): boolean {
    return this.disk.down;
  }

  /** Handles open now (closed or crash-invalidated ones excluded). */
  get openFiles(): number {
    return this.disk.openFiles;
  }

  /**
   * Arms a fault: the (`count`+1)-th call matching `op` from now throws an
   * `Error` with `code` and does nothing, except that a write failing with
   * `ENOSPC` first writes the first half (rounded down) of its buffer, as a
   * short write on a full disk. A failed sync makes nothing durable (see the
   * module documentation). Several faults may be armed at once.
   */
  failAfter(fault: FaultSpec): void {
    if (!Number.isSafeInteger(fault.count) || fault.count < 0) {
      throw new RangeError(`failAfter: count must be a non-negative integer, got ${fault.count}`);
    }
    this.disk.faults.push({ op: fault.op, remaining: fault.count, code: fault.code });
  }

  /** Disarms every fault armed by {@link failAfter}. */
  clearFaults(): void {
    this.disk.faults = [];
  }

  /**
   * Arms a power failure after `k` more mutating operations: the (k+1)-th
   * is not performed and throws a {@link CrashSignal}, and from then on every
   * call (and every handle) throws `CrashSignal` until {@link crash} reboots
   * the file system. `crashAfterOp(0)` fails the very next mutating call.
   */
  crashAfterOp(k: number): void {
    if (!Number.isSafeInteger(k) || k < 0) {
      throw new RangeError(`crashAfterOp: k must be a non-negative integer, got ${k}`);
    }
    this.disk.crashAt = this.disk.ops + k;
  }

  /**
   * Simulates power loss and reboot: the visible state becomes the durable
   * state (plus torn unsynced data per `options.torn`), every handle opened
   * before becomes invalid (`EBADF`), locks are dropped, and a pending
   * {@link crashAfterOp} is disarmed. Faults armed by {@link failAfter} stay.
   * Deterministic for a given `options.rng` and history of calls.
   */
  crash(options: CrashOptions = {}): void {
    const torn = options.torn ?? "none";
    const rng = options.rng ?? Math.random;
    const disk = this.disk;
    const seen = new Set<MemNode>();
    const visit = (dir: MemDir): void => {
      seen.add(dir);
      dir.entries = new Map(disk.dirs.get(dir));
      for (const node of dir.entries.values()) {
        if (seen.has(node)) continue;
        if (node instanceof MemDir) {
          visit(node);
        } else {
          seen.add(node);
          disk.recover(node, torn, rng);
        }
      }
    };
    visit(this.root);
    disk.generation++;
    disk.openFiles = 0;
    disk.down = false;
    disk.crashAt = undefined;
    this.locks.clear();
  }

  /**
   * Simulates the death of the process (kill -9) without power loss: every
   * handle opened before becomes invalid (`EBADF`) and locks are dropped, but
   * nothing is forgotten: bytes and directory entries written and not yet
   * synced stay visible, and stay not durable, as in the page cache of a
   * machine that keeps running. A later {@link crash} can still lose them.
   * If the file system went down at a {@link crashAfterOp} point, that is
   * where the process died: the operation was not performed, and the file
   * system comes back up.
   */
  kill(): void {
    const disk = this.disk;
    disk.generation++;
    disk.openFiles = 0;
    disk.down = false;
    disk.crashAt = undefined;
    this.locks.clear();
  }

  /**
   * Makes everything durable now, as `sync(2)` would: every file's bytes and
   * every directory's entries. For setting up a test's starting state; not an
   * operation (not counted, never faulted).
   */
  syncAll(): void {
    const visit = (dir: MemDir): void => {
      this.disk.dirs.set(dir, new Map(dir.entries));
      for (const node of dir.entries.values()) {
        if (node instanceof MemDir) visit(node);
        else this.disk.sync(node);
      }
    };
    visit(this.root);
  }

  /** As {@link MemoryFs.open}; also `EMFILE` beyond {@link maxOpenFiles}. */
  override open(path: string, mode: OpenMode): WalFile {
    const p = normalizePath(path);
    const op = mode === "create" ? "create" : "open";
    this.disk.guard(op, p, mode === "create");
    if (this.disk.openFiles >= this.maxOpenFiles) throw fsError("EMFILE", "open", p);
    const inode = this.openInode(p, mode);
    this.disk.openFiles++;
    if (mode === "create") this.disk.done(op, p);
    return new FaultyHandle(this.disk, inode, p, mode !== "read");
  }

  /** As {@link MemoryFs.readDir}. */
  override readDir(path: string): WalDirEntry[] {
    this.disk.guard("readDir", normalizePath(path), false);
    return super.readDir(path);
  }

  /** As {@link MemoryFs.stat}. */
  override stat(path: string): WalStat | undefined {
    this.disk.guard("stat", normalizePath(path), false);
    return super.stat(path);
  }

  /** As {@link MemoryFs.mkdir}; new directories are durable after `syncDir` of their parent. */
  override mkdir(path: string): void {
    this.mutate("mkdir", normalizePath(path), () => super.mkdir(path));
  }

  /** As {@link MemoryFs.rename}; durable after `syncDir` of both parents. */
  override rename(from: string, to: string): void {
    this.mutate(
      "rename",
      `${normalizePath(from)} -> ${normalizePath(to)}`,
      () => super.rename(from, to),
    );
  }

  /** As {@link MemoryFs.remove}; durable after `syncDir` of the parent. */
  override remove(path: string): void {
    this.mutate("remove", normalizePath(path), () => super.remove(path));
  }

  /** As {@link MemoryFs.removeDir}; durable after `syncDir` of the parent. */
  override removeDir(path: string): void {
    this.mutate("removeDir", normalizePath(path), () => super.removeDir(path));
  }

  /** Makes the directory's current entries durable (an injected fault: none). */
  override syncDir(path: string): void {
    this.mutate("syncDir", normalizePath(path), () => {
      const dir = this.dirAt(path, "fsync");
      this.disk.dirs.set(dir, new Map(dir.entries));
    });
  }

  /** As {@link MemoryFs.lock}; a crash drops every lock. */
  override lock(root: string): WalLock {
    this.disk.guard("lock", normalizePath(root), false);
    return super.lock(root);
  }

  /** As {@link MemoryFs.map}: a view of the visible (not necessarily durable) bytes. */
  override map(path: string): WalMapping {
    this.disk.guard("map", normalizePath(path), false);
    return super.map(path);
  }

  private mutate(op: string, path: string, run: () => void): void {
    this.disk.guard(op, path, true);
    run();
    this.disk.done(op, path);
  }
}
