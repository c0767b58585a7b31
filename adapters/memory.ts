/**
 * An in-memory {@link WalFs}: a real directory tree, growable files and
 * positional I/O, with no runtime globals and no `node:` imports, so it runs
 * anywhere. Use it for fast tests and as the base of {@link FaultyFs} in
 * `./faulty.ts`.
 *
 * @example
 * ```ts
 * import { MemoryFs } from "./memory.ts";
 * const fs = new MemoryFs();
 * fs.mkdir("/wal/logs");
 * const f = fs.open("/wal/logs/a.wal", "create");
 * f.write(new TextEncoder().encode("hello"), 0);
 * f.close();
 * console.log(fs.stat("/wal/logs/a.wal")?.size); // 5
 * ```
 *
 * @module
 */

import { detachBuffer } from "./_detach.ts";
import type {
  OpenMode,
  WalDirEntry,
  WalFile,
  WalFs,
  WalLock,
  WalMapping,
  WalStat,
} from "../src/io.ts";
import { WalError } from "../src/errors.ts";

/**
 * Builds an `Error` with a POSIX `code`, the failing call and the path, in the
 * shape of Node's system errors (`code`, `syscall`, `path`).
 *
 * @param code a POSIX error code such as `"ENOENT"`
 * @param syscall the operation that failed, e.g. `"open"`
 * @param path the path it failed on
 * @returns the error, ready to throw
 *
 * @example
 * ```ts
 * import { fsError } from "./memory.ts";
 * const e = fsError("ENOENT", "open", "/wal/x");
 * console.log(e.code, e.message); // ENOENT ENOENT: no such file or directory, open '/wal/x'
 * ```
 */
export function fsError(
  code: string,
  syscall: string,
  path: string,
): Error & { code: string; syscall: string; path: string } {
  const what = DESCRIPTIONS[code] ?? "error";
  const err = new Error(`${code}: ${what}, ${syscall} '${path}'`);
  return Object.assign(err, { code, syscall, path });
}

const DESCRIPTIONS: Record<string, string> = {
  ENOENT: "no such file or directory",
  EEXIST: "file already exists",
  ENOTDIR: "not a directory",
  EISDIR: "illegal operation on a directory",
  ENOTEMPTY: "directory not empty",
  EBADF: "bad file descriptor",
  EINVAL: "invalid argument",
  EBUSY: "resource busy or locked",
  EIO: "i/o error",
  ENOSPC: "no space left on device",
  EMFILE: "too many open files",
};

/**
 * The storage of one in-memory file (an inode): a byte buffer that grows by
 * doubling, so appends cost O(bytes written) amortised. Bytes past `length`
 * are always zero. Internal building block of {@link MemoryFs} and `FaultyFs`;
 * not needed to use either.
 *
 * @example
 * ```ts
 * import { MemInode } from "./memory.ts";
 * const f = new MemInode();
 * f.write(new Uint8Array([1, 2]), 4); // zero-fills 0..4
 * console.log(f.length, f.view()); // 6 Uint8Array [0, 0, 0, 0, 1, 2]
 * ```
 */
export class MemInode {
  /** The buffer; its first `length` bytes are the file, the rest are zero. */
  bytes: Uint8Array = new Uint8Array(0);
  /** The file's length in bytes. */
  length: number = 0;

  /** Copies up to `buf.length` bytes at `position` into `buf`; returns the count. */
  read(buf: Uint8Array, position: number): number {
    if (position >= this.length) return 0;
    const n = Math.min(buf.length, this.length - position);
    buf.set(this.bytes.subarray(position, position + n));
    return n;
  }

  /**
   * {@link read} of `length` bytes into `buf` from `offset`, in a microtask:
   * the background read of the handles' `readAsync`, which (like a kernel
   * read holding its descriptor) goes on if the handle is closed meanwhile.
   */
  readLater(buf: Uint8Array, offset: number, length: number, position: number): Promise<number> {
    return Promise.resolve().then(() => this.read(buf.subarray(offset, offset + length), position));
  }

  /** Writes all of `buf` at `position`, growing the file (the gap reads as zeros); empty writes do nothing. */
  write(buf: Uint8Array, position: number): void {
    if (buf.length === 0) return;
    const end = position + buf.length;
    this.reserve(end);
    this.bytes.set(buf, position);
    if (end > this.length) this.length = end;
  }

  /** Sets the length: shrinking zeroes the cut bytes, growing reads as zeros. */
  truncate(length: number): void {
    if (length < this.length) this.bytes.fill(0, length, this.length);
    else this.reserve(length);
    this.length = length;
  }

  /** The file's bytes, without a copy (valid until the buffer grows). */
  view(): Uint8Array {
    return this.bytes.subarray(0, this.length);
  }

