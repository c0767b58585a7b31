/**
 * The file interface the core codes against. Every runtime adapter in
 * `adapters/` implements it; nothing in `src/` touches a runtime global or a
 * `node:` module.
 *
 * All calls are synchronous on purpose: positional `readSync`/`writeSync` are
 * real pread/pwrite on Deno, Bun and Node and 24-33x cheaper per call than
 * their async twins, and an fdatasync costs ~80 µs. The core does its I/O in
 * one synchronous step per group of appends and never blocks on anything else.
 * Two optional calls run in the background where that pays: `readAsync`, to
 * read the next chunk while iteration checks this one, and `datasyncAsync`,
 * to fdatasync the files of several streams at once in a group commit.
 *
 * Paths are strings joined with "/" by the core. Adapters throw errors that
 * carry a POSIX `code` string (`ENOENT`, `EEXIST`, `EIO`, `ENOSPC`, `EMFILE`,
 * ...); the core wraps them in a {@link WalError} and keeps them as `cause`.
 *
 * @module
 */

/** How {@link WalFs.open} opens a file. */
export type OpenMode =
  /** Read only; the file must exist. */
  | "read"
  /** Read and write; the file must exist. */
  | "write"
  /** Read and write; the file must not exist (O_CREAT|O_EXCL). */
  | "create";

/** An open file handle with positional I/O. */
export interface WalFile {
  /**
   * Reads up to `buf.length` bytes at `position` into `buf`.
   * @returns the number of bytes read; fewer than asked only at end of file.
   */
  read(buf: Uint8Array, position: number): number;
  /**
   * Optional: reads up to `length` bytes at `position` into `buf` from
   * index `offset` on, as {@link read} of `buf.subarray(offset, offset +
   * length)` would, without the view. A random `get` reads each frame
   * into a shared slab through it (a view per read is about 50 ns of a
   * 2 µs read on Bun); without it, `get` reads through {@link read}.
   * @returns the number of bytes read; fewer than asked only at end of file.
   */
  readInto?(buf: Uint8Array, offset: number, length: number, position: number): number;
  /**
   * Optional: {@link readInto} in the background (e.g. on the runtime's I/O
   * thread pool), so the caller can go on while the bytes are copied. `Wal.iter`
   * reads each next chunk of a segment through it while it checks and hands
   * out the current one. `buf` must not be touched until the promise
   * settles, and a {@link close} while reads run must keep the descriptor
   * (whose number the OS could otherwise give to another file) until they end.
   * @returns the number of bytes read; fewer than asked only at end of file.
   */
  readAsync?(buf: Uint8Array, offset: number, length: number, position: number): Promise<number>;
  /** Writes all of `buf` at `position`, looping over short writes. */
  write(buf: Uint8Array, position: number): void;
  /** Makes written data (and the size needed to read it) durable: fdatasync. */
  datasync(): void;
  /**
   * Optional: {@link datasync} in the background (e.g. on the runtime's I/O
   * thread pool). A group commit that must sync the files of several
   * streams starts one per file and waits for them all, so the disk can
   * take them together (16 files here: 3.0 ms one after another, 1.2-2.5
   * ms at once, see docs/bench.md). As with {@link readAsync}, a
   * {@link close} while it runs must keep the descriptor until it ends.
   * Its effect is {@link datasync}'s: when it resolves, everything written
   * through this file before the call is durable.
   */
  datasyncAsync?(): Promise<void>;
  /** Makes data and all metadata durable: fsync. */
  sync(): void;
  /** Sets the file's length. */
  truncate(length: number): void;
  /** The file's current length in bytes. */
  size(): number;
  /** Closes the handle. Further calls fail. */
  close(): void;
}

/** One entry of a directory listing. */
export interface WalDirEntry {
  name: string;
  isFile: boolean;
  isDirectory: boolean;
}

/** What {@link WalFs.stat} reports of a path. */
export interface WalStat {
  isFile: boolean;
  isDirectory: boolean;
  size: number;
}

