/**
 * The shared {@link WalFs} implementation over `node:fs` synchronous calls,
 * used by the Node, Deno and Bun adapters. Positional `readSync`/`writeSync`
 * are real pread/pwrite on all three runtimes.
 *
 * Errors are the runtime's own errors (they carry a POSIX `code`); the core
 * wraps them. The one exception is {@link WalFs.lock}, which throws a
 * `WalError` with code `LOCKED` when the root is held.
 *
 * @module
 */

import { detachBuffer } from "./_detach.ts";
import { setImmediate } from "node:timers";
import * as fs from "node:fs";
import * as zlib from "node:zlib";
import * as os from "node:os";
import process from "node:process";
import { Buffer } from "node:buffer";
import { createHash, randomUUID } from "node:crypto";
import { WalError } from "../src/errors.ts";
import type {
  OpenMode,
  WalDirEntry,
  WalFile,
  WalFs,
  WalLock,
  WalMapping,
  WalStat,
} from "../src/io.ts";

const OPEN_FLAGS: Record<OpenMode, string> = { read: "r", write: "r+", create: "wx+" };

function ebadf(syscall: string): Error {
  const err = new Error(`EBADF: bad file descriptor, ${syscall} (the handle was closed)`);
  (err as Error & { code: string }).code = "EBADF";
  return err;
}

/** A file handle over a `node:fs` descriptor. */
class NodeFile implements WalFile {
  readonly #fd: number;
  /** Background reads and fdatasyncs still running: the descriptor stays open until they end. */
  #busy = 0;
  #closed = false;

  constructor(fd: number) {
    this.#fd = fd;
  }

  read(buf: Uint8Array, position: number): number {
    return this.readInto(buf, 0, buf.length, position);
  }