  /** An independent copy. */
  clone(): MemInode {
    const c = new MemInode();
    c.bytes = this.bytes.slice(0, this.length);
    c.length = this.length;
    return c;
  }

  private reserve(capacity: number): void {
    if (capacity <= this.bytes.length) return;
    const grown = new Uint8Array(Math.max(capacity, this.bytes.length * 2, 64));
    grown.set(this.bytes.subarray(0, this.length));
    this.bytes = grown;
  }
}

/**
 * One in-memory directory: a map from entry name to file or directory.
 * Internal building block of {@link MemoryFs} and `FaultyFs`.
 *
 * @example
 * ```ts
 * import { MemDir, MemInode } from "./memory.ts";
 * const d = new MemDir();
 * d.entries.set("a.wal", new MemInode());
 * console.log([...d.entries.keys()]); // ["a.wal"]
 * ```
 */
export class MemDir {
  /** The entries, by name, in creation order. */
  entries: Map<string, MemNode> = new Map();
}

/**
 * A node of the in-memory tree: a file or a directory.
 *
 * @example
 * ```ts
 * import { MemDir, type MemNode } from "./memory.ts";
 * const n: MemNode = new MemDir();
 * console.log(n instanceof MemDir); // true
 * ```
 */
export type MemNode = MemInode | MemDir;

/**
 * Splits a path into its normalised parts: `\` and `/` both separate, empty
 * parts and `.` are dropped, `..` goes up (never above the root). Relative
 * paths are taken from the root, so `"wal"`, `"./wal"` and `"/wal/"` are the
 * same directory.
 */
function splitPath(path: string): string[] {
  const out: string[] = [];
  for (const part of path.split(/[\\/]/)) {
    if (part === "" || part === ".") continue;
    if (part === "..") out.pop();
    else out.push(part);
  }
  return out;
}

function checkPosition(value: number, syscall: string, path: string): void {
  if (!Number.isSafeInteger(value) || value < 0) throw fsError("EINVAL", syscall, path);
}

/** A handle of {@link MemoryFs}. */
class MemHandle implements WalFile {
  private closed = false;
  private readonly inode: MemInode;
  private readonly path: string;
  private readonly writable: boolean;

  constructor(inode: MemInode, path: string, writable: boolean) {
    this.inode = inode;
    this.path = path;
    this.writable = writable;
  }

  read(buf: Uint8Array, position: number): number {
    this.check("read");
    checkPosition(position, "read", this.path);
    return this.inode.read(buf, position);
  }

  readInto(buf: Uint8Array, offset: number, length: number, position: number): number {
    return this.read(buf.subarray(offset, offset + length), position);
  }

  /** Checks now, copies in a microtask (from the file, even if the handle was closed since). */
  readAsync(buf: Uint8Array, offset: number, length: number, position: number): Promise<number> {
    try {
      this.check("read");
      checkPosition(position, "read", this.path);
    } catch (e) {
      return Promise.reject(e);
    }
    return this.inode.readLater(buf, offset, length, position);
  }

  write(buf: Uint8Array, position: number): void {
    this.check("write", true);
    checkPosition(position, "write", this.path);
    this.inode.write(buf, position);
  }

  datasync(): void {
    this.check("fdatasync");
  }

  /** Checks now, settles in a microtask (a no-op, as {@link datasync} is). */
  datasyncAsync(): Promise<void> {
    try {
      this.check("fdatasync");
    } catch (e) {
      return Promise.reject(e);
    }
    return Promise.resolve();
  }

  sync(): void {
    this.check("fsync");
  }

  truncate(length: number): void {
    this.check("ftruncate", true);
    checkPosition(length, "ftruncate", this.path);
    this.inode.truncate(length);
  }

  size(): number {
    this.check("fstat");
    return this.inode.length;
  }

  close(): void {
    this.check("close");
    this.closed = true;
  }

  private check(syscall: string, write = false): void {
    if (this.closed || (write && !this.writable)) throw fsError("EBADF", syscall, this.path);
  }
}

/**
 * An in-memory file system implementing {@link WalFs}: nothing touches a disk
 * and every call is synchronous and cheap. Durability calls (`datasync`,
 * `sync`, `syncDir`) are no-ops; use `FaultyFs` to test crashes.
 *
 * Semantics: paths are normalised (`/` separators, no trailing slash, `.` and
 * `..` resolved, relative paths start at the root `/`); directories are real
 * (opening a file in a missing directory throws `ENOENT`); an open handle keeps
 * working on its file after a rename or remove, as on POSIX. Errors are
 * `Error`s with a POSIX `code` (`ENOENT`, `EEXIST`, `ENOTDIR`, `EISDIR`,
 * `ENOTEMPTY`, `EBADF` on a closed handle or a write through a read handle,
 * `EINVAL` for a negative position) and the path in the message.
 *
 * @example
 * ```ts
 * import { MemoryFs } from "./memory.ts";
 * const fs = new MemoryFs();
 * fs.mkdir("/wal");
 * const f = fs.open("/wal/seg", "create");
 * f.write(new Uint8Array([1, 2, 3]), 0);
 * const buf = new Uint8Array(3);
 * f.read(buf, 0); // 3
 * f.close();
 * fs.rename("/wal/seg", "/wal/seg2");
 * console.log(fs.readDir("/wal").map((e) => e.name)); // ["seg2"]
 * ```
 */
