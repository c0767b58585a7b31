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
  /** Used since eviction last passed it (CLOCK's reference bit). */
  used: boolean;
}

/**
 * Open handles by path. Eviction is CLOCK (second chance), the usual
 * approximation of LRU: a hit sets a bit instead of reordering the map.
 */
export class HandleCache {
  readonly #fs: WalFs;
  readonly #max: number;
  /** Map iteration order is insertion (or last second-chance) order: eviction starts at the front. */
  readonly #slots = new Map<string, Slot>();
  /** The slot touched last, or undefined. Never evicted while another can be. */
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
      slot.used = true;
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
    const slot: Slot = { path, file, mode, used: false };
    this.#slots.set(path, slot);
    this.#mru = slot;
    return file;
  }

  #evict(n: number): void {
    // Slots used since the last pass (and the MRU one, while others remain) go
    // to the back once with their bit cleared, so the walk ends.
    let spared = 0;
    for (const [path, slot] of this.#slots) {
      if (n <= 0) break;
      this.#slots.delete(path);
      if ((slot.used || slot === this.#mru) && spared < this.#slots.size) {
        slot.used = false;
        spared++;
        this.#slots.set(path, slot);
        continue;
      }
      n--;
      if (this.#mru === slot) this.#mru = undefined;
      this.onEvict?.(path, slot.file);
      slot.file.close();
    }
  }
}
