;; CRC-32 of long spans for ironwal, written by hand in WebAssembly text:
;; reduction by a sparse multiple of the polynomial. Assembled at development
;; time by the `wabt` npm package (`npm run build:wasm`,
;; scripts/build-wasm.mjs) into src/format/crc32_sparse_wasm.generated.ts;
;; test/crc32_sparse.test.ts re-assembles this file and fails if the
;; committed bytes differ.
;;
;; The idea. A CRC is the remainder of the message polynomial modulo
;; P(x) (the IEEE polynomial), so adding any multiple of P to the message
;; leaves the CRC as it is. We found (by a meet-in-the-middle search over
;; x^i mod P) that
;;
;;     H(x) = 1 + x^89 + x^117 + x^155 + x^300
;;
;; is a multiple of P, and no multiple of weight 5 or less has a smaller
;; degree. Over GF(2), H(x)^128 = H(x^128), so G(x) = H(y) with y = x^128 is
;; a multiple of P too, and its terms are 128-bit blocks apart. Adding a
;; suitable shift of G to the message clears its first 16-byte block and XORs
;; that block, unchanged and bit-aligned, into the blocks 145, 183, 211 and
;; 300 places later (300 minus each lower exponent of H). Done block by
;; block, this clears everything but the last 300 blocks, whose CRC (taken by
;; the caller with any ordinary CRC-32) is then the CRC of the whole span.
;;
;; Written as a recurrence: the value v[j] a block has when its turn comes
;; (its own bytes plus all that earlier blocks passed on to it) is
;;
;;     v[j] = d[j] ^ v[j-145] ^ v[j-183] ^ v[j-211] ^ v[j-300]
;;
;; (v of a block before the span is 0), so each block costs five 128-bit
;; loads, four XORs and one store, with the
;; 300 values before it within 4.8 KB, in the L1 cache. No table, no
;; carry-less multiply (WebAssembly has none). The blocks kept at the end
;; receive only what cleared blocks pass on: v[j - k] for j - k in the
;; cleared part. (Passing each block on to the four later ones instead, the
;; first version, needs four loads and four stores per block: 12 GB/s against
;; 17 for the recurrence, on Node, the loop alone.)
;;
;; The preset and final inversion of CRC-32: a CRC started from register
;; value r equals a CRC started from 0 over the message with r XORed into its
;; first four bytes (little-endian, the reflected bit order). reset() puts r
;; (`mask`) in the first four bytes of the block 300 places before the span,
;; whose v the first block takes in (v[0] = d[0] ^ v[-300]) and no other
;; block does. The caller takes the CRC of what remains from register 0
;; (zlib seed 0xffffffff); leading zero blocks do not change a CRC started
;; from 0.
;;
;; Memory layout (the first 192 KiB; an arena, see _crc32_sparse.ts, grows
;; the memory to hold chunk buffers after them, which reduce reads in place):
;;   [68928, 73728)    HIST: v of the 300 blocks before the piece in hand
;;                     (zeros at the start of a span, but for the mask)
;;   [73728, 139264)   DATA: where reduce puts the v of a piece (up to 4096
;;                     blocks); the caller may copy the piece here first and
;;                     reduce it in place. At the end, the last 300 blocks and
;;                     the bytes after them (up to 15)
;; HIST ends where DATA starts, so v[j - k] is always 16 * k bytes before
;; block j's own place.
;;
;; Needs: SIMD (v128 loads and stores), bulk memory (memory.copy/fill).
(module
  (memory (export "memory") 3)

  ;; reset(mask): no block before a new span (v = 0), but for the mask the
  ;; first block takes in.
  (func (export "reset") (param $mask i32)
    (memory.fill (i32.const 68928) (i32.const 0) (i32.const 4800))
    (i32.store (i32.const 68928) (local.get $mask)))

  ;; reduce(src, n): puts the v of the n blocks at $src (1 <= n <= 4096) at
  ;; DATA, $src may be DATA itself. Then moves the v of the last 300 blocks
  ;; (from HIST as well, if n < 300) to HIST for the next piece.
  ;;
  ;; $p points 300 blocks before the block in hand, so all four loads of v
  ;; use non-negative offsets: v[j-300] at 0, v[j-211] at 1424, v[j-183] at
  ;; 1872, v[j-145] at 2480; v[j] goes to 4800.
  (func (export "reduce") (param $src i32) (param $n i32)
    (local $p i32) (local $end i32)
    (local.set $p (i32.const 68928))
    (local.set $end (i32.add (i32.const 68928) (i32.shl (local.get $n) (i32.const 4))))
    (loop $block
      (v128.store offset=4800 (local.get $p)
        (v128.xor
          (v128.xor (v128.load (local.get $src)) (v128.load (local.get $p)))
          (v128.xor
            (v128.xor (v128.load offset=1424 (local.get $p)) (v128.load offset=1872 (local.get $p)))
            (v128.load offset=2480 (local.get $p)))))
      (local.set $p (i32.add (local.get $p) (i32.const 16)))
      (local.set $src (i32.add (local.get $src) (i32.const 16)))
      (br_if $block (i32.lt_u (local.get $p) (local.get $end))))
    (memory.copy (i32.const 68928) (local.get $p) (i32.const 4800)))

  ;; XORs the blocks from $src up to $end (exclusive) into those from $dst.
  (func $xorInto (param $dst i32) (param $src i32) (param $end i32)
    (loop $block
      (v128.store (local.get $dst) (v128.xor (v128.load (local.get $dst)) (v128.load (local.get $src))))
      (local.set $dst (i32.add (local.get $dst) (i32.const 16)))
      (local.set $src (i32.add (local.get $src) (i32.const 16)))
      (br_if $block (i32.lt_u (local.get $src) (local.get $end)))))

  ;; finish(): XORs into the last 300 blocks, now at DATA, what the cleared
  ;; blocks (their v in HIST) pass on: kept block t receives HIST[t + 300 - k]
  ;; for k in 300, 211, 183, 145 where that index is below 300, that is HIST
  ;; from block 0, 89, 117 and 155 on, each to DATA's first blocks.
  (func (export "finish")
    (call $xorInto (i32.const 73728) (i32.const 68928) (i32.const 73728))
    (call $xorInto (i32.const 73728) (i32.const 70352) (i32.const 73728))
    (call $xorInto (i32.const 73728) (i32.const 70800) (i32.const 73728))
    (call $xorInto (i32.const 73728) (i32.const 71408) (i32.const 73728)))
)