export class MemoryFs implements WalFs {
  /** `"memory"`. */
  readonly name: string = "memory";
  /** The root directory `/`. */
  protected root: MemDir = new MemDir();
  /** Held locks: normalised root path → lock token. */
  protected locks: Map<string, object> = new Map();

  /**
   * Opens a file: `"read"` and `"write"` need it to exist, `"create"` needs it
   * not to (`EEXIST`). Throws `ENOENT` if the directory is missing, `EISDIR`
   * for a directory.
   */
  open(path: string, mode: OpenMode): WalFile {
    const inode = this.openInode(path, mode);
    return new MemHandle(inode, normalizePath(path), mode !== "read");
  }

  /** Lists a directory's entries in creation order; `ENOENT`/`ENOTDIR` otherwise. */
  readDir(path: string): WalDirEntry[] {
    const dir = this.dirAt(path, "scandir");
    const out: WalDirEntry[] = [];
    for (const [name, node] of dir.entries) {
      const isDirectory = node instanceof MemDir;
      out.push({ name, isFile: !isDirectory, isDirectory });
    }
    return out;
  }

  /** Describes a path, or `undefined` if nothing is there. */
  stat(path: string): WalStat | undefined {
    const node = this.lookup(path);
    if (node === undefined) return undefined;
    if (node instanceof MemDir) return { isFile: false, isDirectory: true, size: 0 };
    return { isFile: true, isDirectory: false, size: node.length };
  }

  /** Creates a directory and its missing parents; `EEXIST`/`ENOTDIR` if a file is in the way. */
  mkdir(path: string): void {
    let dir = this.root;
    const parts = splitPath(path);
    for (let i = 0; i < parts.length; i++) {
      const next = dir.entries.get(parts[i]);
      if (next === undefined) {
        const made = new MemDir();
        dir.entries.set(parts[i], made);
        dir = made;
      } else if (next instanceof MemDir) {
        dir = next;
      } else {
        const at = "/" + parts.slice(0, i + 1).join("/");
        throw fsError(i === parts.length - 1 ? "EEXIST" : "ENOTDIR", "mkdir", at);
      }
    }
  }

  /**
   * Renames a file or directory atomically. A file replaces a file at `to`; a
   * directory replaces an empty directory (`ENOTEMPTY` otherwise). `EISDIR`,
   * `ENOTDIR` on a kind mismatch; `EINVAL` to move a directory into itself.
   */
  rename(from: string, to: string): void {
    const src = this.parentOf(from, "rename");
    const node = src.dir.entries.get(src.name);
    if (node === undefined || src.name === "") throw fsError("ENOENT", "rename", src.path);
    const dst = this.parentOf(to, "rename");
    if (dst.name === "") throw fsError("EBUSY", "rename", dst.path);
    if (src.path === dst.path) return;
    const old = dst.dir.entries.get(dst.name);
    const detail = `${src.path}' -> '${dst.path}`;
    if (node instanceof MemDir) {
      if (dst.path.startsWith(src.path + "/")) throw fsError("EINVAL", "rename", detail);
      if (old instanceof MemInode) throw fsError("ENOTDIR", "rename", detail);
      if (old instanceof MemDir && old.entries.size > 0) {
        throw fsError("ENOTEMPTY", "rename", detail);
      }
    } else if (old instanceof MemDir) {
      throw fsError("EISDIR", "rename", detail);
    }
    src.dir.entries.delete(src.name);
    dst.dir.entries.set(dst.name, node);
  }

  /** Removes a file; `ENOENT` if missing, `EISDIR` for a directory. */
  remove(path: string): void {
    const { dir, name, path: p } = this.parentOf(path, "unlink");
    const node = dir.entries.get(name);
    if (node === undefined) throw fsError(name === "" ? "EISDIR" : "ENOENT", "unlink", p);
    if (node instanceof MemDir) throw fsError("EISDIR", "unlink", p);
    dir.entries.delete(name);
  }

