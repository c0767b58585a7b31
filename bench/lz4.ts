/**
 * Codec benchmark: LZ4 (ours) and DEFLATE (fflate) on ~16 MiB of
 * deterministic JSON-like text. MB/s are 10^6 bytes of uncompressed data per
 * second, the best of several timed runs after a warm-up.
 *
 * Run directly: `deno run -A bench/lz4.ts`, `bun bench/lz4.ts`, or compile
 * with tsc and `node npm/bench/lz4.js`.
 *
 * @module
 */

import { lz4Compress, lz4CompressBlock, lz4Decompress, lz4DecompressBlock } from "../src/codec/lz4.ts";
import { setLz4WasmEnabled } from "../src/codec/_lz4_block_wasm.ts";
import { deflateRaw, inflateRaw } from "../src/codec/deflate.ts";

/**
 * Deterministic JSON-like text (log/event records) of about `size` bytes,
 * from a fixed-seed PRNG: the same bytes on every runtime and every run.
 *
 * @param size The approximate number of bytes wanted; the result is exactly `size` bytes.
 * @returns UTF-8 JSON lines.
 *
 * @example
 * ```ts
 * import { jsonLikeText } from "./lz4.ts";
 * console.log(jsonLikeText(1000).length); // 1000
 * ```
 */
export function jsonLikeText(size: number): Uint8Array {
  let s = 0x9e3779b9;
  const rnd = (n: number): number => {
    // mulberry32
    s = (s + 0x6d2b79f5) | 0;
    let t = Math.imul(s ^ (s >>> 15), 1 | s);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return (((t ^ (t >>> 14)) >>> 0) % n);
  };
  const words = [
    "alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "ledger", "account", "transfer",
    "pending", "settled", "refund", "invoice", "customer", "region", "eu-west-1", "us-east-2",
    "payment", "order", "shipment", "warehouse", "error", "timeout", "retry", "success",
  ];
  const statuses = ["ok", "ok", "ok", "failed", "retrying", "queued"];
  const enc = new TextEncoder();
  const out = new Uint8Array(size);
  let pos = 0;
  let id = 1_000_000;
  let ts = 1_700_000_000_000;
  while (pos < size) {
    id += 1 + rnd(3);
    ts += rnd(5000);
    const msgWords: string[] = [];
    for (let i = 0, k = 3 + rnd(8); i < k; i++) msgWords.push(words[rnd(words.length)]);
    const rec = {
      id,
      ts,
      user: `user_${rnd(5000)}`,
      email: `user${rnd(5000)}@example.com`,
      status: statuses[rnd(statuses.length)],
      amount: (rnd(1_000_000) / 100).toFixed(2),
      currency: rnd(4) === 0 ? "EUR" : "USD",
      tags: [words[rnd(words.length)], words[rnd(words.length)]],
      msg: msgWords.join(" "),
      trace: rnd(0x7fffffff).toString(16).padStart(8, "0"),
    };
    const line = enc.encode(JSON.stringify(rec) + "\n");
    const n = Math.min(line.length, size - pos);
    out.set(line.subarray(0, n), pos);
    pos += n;
  }
  return out;
}

