import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { main } from "../cli.ts";
import { Wal } from "../mod.ts";

const enc = new TextEncoder();

async function run(args: string[]): Promise<{ code: number; lines: string[] }> {
  const lines: string[] = [];
  const code = await main(args, (l) => lines.push(l));
  return { code, lines };
}

describe("cli", () => {
  it("info, dump, verify and truncate a real WAL", async () => {
    const root = mkdtempSync(join(tmpdir(), "ironwal-cli-"));
    try {
      const wal = await Wal.open({ root, syncMode: "async", maxEntriesPerSegment: 2 });
      for (let i = 0; i < 5; i++) await wal.append("a/b", enc.encode(`entry ${i}`));
      await wal.append("bin", new Uint8Array([0xff, 0xfe]));
      await wal.close();

      const info = await run(["info", root]);
      assert.equal(info.code, 0);
      const parsed = JSON.parse(info.lines.join("\n"));
      assert.deepEqual(parsed.streams, [
        { stream: "a/b", firstId: 0, nextId: 5 },
        { stream: "bin", firstId: 0, nextId: 1 },
      ]);

      const dump = await run(["dump", root, "a/b", "1", "3"]);
      assert.equal(dump.code, 0);
      assert.deepEqual(dump.lines.map((l) => JSON.parse(l)), [
        { id: 1, utf8: "entry 1" },
        { id: 2, utf8: "entry 2" },
      ]);
      const bin = await run(["dump", root, "bin"]);
      assert.deepEqual(JSON.parse(bin.lines[0]), { id: 0, base64: "//4=" });

      const verify = await run(["verify", root]);
      assert.equal(verify.code, 0);
      assert.equal(verify.lines.length, 2);
      assert.match(verify.lines[0], /^ok\s+"a\/b": 5 entries/);

      const trunc = await run(["truncate", root, "a/b", "4"]);
      assert.equal(trunc.code, 0);
      assert.deepEqual(trunc.lines, ["deleted 2 segment files"]);
      const after = await run(["dump", root, "a/b"]);
      assert.deepEqual(after.lines.map((l) => JSON.parse(l).id), [4]);

      assert.equal((await run(["nonsense"])).code, 2);
      assert.equal((await run(["dump", root])).code, 2);
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });
});
