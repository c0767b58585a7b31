/**
 * Small whole-file helpers for ShardedWal's meta files.
 *
 * @module
 */

import { errorCode, joinPath, type WalFs } from "../io.ts";

/**
 * Replaces `dir/name` with `bytes` atomically and durably: write
 * `dir/name.tmp`, fsync it, rename it over `dir/name`, fsync `dir`. After a
 * crash at any step the file holds either its old or its new content.
 */
export function writeFileAtomic(fs: WalFs, dir: string, name: string, bytes: Uint8Array): void {
  const path = joinPath(dir, name);
  const tmp = path + ".tmp";
  removeIfExists(fs, tmp);
  const f = fs.open(tmp, "create");
  try {
    f.write(bytes, 0);
    f.sync();
  } finally {
    f.close();
  }
  fs.rename(tmp, path);
  fs.syncDir(dir);
}

/** Reads a whole small file, or `undefined` if it does not exist. */
export function readWholeFile(fs: WalFs, path: string, maxSize: number): Uint8Array | undefined {
  const st = fs.stat(path);
  if (st === undefined || !st.isFile) return undefined;
  const f = fs.open(path, "read");
  try {
    const size = Math.min(f.size(), maxSize);
    const b = new Uint8Array(size);
    const got = f.read(b, 0);
    return got === size ? b : b.subarray(0, got);
  } finally {
    f.close();
  }
}

/** Removes a file; true if it was there. */
export function removeIfExists(fs: WalFs, path: string): boolean {
  if (fs.stat(path) === undefined) return false;
  try {
    fs.remove(path);
    return true;
  } catch (e) {
    if (errorCode(e) === "ENOENT") return false;
    throw e;
  }
}