  readInto(buf: Uint8Array, offset: number, length: number, position: number): number {
    if (this.#closed) throw ebadf("read");
    let done = 0;
    while (done < length) {
      const n = fs.readSync(this.#fd, buf, offset + done, length - done, position + done);
      if (n === 0) break;
      done += n;
    }
    return done;
  }

  /** `fs.read` on the runtime's I/O threads, looping over short reads. */
  readAsync(buf: Uint8Array, offset: number, length: number, position: number): Promise<number> {
    if (this.#closed) return Promise.reject(ebadf("read"));
    this.#busy++;
    return new Promise((resolve, reject) => {
      let done = 0;
      const more = (err: Error | null, n: number) => {
        if (err !== null) {
          this.#idle();
          return reject(err);
        }
        done += n;
        if (n === 0 || done >= length) {
          this.#idle();
          return resolve(done);
        }
        fs.read(this.#fd, buf, offset + done, length - done, position + done, more);
      };
      fs.read(this.#fd, buf, offset, length, position, more);
    });
  }

  /** `fs.fdatasync` on the runtime's I/O threads. */
  datasyncAsync(): Promise<void> {
    if (this.#closed) return Promise.reject(ebadf("fdatasync"));
    this.#busy++;
    return new Promise((resolve, reject) => {
      fs.fdatasync(this.#fd, (err: Error | null) => {
        this.#idle();
        if (err !== null) reject(err);
        else resolve();
      });
    });
  }

  /** A background operation ended: a close() that came while it ran left the descriptor to the last one. */
  #idle(): void {
    if (--this.#busy === 0 && this.#closed) {
      try {
        fs.closeSync(this.#fd);
      } catch {
        // Nobody to tell: the handle was closed for its owner already.
      }
    }
  }

  write(buf: Uint8Array, position: number): void {
    if (this.#closed) throw ebadf("write");
    let done = 0;
    while (done < buf.length) {
      done += fs.writeSync(this.#fd, buf, done, buf.length - done, position + done);
    }
  }

  datasync(): void {
    if (this.#closed) throw ebadf("fdatasync");
    fs.fdatasyncSync(this.#fd);
  }

  sync(): void {
    if (this.#closed) throw ebadf("fsync");
    fs.fsyncSync(this.#fd);
  }

  truncate(length: number): void {
    if (this.#closed) throw ebadf("ftruncate");
    fs.ftruncateSync(this.#fd, length);
  }

  size(): number {
    if (this.#closed) throw ebadf("fstat");
    return fs.fstatSync(this.#fd).size;
  }

  /**
   * Closes the descriptor, or, while background reads or fdatasyncs run,
   * marks the handle closed and leaves the descriptor to the last of them:
   * the OS reuses descriptor numbers, and a read or sync of a closed one
   * could land on another file.
   */
  close(): void {
    if (this.#closed) throw ebadf("close");
    this.#closed = true;
    if (this.#busy === 0) fs.closeSync(this.#fd);
  }
}

/** Error codes of platforms that refuse to fsync a directory (e.g. Windows). */
const NO_DIR_SYNC = new Set(["EISDIR", "EINVAL", "EPERM"]);

function codeOf(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === "string" ? code : undefined;
}

function syncDir(path: string): void {
  let fd: number;
  try {
    fd = fs.openSync(path, "r");
  } catch (err) {
    if (NO_DIR_SYNC.has(codeOf(err) ?? "")) return;
    throw err;
  }
  try {
    fs.fsyncSync(fd);
  } catch (err) {
    if (!NO_DIR_SYNC.has(codeOf(err) ?? "")) throw err;
  } finally {
    fs.closeSync(fd);
  }
}

function stat(path: string): WalStat | undefined {
  let st: fs.Stats;
  try {
    st = fs.statSync(path);
  } catch (err) {
    const code = codeOf(err);
    if (code === "ENOENT" || code === "ENOTDIR") return undefined;
    throw err;
  }
  return { isFile: st.isFile(), isDirectory: st.isDirectory(), size: st.size };
}

function readDir(path: string): WalDirEntry[] {
  const out: WalDirEntry[] = [];
  for (const d of fs.readdirSync(path, { withFileTypes: true })) {
    let isFile = d.isFile();
    let isDirectory = d.isDirectory();
    if (d.isSymbolicLink()) {
      const st = stat(path + "/" + d.name); // follow the link, as stat() does
      isFile = st?.isFile ?? false;
      isDirectory = st?.isDirectory ?? false;
    }
    out.push({ name: d.name, isFile, isDirectory });
  }
  return out;
}

type Crc32 = (data: Uint8Array, seed?: number) => number;
const zlibCrc32 = (zlib as unknown as { crc32?: Crc32 }).crc32;

/** Options of {@link createNodeFsImpl}. */
export interface NodeFsImplOptions {
  /** Optional read-only whole-file view for sealed files. */
  map?: (path: string) => WalMapping;
}

/**
 * Builds a {@link WalFs} over `node:fs` sync calls, named `name`.
 *
 * @param name the adapter's name ("node", "deno", "bun").
 * @param options an optional `map` implementation.
 * @returns the file system.
 * @example
 * ```ts
 * import { createNodeFsImpl } from "./_node_fs.ts";
 * const fs = createNodeFsImpl("node");
 * console.log(fs.stat("/tmp")?.isDirectory); // true
 * ```
 */
export function createNodeFsImpl(name: string, options: NodeFsImplOptions = {}): WalFs {
  const walFs: WalFs = {
    name,
    open: (path: string, mode: OpenMode): WalFile => {
      const flags = OPEN_FLAGS[mode];
      if (flags === undefined) throw new TypeError(`unknown open mode ${String(mode)}`);
      return new NodeFile(fs.openSync(path, flags, 0o644));
    },
    readDir,
    stat,
    mkdir: (path: string): void => {
      fs.mkdirSync(path, { recursive: true });
    },
    rename: (from: string, to: string): void => fs.renameSync(from, to),
    remove: (path: string): void => fs.unlinkSync(path),
    removeDir: (path: string): void => fs.rmdirSync(path),
    syncDir,
    lock: lockRoot,
    // After this turn's I/O callbacks: appends they make share one group commit.
    defer: (fn: () => void): void => {
      setImmediate(fn);
    },
  };
  if (options.map) walFs.map = options.map;
  walFs.detach = detachBuffer;
  // Uninitialized memory for fresh chunk buffers, as a plain Uint8Array (a
  // Buffer's subarray is slower); allocUnsafeSlow never hands out a pool slice.
  walFs.alloc = (size: number): Uint8Array => new Uint8Array(Buffer.allocUnsafeSlow(size).buffer, 0, size);
  if (typeof zlibCrc32 === "function") {
    // zlib.crc32 returns the unsigned CRC and defaults the seed to 0 on all three runtimes.
    walFs.crc32 = zlibCrc32;
  }
  return walFs;
}

// ---------------------------------------------------------------------------
// The root lock.
//
// `root/LOCK` holds JSON {pid, start, boot, host, token} of its owner. It is
// only ever published complete: written to a private temporary file, fsynced,
// then hard-linked to its name (link fails with EEXIST if the name is taken,
// like O_EXCL). So a LOCK that is empty or garbage was never a live owner's
// half-written file, and can be taken over.
//
// A stale LOCK (dead owner, or unreadable) is removed only by the holder of a
// claim on that exact stale file: `LOCK.<key>.claim<n>`, published the same
// way, where <key> identifies the stale file (content hash + inode). The
// claimer re-reads LOCK and unlinks it only if it is still that stale file;
// nobody else can change LOCK meanwhile (its owner is dead, other claimers of
// the same key are excluded by the claim, creators fail on EEXIST). A claim
// whose owner died is skipped by claiming generation n+1. Then everybody
// races to publish a new LOCK with link; exactly one wins, the rest see a
// live owner and get LOCKED.
// ---------------------------------------------------------------------------

const LOCK_NAME = "LOCK";
const REGISTRY_KEY = Symbol.for("ironwal.locks");
/** How often lock() re-reads and retries before giving up with LOCKED. */
const MAX_ATTEMPTS = 16;
/** How many dead claimers of one stale LOCK are skipped before giving up. */
const MAX_CLAIM_GENERATIONS = 64;

/** What a LOCK file says about its owner. */
interface LockOwner {
  pid: number;
  /** Process start time (Linux: /proc/<pid>/stat field 22), if known. */
  start: string | null;
  /** Boot id (Linux: /proc/sys/kernel/random/boot_id), if known. */
  boot: string | null;
  host: string;
  token: string;
}

/** The process-wide map real root path → token, shared by all module copies. */
function registry(): Map<string, string> {
  const g = globalThis as unknown as Record<symbol, Map<string, string> | undefined>;
  let reg = g[REGISTRY_KEY];
  if (reg === undefined) {
    reg = new Map();
    g[REGISTRY_KEY] = reg;
  }
  return reg;
}

function readText(path: string): string | null {
  try {
    return fs.readFileSync(path, "utf8");
  } catch {
    return null;
  }
}

/** State (field 3) and start time in clock ticks since boot (field 22) of `pid`. */
function procStat(pid: number): { state: string; start: string | null } | null {
  const text = readText(`/proc/${pid}/stat`);
  if (text === null) return null;
  // Field 2 (comm) may hold spaces and parentheses: count from the last ")".
  const rest = text.slice(text.lastIndexOf(")") + 2).split(" ");
  const start = rest[22 - 3];
  return { state: rest[0] ?? "", start: start !== undefined && /^\d+$/.test(start) ? start : null };
}

function processStart(pid: number): string | null {
  return procStat(pid)?.start ?? null;
}

let ownIdentity: Omit<LockOwner, "token"> | undefined;
function me(): Omit<LockOwner, "token"> {
  if (ownIdentity === undefined) {
    let host = "";
    try {
      host = os.hostname();
    } catch {
      // no permission to ask: an empty host still matches our own locks
    }
    const boot = readText("/proc/sys/kernel/random/boot_id")?.trim() || null;
    ownIdentity = { pid: process.pid, start: processStart(process.pid), boot, host };
  }
  return ownIdentity;
}

function parseOwner(bytes: Uint8Array): LockOwner | undefined {
  let v: unknown;
  try {
    v = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes));
  } catch {
    return undefined;
  }
  if (typeof v !== "object" || v === null) return undefined;
  const o = v as Record<string, unknown>;
  const str = (x: unknown): string | null => (typeof x === "string" && x !== "" ? x : null);
  if (!Number.isSafeInteger(o.pid) || (o.pid as number) <= 0) return undefined;
  if (typeof o.host !== "string" || str(o.token) === null) return undefined;
  return {
    pid: o.pid as number,
    start: str(o.start),
    boot: str(o.boot),
    host: o.host,
    token: o.token as string,
  };
}

/** Why a LOCK owner is dead, or `null` if it may be alive. */
function deadReason(owner: LockOwner | undefined): string | null {
  if (owner === undefined) return "the file is empty or unreadable";
  const self = me();
  if (owner.host !== self.host) return null; // cannot see that host's processes
  if (owner.boot !== null && self.boot !== null && owner.boot !== self.boot) {
    return "the machine was rebooted since";
  }
  try {
    process.kill(owner.pid, 0);
  } catch (err) {
    if (codeOf(err) === "ESRCH") return `process ${owner.pid} is gone`;
    if (codeOf(err) !== "EPERM") throw err;
  }
  const st = procStat(owner.pid);
  if (st !== null && (st.state === "Z" || st.state === "X")) {
    return `process ${owner.pid} has exited`; // a zombie not yet reaped by its parent
  }
  if (owner.start !== null && st !== null && st.start !== null && st.start !== owner.start) {
    return `pid ${owner.pid} was reused`;
  }
  return null;
}

/** A file's bytes and identity, or `null` if it is not there. */
interface Snapshot {
  bytes: Uint8Array;
  key: string;
}

function snapshot(path: string): Snapshot | null {
  let fd: number;
  try {
    fd = fs.openSync(path, "r");
  } catch (err) {
    if (codeOf(err) === "ENOENT") return null;
    throw err;
  }
  try {
    const st = fs.fstatSync(fd);
    const chunks: Uint8Array[] = [];
    let total = 0;
    for (;;) {
      const buf = new Uint8Array(4096);
      const n = fs.readSync(fd, buf, 0, buf.length, total);
      if (n === 0 || total > 65536) break;
      chunks.push(buf.subarray(0, n));
      total += n;
    }
    const bytes = new Uint8Array(total);
    let off = 0;
    for (const c of chunks) {
      bytes.set(c, off);
      off += c.length;
    }
    const hash = createHash("sha256").update(bytes).digest("hex").slice(0, 24);
    return { bytes, key: `${hash}-${st.ino}` };
  } finally {
    fs.closeSync(fd);
  }
}

/** Codes of file systems without hard links. */
const NO_LINK = new Set(["EPERM", "ENOTSUP", "EOPNOTSUPP", "ENOSYS"]);

/**
 * Publishes `body` at `target` only if nothing is there: by hard-linking the
 * already-written `tmp`, or, on file systems without hard links, with an
 * O_EXCL create and write (a crash in between leaves a garbage LOCK that the
 * next lock() takes over).
 * @returns false if `target` exists.
 */
function publish(tmp: string, target: string, body: Uint8Array): boolean {
  try {
    fs.linkSync(tmp, target);
    return true;
  } catch (err) {
    const code = codeOf(err);
    if (code === "EEXIST") return false;
    if (code === "ENOENT") {
      // Our temporary file was swept by the new holder of the lock.
      writeDurably(tmp, body);
      return publish(tmp, target, body);
    }
    if (!NO_LINK.has(code ?? "")) throw err;
  }
  try {
    writeDurably(target, body);
    return true;
  } catch (err) {
    if (codeOf(err) === "EEXIST") return false;
    throw err;
  }
}

/** Creates `path` (O_EXCL) holding `body`, fsynced. */
function writeDurably(path: string, body: Uint8Array): void {
  const fd = fs.openSync(path, "wx", 0o644);
  try {
    let done = 0;
    while (done < body.length) done += fs.writeSync(fd, body, done, body.length - done, done);
    fs.fsyncSync(fd);
  } catch (err) {
    fs.closeSync(fd);
    try {
      fs.unlinkSync(path);
    } catch {
      // best effort
    }
    throw err;
  }
  fs.closeSync(fd);
}

function unlinkQuiet(path: string): void {
  try {
    fs.unlinkSync(path);
  } catch (err) {
    if (codeOf(err) !== "ENOENT") throw err;
  }
}

function describeOwner(owner: LockOwner): string {
  const self = me();
  if (owner.pid === self.pid && owner.host === self.host) {
    return `this process (pid ${owner.pid}, from another worker or module instance)`;
  }
  return `process ${owner.pid} on host "${owner.host}"`;
}

function lockedError(root: string, lockPath: string, owner: LockOwner, what: string): WalError {
  return new WalError(
    "LOCKED",
    `WAL root "${root}" is locked: ${what} ${describeOwner(owner)} (lock file ${lockPath}). ` +
      `Close the Wal in that process or wait for it to exit, then retry; if you are certain ` +
      `no process uses this root (e.g. the host "${owner.host}" is down), delete ${lockPath}.`,
  );
}

/**
 * Removes the stale LOCK described by `stale`, unless it changed meanwhile.
 * Throws LOCKED if another live process is already taking it over.
 */
function takeOver(
  root: string,
  lockPath: string,
  stale: Snapshot,
  tmp: string,
  body: Uint8Array,
): void {
  for (let gen = 0; gen < MAX_CLAIM_GENERATIONS; gen++) {
    const claim = `${lockPath}.${stale.key}.claim${gen}`;
    if (!publish(tmp, claim, body)) {
      const other = snapshot(claim);
      if (other === null) continue; // that claimer finished; LOCK will be re-checked
      const owner = parseOwner(other.bytes);
      if (owner !== undefined && deadReason(owner) === null) {
        throw lockedError(root, lockPath, owner, "a stale lock is being taken over by");
      }
      continue; // that claimer died: claim the next generation
    }
    try {
      const now = snapshot(lockPath);
      if (now !== null && now.key === stale.key) unlinkQuiet(lockPath);
    } finally {
      unlinkQuiet(claim);
    }
    return;
  }
  throw new WalError(
    "LOCKED",
    `WAL root "${root}": could not take over the stale lock file ${lockPath} after ` +
      `${MAX_CLAIM_GENERATIONS} attempts; delete ${lockPath} and its "LOCK.*" siblings.`,
  );
}

/** Removes leftovers of crashed lockers (`LOCK.*`), once we hold LOCK. */
function sweep(dir: string): void {
  let names: string[];
  try {
    names = fs.readdirSync(dir);
  } catch {
    return;
  }
  for (const name of names) {
    if (!name.startsWith(LOCK_NAME + ".")) continue;
    try {
      fs.unlinkSync(dir + "/" + name);
    } catch {
      // best effort: someone else's file vanished, or we may not delete it
    }
  }
}

class RootLock implements WalLock {
  #real: string;
  #lockPath: string;
  #token: string;
  #released = false;

  constructor(real: string, lockPath: string, token: string) {
    this.#real = real;
    this.#lockPath = lockPath;
    this.#token = token;
  }

  release(): void {
    if (this.#released) return;
    this.#released = true;
    const reg = registry();
    if (reg.get(this.#real) === this.#token) reg.delete(this.#real);
    const now = snapshot(this.#lockPath);
    if (now === null || parseOwner(now.bytes)?.token !== this.#token) return;
    fs.unlinkSync(this.#lockPath);
    syncDir(this.#real);
  }
}

/** Takes the exclusive lock `root/LOCK`; see the comment above. */
function lockRoot(root: string): WalLock {
  const real = fs.realpathSync(root);
  const reg = registry();
  if (reg.has(real)) {
    throw new WalError(
      "LOCKED",
      `WAL root "${root}" is already locked by this process (pid ${process.pid}): another ` +
        `Wal or ShardedWal is open on it. Close that instance before opening the root again.`,
    );
  }
  const lockPath = real + "/" + LOCK_NAME;
  const token = randomUUID();
  const owner: LockOwner = { ...me(), token };
  const body = new TextEncoder().encode(JSON.stringify(owner) + "\n");
  const tmp = `${lockPath}.${token}.tmp`;
  writeDurably(tmp, body);
  try {
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      if (publish(tmp, lockPath, body)) {
        unlinkQuiet(tmp);
        sweep(real);
        syncDir(real);
        reg.set(real, token);
        return new RootLock(real, lockPath, token);
      }
      const current = snapshot(lockPath);
      if (current === null) continue; // released meanwhile: try again
      const holder = parseOwner(current.bytes);
      if (holder !== undefined && deadReason(holder) === null) {
        throw lockedError(root, lockPath, holder, "it is held by");
      }
      takeOver(root, lockPath, current, tmp, body);
    }
  } finally {
    unlinkQuiet(tmp);
  }
  throw new WalError(
    "LOCKED",
    `WAL root "${root}": the lock file ${lockPath} kept changing over ${MAX_ATTEMPTS} ` +
      `attempts (other processes are opening this root); retry.`,
  );
}
