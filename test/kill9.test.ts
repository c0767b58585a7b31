// Real process kills (issue 3 item 4): a child of the same runtime appends in
// strict mode and prints each acknowledged id; the parent SIGKILLs it at a
// random moment (after a random number of acks, or during startup and
// recovery), reopens the directory (the dead child's LOCK must not block)
// and checks every acknowledged entry is there, intact, with contiguous ids.
// One directory across cycles: each child recovers and continues.

import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import * as nodeFs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { Wal } from "../mod.ts";
import { seededRng } from "../adapters/faulty.ts";
import { killEntry } from "./_kill_entry.ts";

const CYCLES = Number(process.env.KILL_CYCLES ?? 50);

function childCommand(dir: string): [string, string[]] {
  const g = globalThis as { Deno?: unknown };
  if (g.Deno !== undefined) return [process.execPath, ["run", "-A", fileURLToPath(new URL("./_kill_child.ts", import.meta.url)), dir]];
  if (process.versions.bun !== undefined) return [process.execPath, [fileURLToPath(new URL("./_kill_child.ts", import.meta.url)), dir]];
  return [process.execPath, [fileURLToPath(new URL("./_kill_child.js", import.meta.url)), dir]];
}

/** Runs one child; kills it with SIGKILL after `killAfterAcks` acks (or `killAfterMs`). Resolves with the acked ids. */
function cycle(dir: string, killAfterAcks: number, killAfterMs: number | undefined): Promise<{ acked: number[]; start: number; out: string }> {
  return new Promise((resolve, reject) => {
    const [cmd, args] = childCommand(dir);
    const child = spawn(cmd, args, { stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, DENO_NO_UPDATE_CHECK: "1" } });
    const acked: number[] = [];
    let start = -1;
    let buf = "";
    let err = "";
    let killed = false;
    const kill = () => {
      if (!killed) {
        killed = true;
        child.kill("SIGKILL");
      }
    };
    const guard = setTimeout(() => {
      kill();
      reject(new Error(`child made no progress in 30 s: ${err}`));
    }, 30_000);
    if (killAfterMs !== undefined) setTimeout(kill, killAfterMs);
    child.stderr.on("data", (d) => (err += d));
    child.stdout.on("data", (d) => {
      buf += d;
      let i;
      while ((i = buf.indexOf("\n")) >= 0) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 1);
        if (line.startsWith("ready ")) start = Number(line.slice(6));
        else if (/^\d+$/.test(line)) acked.push(Number(line));
        else err += line + "\n";
        if (acked.length >= killAfterAcks) kill();
      }
    });
    child.on("close", (code, signal) => {
      clearTimeout(guard);
      if (!killed) reject(new Error(`child exited by itself (code ${code}, signal ${signal}): ${err}`));
      else resolve({ acked, start, out: err });
    });
  });
}

describe("kill -9: real process kills of a strict-mode writer", () => {
  it(`${CYCLES} SIGKILL cycles on one directory: every acknowledged entry survives, ids contiguous, stale LOCK never blocks`, { timeout: 300_000 }, async () => {
    const dir = nodeFs.mkdtempSync(path.join(os.tmpdir(), "ironwal-kill9-"));
    const rng = seededRng(Number(process.env.IRONWAL_SEED ?? 9));
    let maxAcked = -1;
    let totalAcks = 0;
    let earlyKills = 0;
    const t0 = Date.now();
    try {
      for (let c = 0; c < CYCLES; c++) {
        const early = rng() < 0.2;
        if (early) earlyKills++;
        const res = await cycle(dir, early ? Infinity : 1 + Math.floor(rng() * 60), early ? Math.floor(rng() * 150) : undefined);
        totalAcks += res.acked.length;
        // The child's first id is above every id acknowledged by earlier children.
        if (res.start >= 0) assert.ok(res.start > maxAcked, `cycle ${c}: child started at ${res.start}, id ${maxAcked} was acknowledged`);
        for (const id of res.acked) maxAcked = Math.max(maxAcked, id);
        // The killed child's LOCK is stale: opening must take it over at once.
        const wal = await Wal.open({ root: dir, syncMode: "strict", maxSegmentSize: 4096, onCorruption: "error" });
        try {
          assert.equal(wal.recovery.corruptionDetected, false, `cycle ${c}: ${wal.recovery.repairs.join("; ")}`);
          const next = wal.nextId("k");
          assert.ok(next > maxAcked, `cycle ${c}: acked id ${maxAcked} missing (nextId ${next})`);
          let expect = 0;
          for (const { id, data } of wal.iterSync("k", 0)) {
            assert.equal(id, expect, `cycle ${c}: ids not contiguous`);
            assert.deepEqual(data, killEntry(id), `cycle ${c}: entry ${id} damaged`);
            expect++;
          }
          assert.equal(expect, next);
        } finally {
          await wal.close();
        }
      }
      console.log(
        `kill9: ${CYCLES} SIGKILL cycles (${earlyKills} during startup/recovery), ${totalAcks} acknowledged appends, ` +
          `max id ${maxAcked}, ${Date.now() - t0} ms`,
      );
    } finally {
      nodeFs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
