/**
 * The iterators `Wal.iterSync` and `Wal.iter` return: plain iterator
 * objects over one stream reader, with no generator frames or promises
 * between the caller and the read loop other than the one promise per step
 * that an async iterator must return.
 *
 * @module
 */

import { ioError, WalError } from "./errors.ts";
import type { EntryReader, Stream } from "./stream/stream.ts";

/** One entry of a stream: its id and its bytes. */
export interface WalEntry {
  /** The entry's id in its stream. */
  id: number;
  /** The entry's bytes. */
  data: Uint8Array;
}

/**
 * What an iterator needs from its Wal. One per Wal, shared by all its
 * iterators: an optimizing engine inlines these calls into the step loop,
 * and new functions per iterator would undo that at each iterator's first
 * step (V8: "wrong call target", then the loop runs unoptimized for a while).
 */
export interface IterHost {
  /**
   * Throws if the Wal is closed or `req` is bad, else returns the stream's
   * reader (undefined: no such stream). An async iterator's reader may read ahead.
   */
  start(req: IterRequest): { stream: Stream; reader: EntryReader } | undefined;
  /** True once the Wal is closed. */
  closed(): boolean;
  /** The error to throw when the Wal was closed during the iteration. */
  closedError(): WalError;
}

/** One iteration's arguments, checked at its first step (as a generator would). */
export interface IterRequest {
  /** The stream's name. */
  readonly name: string;
  readonly startId: number;
  readonly options: IterOptions;
  /** The method called, for error messages; "iter" reads ahead. */
  readonly what: "iter" | "iterSync";
}

/** Options of `Wal.iter`, `Wal.iterSync` and `ShardedWal.iterShard`. */
export interface IterOptions {
  /**
   * Read through one reused buffer instead of a fresh buffer per chunk of
   * the file (default false). Faster (no new memory per megabyte read), but
   * each entry's `data` is then valid only until the iterator's next step:
   * copy it (`data.slice()`) to keep it. A view kept longer reads as empty
   * (length 0), never as other bytes. Where the file system adapter cannot
   * detach buffers (no `WalFs.detach`), fresh buffers are used regardless.
   */
  reuseBuffer?: boolean;
}

const DONE: IteratorResult<WalEntry, undefined> = { done: true, value: undefined };

/** The iterator of `Wal.iterSync`: entries in id order, read on demand. */
export class EntryIterator implements IterableIterator<WalEntry> {
  #host: IterHost | undefined;
  readonly #req: IterRequest;
  #stream: Stream | undefined;
  #reader: EntryReader | undefined;

  constructor(host: IterHost, req: IterRequest) {
    this.#host = host;
    this.#req = req;
  }

  /** The next entry, or `done` at the end of the stream as written when the iteration gets there. */
  next(): IteratorResult<WalEntry, undefined> {
    const v = this.step();
    // Only a reader that reads ahead waits, and only async iterators make those.
    if (v === undefined) throw new Error("iterSync: a read-ahead reader cannot wait");
    return v;
  }

  /**
   * {@link next}, or undefined, with nothing consumed, while the chunk the
   * next entry is in is still being read ahead: step again once
   * {@link wait} settles.
   */
  step(): IteratorResult<WalEntry, undefined> | undefined {
    const host = this.#host;
    if (host === undefined) return DONE;
    let r = this.#reader;
    try {
      if (r === undefined) {
        const s = host.start(this.#req);
        if (s === undefined) return this.return();
        this.#stream = s.stream;
        r = this.#reader = s.reader;
      } else if (host.closed()) {
        this.#host = undefined;
        throw host.closedError();
      }
      if (!this.#stream!.readNext(r)) {
        if (r.wait !== undefined) return undefined;
        return this.return();
      }
    } catch (e) {
      this.#host = undefined;
      try {
        r?.stop();
      } catch {
        // The error being thrown says more.
      }
      throw e instanceof WalError ? e : ioError(`iteration of stream ${JSON.stringify(this.#req.name)} failed`, e);
    }
    return { done: false, value: { id: r.id, data: r.data } };
  }

  /** What a {@link step} that returned undefined waits for; settles, never rejects. */
  get wait(): Promise<void> | undefined {
    return this.#reader?.wait;
  }

  /** Ends the iteration (what `break` out of a `for...of` calls). */
  return(): IteratorResult<WalEntry, undefined> {
    this.#reader?.stop();
    this.#host = undefined;
    this.#stream = undefined;
    this.#reader = undefined;
    return DONE;
  }

  [Symbol.iterator](): this {
    return this;
  }
}

/**
 * The iterator of `Wal.iter`: {@link EntryIterator} over a reader that reads
 * ahead, one resolved promise per step, and an await where a step must wait
 * for the next chunk.
 */
export class AsyncEntryIterator implements AsyncIterableIterator<WalEntry> {
  readonly #it: EntryIterator;

  constructor(host: IterHost, req: IterRequest) {
    this.#it = new EntryIterator(host, req);
  }

  /** The next entry, or `done`; rejects as {@link EntryIterator.next} throws. */
  next(): Promise<IteratorResult<WalEntry, undefined>> {
    try {
      const v = this.#it.step();
      return v !== undefined ? Promise.resolve(v) : this.#waited();
    } catch (e) {
      return Promise.reject(e);
    }
  }

  async #waited(): Promise<IteratorResult<WalEntry, undefined>> {
    for (;;) {
      await this.#it.wait;
      const v = this.#it.step();
      if (v !== undefined) return v;
    }
  }

  /** Ends the iteration (what `break` out of a `for await...of` calls). */
  return(): Promise<IteratorResult<WalEntry, undefined>> {
    return Promise.resolve(this.#it.return());
  }

  [Symbol.asyncIterator](): this {
    return this;
  }
}