/** A held exclusive lock on a WAL root. */
export interface WalLock {
  /** Releases the lock; idempotent. */
  release(): void;
}

/** A read-only view of a whole file, from {@link WalFs.map}. */
export interface WalMapping {
  /** The file's bytes. Valid until `close()`. */
  readonly bytes: Uint8Array;
  /** Drops the view (unmaps where the runtime can). Idempotent. */
  close(): void;
}

/** The file system the core uses: one implementation per runtime. */
export interface WalFs {
  /** A short name for messages and stats: "node", "deno", "bun", "memory", ... */
  readonly name: string;
  /** Opens a file; see {@link OpenMode}. */
  open(path: string, mode: OpenMode): WalFile;
  /** Lists a directory (no "." or ".."), in no particular order. */
  readDir(path: string): WalDirEntry[];
  /** Describes a path, or `undefined` if nothing is there. */
  stat(path: string): WalStat | undefined;
  /** Creates a directory and any missing parents; no error if it exists. */
  mkdir(path: string): void;
  /** Renames atomically, replacing `to` if it is a file. */
  rename(from: string, to: string): void;
  /** Removes a file. */
  remove(path: string): void;
  /** Removes an empty directory. */
  removeDir(path: string): void;
  /** Makes the directory's entries (creates, renames, removes) durable. */
  syncDir(path: string): void;
  /**
   * Takes an exclusive lock on the directory `root` (the lock lives inside
   * it). A second lock of the same root, from this or another process, throws
   * a `WalError` with code `LOCKED`; a lock left by a dead process is taken
   * over.
   */
  lock(root: string): WalLock;
  /**
   * Optional whole-file read-only view (mmap where the runtime has it). Only
   * ever used on sealed files, which are never written or truncated again.
   */
  map?(path: string): WalMapping;
  /**
   * Optional: runs `fn` once the I/O callbacks of the current event-loop turn
   * have run (`setImmediate`). Strict-mode group commit waits for it, so
   * appends made from separate I/O callbacks (network requests, timers)
   * share one fsync. Without it, the core groups appends per microtask burst.
   */
  defer?(fn: () => void): void;
  /**
   * Optional CRC-32 (IEEE) of the runtime, e.g. `zlib.crc32`: returns the
   * unsigned CRC of `data`, continuing from `seed` (default 0) as zlib does.
   */
  crc32?(data: Uint8Array, seed?: number): number;
  /**
   * Optional: moves the memory of `buf` to a new `ArrayBuffer` without
   * copying where the runtime can (`ArrayBuffer.prototype.transfer`, or
   * `structuredClone` with a transfer list) and detaches `buf`, so every view
   * of it becomes empty. Iterators use it to reuse one read buffer while
   * making the entry views a caller kept past their step read as empty,
   * never as other bytes. Without it, iterators read into fresh buffers.
   */
  detach?(buf: ArrayBuffer): ArrayBuffer;
  /**
   * Optional: a new plain `Uint8Array` of `size` bytes whose contents need
   * not be zeroed (`Buffer.allocUnsafeSlow`'s memory, which the allocator may
   * take from memory freed earlier, with no page faults and no memset).
   * Iterators that hand out entries a caller may keep read each chunk into
   * such memory and zero every byte the read does not overwrite, so no
   * view, nor its `.buffer`, ever shows stale memory. Without it, iterators
   * use `new Uint8Array`.
   */
  alloc?(size: number): Uint8Array;
}

/** The POSIX error code carried by an adapter's error, if any. */
export function errorCode(err: unknown): string | undefined {
  if (typeof err === "object" && err !== null && "code" in err) {
    const code = (err as { code: unknown }).code;
    if (typeof code === "string") return code;
  }
  return undefined;
}

/** Joins path parts with "/". */
export function joinPath(...parts: string[]): string {
  let out = parts[0] ?? "";
  for (let i = 1; i < parts.length; i++) {
    const p = parts[i];
    out = out.endsWith("/") ? out + p : out + "/" + p;
  }
  return out;
}
