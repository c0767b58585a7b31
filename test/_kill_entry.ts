/** The bytes of entry `id` in test/kill9.test.ts: its id, then a pattern of a length derived from it. */
export function killEntry(id: number): Uint8Array {
  const n = 8 + (id * 37) % 300;
  const b = new Uint8Array(n);
  new DataView(b.buffer).setFloat64(0, id);
  for (let i = 8; i < n; i++) b[i] = (id * 7 + i) & 0xff;
  return b;
}
