/**
 * A map bounded by a total weight (bytes, or 1 per entry for a count bound)
 * that evicts what was not used recently: CLOCK (second chance), the usual
 * approximation of LRU. A hit only sets a bit (no reordering, so reads that
 * hit cost one `Map.get`); eviction walks the entries oldest first, moving
 * those hit since they were last passed to the back and evicting the first
 * one that was not.
 *
 * @module
 */

interface Slot<V> {
  value: V;
  weight: number;
  onEvict: (() => void) | undefined;
  /** Hit since eviction last passed it. */
  used: boolean;
}

/** A CLOCK-evicted map whose entries' weights sum to at most `capacity`. */
export class Lru<V> {
  readonly capacity: number;
  #weight = 0;
  readonly #map = new Map<string, Slot<V>>();

  constructor(capacity: number) {
    this.capacity = capacity;
  }

  /** Sum of the weights held. */
  get weight(): number {
    return this.#weight;
  }

  /** Number of entries. */
  get size(): number {
    return this.#map.size;
  }

  /** The value of `key`, marking it recently used. */
  get(key: string): V | undefined {
    const s = this.#map.get(key);
    if (s === undefined) return undefined;
    s.used = true;
    return s.value;
  }

  /** Adds or replaces `key`; entries heavier than the capacity are not kept. */
  set(key: string, value: V, weight: number, onEvict?: () => void): void {
    this.delete(key);
    if (weight > this.capacity) {
      onEvict?.();
      return;
    }
    const slot: Slot<V> = { value, weight, onEvict, used: false };
    this.#map.set(key, slot);
    this.#weight += weight;
    // Each older entry is moved back at most once (its bit is cleared) and the
    // new one is never evicted (it alone fits), so this ends.
    for (const [k, s] of this.#map) {
      if (this.#weight <= this.capacity) break;
      this.#map.delete(k);
      if (s.used || s === slot) {
        s.used = false;
        this.#map.set(k, s);
        continue;
      }
      this.#weight -= s.weight;
      s.onEvict?.();
    }
  }

  /** Removes `key` if present. */
  delete(key: string): void {
    const s = this.#map.get(key);
    if (s === undefined) return;
    this.#map.delete(key);
    this.#weight -= s.weight;
    s.onEvict?.();
  }

  /** Removes every entry whose key starts with `prefix`. */
  deletePrefix(prefix: string): void {
    for (const k of [...this.#map.keys()]) if (k.startsWith(prefix)) this.delete(k);
  }

  /** Removes everything. */
  clear(): void {
    for (const k of [...this.#map.keys()]) this.delete(k);
  }
}
