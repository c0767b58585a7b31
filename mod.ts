/**
 * ironwal: a high-durability write-ahead log for Deno, Bun and Node.
 *
 * @example
 * ```ts
 * import { Wal } from "./mod.ts";
 * const wal = await Wal.open({ root: await Deno.makeTempDir(), syncMode: "strict" });
 * const id = await wal.append("logs", new TextEncoder().encode("hello"));
 * console.log(new TextDecoder().decode(await wal.get("logs", id)));
 * await wal.close();
 * ```
 *
 * @module
 */

import { setDefaultFs } from "./src/wal.ts";
import { registerNativeCrc32 } from "./src/format/crc32.ts";
import { defaultFs } from "./adapters/default.ts";

setDefaultFs(defaultFs);
const runtimeCrc = defaultFs().crc32;
if (runtimeCrc !== undefined) registerNativeCrc32(runtimeCrc);

export { TxnWriter, Wal } from "./src/wal.ts";
export type { IdRange, IterOptions, RecoveryInfo, WalEntry, WalStats } from "./src/wal.ts";
export { WalError } from "./src/errors.ts";
export type { WalErrorCode } from "./src/errors.ts";
export { validateOptions } from "./src/options.ts";
export type { Compression, OnCorruption, ReadStrategy, SyncMode, WalEvent, WalOptions } from "./src/options.ts";
export type { OpenMode, WalDirEntry, WalFile, WalFs, WalLock, WalMapping, WalStat } from "./src/io.ts";
export { crc32 } from "./src/format/crc32.ts";
export { lz4Compress, lz4Decompress } from "./src/codec/lz4.ts";
export { Record } from "./src/record.ts";
export type { WalRecord } from "./src/record.ts";
export { defaultFs } from "./adapters/default.ts";
export { ShardedWal } from "./src/sharded/sharded_wal.ts";
export type { CompactResult, PruneResult, ShardedAppendResult, ShardedRecovery, ShardedWalStats } from "./src/sharded/sharded_wal.ts";
export type { Checkpoint, CheckpointRecovery } from "./src/sharded/checkpoint_log.ts";
