/**
 * The one error type of ironwal.
 *
 * @module
 */

/** The machine-readable kind of a {@link WalError}. */
export type WalErrorCode =
  | "IO"
  | "CORRUPTION"
  | "CRC_MISMATCH"
  | "SEGMENT_NOT_FOUND"
  | "STREAM_NOT_FOUND"
  | "CONFIG"
  | "CLOSED"
  | "LOCKED"
  | "CHECKPOINT_NOT_FOUND"
  | "NO_CHECKPOINTS"
  | "CHECKPOINT_CORRUPTED"
  | "SHARD_COUNT_MISMATCH";

/**
 * Every failure of ironwal. The message says what happened, where (stream,
 * file, byte offset) and what the caller can do; `code` is stable and meant
 * for programs; the underlying OS error, if any, is kept as `cause`.
 *
 * @example
 * ```ts
 * import { WalError } from "./errors.ts";
 * try {
 *   throw new WalError("CONFIG", "maxSegmentSize must be at least 256, got 10");
 * } catch (e) {
 *   if (e instanceof WalError && e.code === "CONFIG") console.log(e.message);
 * }
 * ```
 */
export class WalError extends Error {
  /** The kind of failure. */
  readonly code: WalErrorCode;
  /** Builds an error of `code` with `message`; `cause` is the underlying error. */
  constructor(code: WalErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = "WalError";
    this.code = code;
  }
}

/** Wraps an adapter error as an `IO` WalError, keeping it as `cause`. */
export function ioError(what: string, cause: unknown): WalError {
  if (cause instanceof WalError) return cause;
  const detail = cause instanceof Error ? cause.message : String(cause);
  return new WalError("IO", `${what}: ${detail}`, { cause });
}