  /** Removes an empty directory; `ENOENT`, `ENOTDIR`, `ENOTEMPTY`, `EBUSY` for `/`. */
  removeDir(path: string): void {
    const { dir, name, path: p } = this.parentOf(path, "rmdir");
    if (name === "") throw fsError("EBUSY", "rmdir", p);
    const node = dir.entries.get(name);
    if (node === undefined) throw fsError("ENOENT", "rmdir", p);
    if (!(node instanceof MemDir)) throw fsError("ENOTDIR", "rmdir", p);
    if (node.entries.size > 0) throw fsError("ENOTEMPTY", "rmdir", p);
    dir.entries.delete(name);
  }

  /** A no-op here (the directory must exist: `ENOENT`/`ENOTDIR`). */
  syncDir(path: string): void {
    this.dirAt(path, "fsync");
  }

  /**
   * Takes the exclusive lock of the directory `root` within this instance.
   * Throws `WalError("LOCKED")` naming the root if it is held, `ENOENT` if the
   * directory does not exist. `release()` is idempotent.
   */
  lock(root: string): WalLock {
    this.dirAt(root, "lock");
    const key = normalizePath(root);
    if (this.locks.has(key)) {
      throw new WalError(
        "LOCKED",
        `the WAL root '${key}' is already locked by another open Wal on this ${this.name} file system; close that Wal first`,
      );
    }
    const token = {};
    this.locks.set(key, token);
    return {
      release: () => {
        if (this.locks.get(key) === token) this.locks.delete(key);
      },
    };
  }

  /**
   * A copy-free view of a file's current bytes. The view is not updated by
   * later writes (the core only maps sealed files, which are never written
   * again). `ENOENT` if missing, `EISDIR` for a directory.
   */
  map(path: string): WalMapping {
    const node = this.lookup(path);
    if (node === undefined) throw fsError("ENOENT", "mmap", normalizePath(path));
    if (node instanceof MemDir) throw fsError("EISDIR", "mmap", normalizePath(path));
    return { bytes: node.view(), close() {} };
  }

  /** Moves `buf`'s bytes to a new buffer and detaches it (see `WalFs.detach`). */
  detach(buf: ArrayBuffer): ArrayBuffer {
    return detachBuffer(buf);
  }

  /** The node at `path`, or `undefined` if it or a parent is missing or a file. */
  protected lookup(path: string): MemNode | undefined {
    let node: MemNode = this.root;
    for (const part of splitPath(path)) {
      if (!(node instanceof MemDir)) return undefined;
      const next: MemNode | undefined = node.entries.get(part);
      if (next === undefined) return undefined;
      node = next;
    }
    return node;
  }

  /** The directory at `path`; throws `ENOENT` or `ENOTDIR`. */
  protected dirAt(path: string, syscall: string): MemDir {
    const { dir, name, path: p } = this.parentOf(path, syscall);
    const node = name === "" ? dir : dir.entries.get(name);
    if (node === undefined) throw fsError("ENOENT", syscall, p);
    if (!(node instanceof MemDir)) throw fsError("ENOTDIR", syscall, p);
    return node;
  }

  /**
   * The existing parent directory of `path` and the last name (`""` for the
   * root itself, whose "parent" is the root). Throws `ENOENT` or `ENOTDIR`.
   */
  protected parentOf(path: string, syscall: string): { dir: MemDir; name: string; path: string } {
    const parts = splitPath(path);
    const p = "/" + parts.join("/");
    let dir = this.root;
    for (let i = 0; i < parts.length - 1; i++) {
      const next = dir.entries.get(parts[i]);
      if (next === undefined) throw fsError("ENOENT", syscall, p);
      if (!(next instanceof MemDir)) throw fsError("ENOTDIR", syscall, p);
      dir = next;
    }
    return { dir, name: parts.length === 0 ? "" : parts[parts.length - 1], path: p };
  }

  /** Resolves or creates the file `open` works on; throws as `open` documents. */
  protected openInode(path: string, mode: OpenMode): MemInode {
    const { dir, name, path: p } = this.parentOf(path, "open");
    if (name === "") throw fsError("EISDIR", "open", p);
    const node = dir.entries.get(name);
    if (node instanceof MemDir) throw fsError(mode === "create" ? "EEXIST" : "EISDIR", "open", p);
    if (mode === "create") {
      if (node !== undefined) throw fsError("EEXIST", "open", p);
      const made = new MemInode();
      dir.entries.set(name, made);
      return made;
    }
    if (node === undefined) throw fsError("ENOENT", "open", p);
    return node;
  }
}

/**
 * Normalises a path the way {@link MemoryFs} sees it: `"/"`-separated, starting
 * with `/`, no trailing slash, `.` and `..` resolved.
 *
 * @example
 * ```ts
 * import { normalizePath } from "./memory.ts";
 * console.log(normalizePath("wal/./a/../b/")); // "/wal/b"
 * ```
 */
export function normalizePath(path: string): string {
  return "/" + splitPath(path).join("/");
}
