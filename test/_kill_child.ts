// Child of test/kill9.test.ts: opens a Wal (strict) on the directory given as
// the last argument, appends entries whose bytes derive from their id, four
// at a time, and prints each acknowledged (fsynced) id on its own line until
// it is killed. Run by Deno/Bun as is and by Node as npm/test/_kill_child.js.

import process from "node:process";
import { Wal } from "../mod.ts";
import { killEntry } from "./_kill_entry.ts";

const dir = process.argv[process.argv.length - 1];
const wal = await Wal.open({ root: dir, syncMode: "strict", maxSegmentSize: 4096 });
let next = wal.nextId("k");
process.stdout.write(`ready ${next}\n`);
for (;;) {
  const ps: Promise<number>[] = [];
  for (let i = 0; i < 4; i++) {
    const id = next++;
    ps.push(wal.append("k", killEntry(id)).then((got) => {
      if (got !== id) {
        process.stdout.write(`bad id ${got} expected ${id}\n`);
        process.exit(3);
      }
      process.stdout.write(`${got}\n`);
      return got;
    }));
  }
  await Promise.all(ps);
}
