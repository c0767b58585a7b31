/**
 * An LRU of open file handles, so a WAL with thousands of segments or
 * streams never holds more than `maxOpenSegments` descriptors.
 *
 * @module
 */

import { errorCode, type OpenMode, type WalFile, type WalFs } from "../io.ts";

interface Slot {
  path: string;
  file: WalFile;
  mode: OpenMode;
}

/** Open handles by path, least recently used evicted first. */
export class HandleCache {
  readonly #fs: WalFs;
  readonly #max: number;
  /** Map iteration order is insertion order: the first key is the least recently used. */
  readonly #slots = new Map<string, Slot>();
  /** The slot touched last (the Map's last entry), or undefined. */
  #mru: Slot | undefined;
  /** Called before a handle is closed by eviction (e.g. to fsync a dirty file); must not throw. */
  onEvict: ((path: string, file: WalFile) => void) | undefined;

  constructor(fs: WalFs, max: number) {
    this.#fs = fs;
    this.#max = max;
  }

  /** Number of open handles. */
  get size(): number {
    return this.#slots.size;
  }

  /**
   * The handle of `path`, opened with `mode` if not open ("write" handles
   * serve reads too). EMFILE/ENFILE from the OS evicts half the cache and
   * retries once.
   */
  get(path: string, mode: "read" | "write"): WalFile {
    // Fast path: the most recently used handle needs no reordering.
    const mru = this.#mru;
    if (mru !== undefined && mru.path === path && (mru.mode !== "read" || mode === "read")) return mru.file;
    const slot = this.#slots.get(path);
    if (slot !== undefined && (slot.mode !== "read" || mode === "read")) {
      this.#slots.delete(path);
      this.#slots.set(path, slot);
      this.#mru = slot;
      return slot.file;
    }
    if (slot !== undefined) this.close(path);
    return this.#insert(path, mode, this.#open(path, mode));
  }

  /** Creates `path` (must not exist) and caches its handle. */
  create(path: string): WalFile {
    return this.#insert(path, "write", this.#open(path, "create"));
  }

  /** Closes and forgets the handle of `path`, if open. */
  close(path: string): void {
    const slot = this.#slots.get(path);
    if (slot === undefined) return;
    this.#slots.delete(path);
    if (this.#mru === slot) this.#mru = undefined;
    slot.file.close();
  }

  /** Closes every handle. Errors are collected and the first rethrown. */
  closeAll(): void {
    let first: unknown;
    // A snapshot: onEvict must not be able to make this loop revisit a slot.
    for (const [path, slot] of [...this.#slots]) {
      try {
        this.onEvict?.(path, slot.file);
        slot.file.close();
      } catch (e) {
        first ??= e;
      }
    }
    this.#slots.clear();
    this.#mru = undefined;
    if (first !== undefined) throw first;
  }

  #open(path: string, mode: OpenMode): WalFile {
    try {
      return this.#fs.open(path, mode);
    } catch (e) {
      const code = errorCode(e);
      if ((code === "EMFILE" || code === "ENFILE") && this.#slots.size > 0) {
        this.#evict(Math.max(1, this.#slots.size >> 1));
        return this.#fs.open(path, mode);
      }
      throw e;
    }
  }

  #insert(path: string, mode: "read" | "write", file: WalFile): WalFile {
    if (this.#slots.size >= this.#max) this.#evict(this.#slots.size - this.#max + 1);
    const slot: Slot = { path, file, mode };
    this.#slots.set(path, slot);
    this.#mru = slot;
    return file;
  }

  #evict(n: number): void {
    for (const [path, slot] of this.#slots) {
      if (n-- <= 0) break;
      this.#slots.delete(path);
      if (this.#mru === slot) this.#mru = undefined;
      this.onEvict?.(path, slot.file);
      slot.file.close();
    }
  }
}
