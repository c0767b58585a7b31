/**
 * WAL options, their defaults and their validation.
 *
 * @module
 */

import { WalError } from "./errors.ts";
import type { WalFs } from "./io.ts";

/** When an append's promise resolves; see the table in README.md. */
export type SyncMode = "strict" | "batch-only" | "interval" | "async";
/** How frames are compressed on disk. */
export type Compression = "none" | "lz4" | "deflate";
/** How sealed segments are read. */
export type ReadStrategy = "standard" | "mmap";
/** What `open` does on damage that a crash cannot explain. */
export type OnCorruption = "error" | "truncate";

/** Something the WAL did, for metrics and logs (see {@link WalOptions.meter}). */
export type WalEvent =
  | { type: "append"; stream: string; entries: number; bytes: number }
  | { type: "fsync"; files: number; durationUs: number }
  /** `deferred`: the sealed segment's fsync was deferred to the next sync (modes "async" and "interval"). */
  | { type: "segmentRoll"; stream: string; segment: string; bytes: number; deferred: boolean }
  | { type: "corruptionTruncated"; stream: string; segment: string; offset: number; bytes: number }
  | { type: "cacheHit"; stream: string }
  | { type: "cacheMiss"; stream: string }
  | { type: "warning"; message: string };

/** Options of `Wal.open`; every field is optional. */
export interface WalOptions {
  /** Directory holding the WAL. Default "./wal_data". */
  root?: string;
  /** File system adapter. Default: the adapter of the running runtime. */
  fs?: WalFs;
  /** Soft size limit of a segment in bytes (>= 256). Default 64 MiB. */
  maxSegmentSize?: number;
  /** Soft entry limit of a segment (>= 1). Default Infinity. */
  maxEntriesPerSegment?: number;
  /** Most file handles kept open (LRU, >= 1). Default 128. */
  maxOpenSegments?: number;
  /** Bytes of decoded frames kept in an LRU cache; 0 turns it off. Default 0. */
  blockCacheSize?: number;
  /** Durability of an append when it resolves. Default "strict". */
  syncMode?: SyncMode;
  /** For "interval": the longest time unsynced data waits for an fsync. Default 5. */
  syncIntervalMs?: number;
  /** Frame compression. Default "none". */
  compression?: Compression;
  /** Payloads smaller than this are stored raw. Default 1024. */
  minCompressionSize?: number;
  /** "mmap" reads sealed segments through a whole-file view. Default "standard". */
  readStrategy?: ReadStrategy;
  /** Damage a crash cannot explain: "error" (default) fails open, "truncate" cuts the log back. */
  onCorruption?: OnCorruption;
  /** Called with every {@link WalEvent}; must not throw. */
  meter?: (event: WalEvent) => void;
}

/** Options with every default filled in. */
export interface ResolvedOptions {
  root: string;
  fs: WalFs | undefined;
  maxSegmentSize: number;
  maxEntriesPerSegment: number;
  maxOpenSegments: number;
  blockCacheSize: number;
  syncMode: SyncMode;
  syncIntervalMs: number;
  compression: Compression;
  minCompressionSize: number;
  readStrategy: ReadStrategy;
  onCorruption: OnCorruption;
  meter: ((event: WalEvent) => void) | undefined;
}

const KNOWN = new Set([
  "root",
  "fs",
  "maxSegmentSize",
  "maxEntriesPerSegment",
  "maxOpenSegments",
  "blockCacheSize",
  "syncMode",
  "syncIntervalMs",
  "compression",
  "minCompressionSize",
  "readStrategy",
  "onCorruption",
  "meter",
]);

function bad(name: string, expected: string, got: unknown): WalError {
  const shown = typeof got === "string" ? JSON.stringify(got) : String(got);
  return new WalError("CONFIG", `option ${name} must be ${expected}, got ${shown}`);
}

function intOpt(
  o: Record<string, unknown>,
  name: string,
  def: number,
  min: number,
  allowInfinity = false,
): number {
  const v = o[name];
  if (v === undefined) return def;
  if (typeof v !== "number" || Number.isNaN(v)) throw bad(name, `a number >= ${min}`, v);
  if (v === Infinity && allowInfinity) return v;
  if (!Number.isSafeInteger(v) || v < min) {
    throw bad(name, `an integer >= ${min}${allowInfinity ? " or Infinity" : ""}`, v);
  }
  return v;
}

function oneOf<T extends string>(o: Record<string, unknown>, name: string, values: T[], def: T): T {
  const v = o[name];
  if (v === undefined) return def;
  if (typeof v !== "string" || !values.includes(v as T)) {
    throw bad(name, `one of ${values.map((x) => JSON.stringify(x)).join(", ")}`, v);
  }
  return v as T;
}

/**
 * Checks `options` and fills in defaults. Throws a `CONFIG` WalError naming
 * the first bad option (the same errors `Wal.open` gives).
 *
 * @example
 * ```ts
 * import { validateOptions } from "./options.ts";
 * const o = validateOptions({ syncMode: "async" });
 * console.assert(o.maxSegmentSize === 64 * 1024 * 1024);
 * ```
 */
export function validateOptions(options: WalOptions = {}): ResolvedOptions {
  if (typeof options !== "object" || options === null) {
    throw new WalError("CONFIG", `options must be an object, got ${String(options)}`);
  }
  const o = options as Record<string, unknown>;
  for (const k of Object.keys(o)) {
    if (!KNOWN.has(k)) {
      throw new WalError("CONFIG", `unknown option ${JSON.stringify(k)}; known options: ${[...KNOWN].join(", ")}`);
    }
  }
  const root = o.root ?? "./wal_data";
  if (typeof root !== "string" || root.length === 0 || root.includes("\0")) {
    throw bad("root", "a non-empty path without NUL", root);
  }
  const fs = o.fs;
  if (fs !== undefined && (typeof fs !== "object" || fs === null || typeof (fs as { open?: unknown }).open !== "function")) {
    throw bad("fs", "a WalFs adapter", fs);
  }
  const meter = o.meter;
  if (meter !== undefined && typeof meter !== "function") throw bad("meter", "a function", meter);
  return {
    root,
    fs: fs as WalFs | undefined,
    maxSegmentSize: intOpt(o, "maxSegmentSize", 64 * 1024 * 1024, 256),
    maxEntriesPerSegment: intOpt(o, "maxEntriesPerSegment", Infinity, 1, true),
    maxOpenSegments: intOpt(o, "maxOpenSegments", 128, 1),
    blockCacheSize: intOpt(o, "blockCacheSize", 0, 0),
    syncMode: oneOf(o, "syncMode", ["strict", "batch-only", "interval", "async"], "strict"),
    syncIntervalMs: intOpt(o, "syncIntervalMs", 5, 1),
    compression: oneOf(o, "compression", ["none", "lz4", "deflate"], "none"),
    minCompressionSize: intOpt(o, "minCompressionSize", 1024, 0),
    readStrategy: oneOf(o, "readStrategy", ["standard", "mmap"], "standard"),
    onCorruption: oneOf(o, "onCorruption", ["error", "truncate"], "error"),
    meter: meter as ((e: WalEvent) => void) | undefined,
  };
}
