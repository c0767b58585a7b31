#!/usr/bin/env node
/**
 * The `ironwal` command: look into a WAL directory.
 *
 * ```
 * ironwal info   <root>                         streams, ids, segments, recovery report
 * ironwal dump   <root> <stream> [from] [to]    entries as JSON lines (utf8 when valid, else base64)
 * ironwal verify <root>                         read every entry, checking every CRC
 * ironwal truncate <root> <stream> <safeId>     delete segments whose ids are all below safeId
 * ```
 *
 * Opening takes the root's lock and, like any open, cuts a torn tail.
 * Exit status: 0 on success, 1 when verify finds damage, 2 on bad usage.
 *
 * @module
 */

import process from "node:process";
import { realpathSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { Wal, WalError } from "./mod.ts";

const USAGE = `usage:
  ironwal info <root>
  ironwal dump <root> <stream> [from] [to]
  ironwal verify <root>
  ironwal truncate <root> <stream> <safeId>`;

const utf8 = new TextDecoder("utf-8", { fatal: true });

function show(data: Uint8Array): { utf8: string } | { base64: string } {
  try {
    return { utf8: utf8.decode(data) };
  } catch {
    let s = "";
    for (const b of data) s += String.fromCharCode(b);
    return { base64: btoa(s) };
  }
}

function num(s: string | undefined, what: string, def: number): number {
  if (s === undefined) return def;
  const n = Number(s);
  if (!Number.isSafeInteger(n) || n < 0) throw new WalError("CONFIG", `${what} must be a non-negative integer, got ${s}`);
  return n;
}

/** Runs the command line `args`; returns the exit status. Output goes to `out`. */
export async function main(args: string[], out: (line: string) => void = console.log): Promise<number> {
  const [cmd, root, ...rest] = args;
  if (cmd === undefined || root === undefined || !["info", "dump", "verify", "truncate"].includes(cmd)) {
    out(USAGE);
    return 2;
  }
  const wal = await Wal.open({ root, syncMode: "strict" });
  try {
    if (cmd === "info") {
      const streams = wal.streams().map((s) => ({ stream: s, firstId: wal.firstId(s), nextId: wal.nextId(s) }));
      out(JSON.stringify({ root, streams, recovery: wal.recovery }, null, 2));
      return 0;
    }
    if (cmd === "dump") {
      const stream = rest[0];
      if (stream === undefined) {
        out(USAGE);
        return 2;
      }
      const from = num(rest[1], "from", 0);
      const to = num(rest[2], "to", Number.MAX_SAFE_INTEGER);
      for (const { id, data } of wal.iterSync(stream, from)) {
        if (id >= to) break;
        out(JSON.stringify({ id, ...show(data) }));
      }
      return 0;
    }
    if (cmd === "verify") {
      let bad = 0;
      for (const s of wal.streams()) {
        let n = 0;
        try {
          for (const _ of wal.iterSync(s, 0)) n++;
          out(`ok     ${JSON.stringify(s)}: ${n} entries from id ${wal.firstId(s)}`);
        } catch (e) {
          bad++;
          out(`DAMAGE ${JSON.stringify(s)}: after ${n} entries: ${e instanceof Error ? e.message : String(e)}`);
        }
      }
      return bad === 0 ? 0 : 1;
    }
    const [stream, safe] = rest;
    if (stream === undefined || safe === undefined) {
      out(USAGE);
      return 2;
    }
    out(`deleted ${await wal.truncate(stream, num(safe, "safeId", 0))} segment files`);
    return 0;
  } finally {
    await wal.close();
  }
}

function invokedDirectly(): boolean {
  const m = (import.meta as ImportMeta & { main?: boolean }).main;
  if (m !== undefined) return m;
  try {
    return process.argv[1] !== undefined &&
      realpathSync(process.argv[1]) === realpathSync(fileURLToPath(import.meta.url));
  } catch {
    return false;
  }
}

if (invokedDirectly()) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (e) => {
      console.error(e instanceof WalError ? `ironwal: ${e.code}: ${e.message}` : e);
      process.exit(e instanceof WalError && e.code === "CONFIG" ? 2 : 1);
    },
  );
}