function bestMBps(bytes: number, fn: () => unknown, minMs = 600, minRuns = 3): number {
  fn(); // warm-up
  let best = Infinity;
  let runs = 0;
  const t0 = performance.now();
  while (runs < minRuns || performance.now() - t0 < minMs) {
    const a = performance.now();
    fn();
    const dt = performance.now() - a;
    if (dt < best) best = dt;
    runs++;
  }
  return bytes / 1e6 / (best / 1000);
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/**
 * Measures the codecs on 16 MiB of JSON-like text and prints a table.
 *
 * Keys: `lz4CompressMBps`, `lz4DecompressMBps`, `lz4Ratio` (frame API,
 * 4 MiB blocks); `lz4BlockCompressMBps`, `lz4BlockDecompressMBps`,
 * `lz4BlockRatio` (raw blocks of 64 KiB, as a WAL would store payloads);
 * `lz4TsCompressMBps`, `lz4TsDecompressMBps` (frame API with the
 * WebAssembly codec switched off: the TypeScript codec, for comparison);
 * `deflateMBps`, `inflateMBps`, `deflateRatio` (fflate, level 1) and the same
 * with `deflate6` for level 6. Ratio is uncompressed / compressed size.
 *
 * @returns The measurements by key.
 *
 * @example
 * ```ts
 * import { benchCodecs } from "./lz4.ts";
 * const r = await benchCodecs();
 * console.log(r.lz4CompressMBps > 0);
 * ```
 */
// deno-lint-ignore require-await
export async function benchCodecs(): Promise<Record<string, number>> {
  const data = jsonLikeText(16 * 1024 * 1024);
  const n = data.length;
  const r: Record<string, number> = {};

  const frame = lz4Compress(data);
  if (!sameBytes(lz4Decompress(frame), data)) throw new Error("lz4 frame round trip failed");
  r.lz4CompressMBps = bestMBps(n, () => lz4Compress(data));
  r.lz4DecompressMBps = bestMBps(n, () => lz4Decompress(frame));
  r.lz4Ratio = n / frame.length;

  const CHUNK = 65536;
  const chunks: Uint8Array[] = [];
  for (let i = 0; i < n; i += CHUNK) chunks.push(data.subarray(i, Math.min(n, i + CHUNK)));
  const scratch = new Uint8Array(CHUNK + 1024);
  const blocks = chunks.map((c) => lz4CompressBlock(c).slice());
  let blockBytes = 0;
  for (const b of blocks) blockBytes += b.length;
  r.lz4BlockCompressMBps = bestMBps(n, () => {
    for (const c of chunks) lz4CompressBlock(c, scratch);
  });
  const outs = chunks.map((c) => new Uint8Array(c.length));
  r.lz4BlockDecompressMBps = bestMBps(n, () => {
    for (let i = 0; i < blocks.length; i++) lz4DecompressBlock(blocks[i], outs[i]);
  });
  r.lz4BlockRatio = n / blockBytes;

  // The same frames through the TypeScript block codec (same bytes, slower).
  const was = setLz4WasmEnabled(false);
  try {
    const tsFrame = lz4Compress(data);
    if (!sameBytes(tsFrame, frame)) throw new Error("the TS and WASM LZ4 codecs wrote different frames");
    r.lz4TsCompressMBps = bestMBps(n, () => lz4Compress(data));
    r.lz4TsDecompressMBps = bestMBps(n, () => lz4Decompress(frame));
  } finally {
    setLz4WasmEnabled(was);
  }

  for (const level of [1, 6] as const) {
    const key = level === 1 ? "deflate" : "deflate6";
    const d = deflateRaw(data, level);
    if (!sameBytes(inflateRaw(d, n), data)) throw new Error("deflate round trip failed");
    r[`${key}MBps`] = bestMBps(n, () => deflateRaw(data, level), 300, 2);
    r[`${key === "deflate" ? "inflate" : "inflate6"}MBps`] = bestMBps(n, () => inflateRaw(d, n), 300, 2);
    r[`${key}Ratio`] = n / d.length;
  }

  const f = (x: number) => x.toFixed(0).padStart(9);
  const g = (x: number) => x.toFixed(2).padStart(7);
  const rows = [
    ["lz4 frame (4 MiB blocks)", r.lz4CompressMBps, r.lz4DecompressMBps, r.lz4Ratio],
    ["lz4 raw blocks (64 KiB)", r.lz4BlockCompressMBps, r.lz4BlockDecompressMBps, r.lz4BlockRatio],
    ["lz4 frame, TS codec", r.lz4TsCompressMBps, r.lz4TsDecompressMBps, r.lz4Ratio],
    ["deflate level 1 (fflate)", r.deflateMBps, r.inflateMBps, r.deflateRatio],
    ["deflate level 6 (fflate)", r.deflate6MBps, r.inflate6MBps, r.deflate6Ratio],
  ] as const;
  console.log(`codecs on ${(n / 1048576).toFixed(0)} MiB of JSON-like text (MB/s of input, best run)`);
  console.log(`${"codec".padEnd(26)}${"compress".padStart(9)}${"decomp.".padStart(9)}${"ratio".padStart(7)}`);
  for (const [name, c, d, ratio] of rows) console.log(`${name.padEnd(26)}${f(c)}${f(d)}${g(ratio)}`);
  return r;
}

function runDirectly(): boolean {
  const meta = import.meta as ImportMeta & { main?: boolean };
  if (meta.main === true) return true;
  const argv1 = (globalThis as { process?: { argv?: string[] } }).process?.argv?.[1];
  return argv1 !== undefined && decodeURIComponent(meta.url).endsWith(argv1.replace(/\\/g, "/"));
}

if (runDirectly()) await benchCodecs();
