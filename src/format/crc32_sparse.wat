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
;; It needs nothing but 128-bit loads, XORs and stores, four of each per
;; block: no table, no carry-less multiply (WebAssembly has none).
;;
;; The preset and final inversion of CRC-32: a CRC started from register
;; value r equals a CRC started from 0 over the message with r XORed into its
;; first four bytes (little-endian, the reflected bit order). The caller
;; passes r as `mask` with the first piece and takes the CRC of what remains
;; from register 0 (zlib seed 0xffffffff); leading zero blocks do not change a
;; CRC started from 0.
;;
;; Memory layout (fixed; 192 KiB, never grown):
;;   [0, 70336)        ACC: the XOR still owed to each block, for the piece
;;                     in hand (4096 blocks) plus the 300 blocks after it
;;   [73728, 139264)   DATA: the piece being reduced (up to 4096 blocks),
;;                     copied in by the caller; at the end, the last 300
;;                     blocks and the bytes after them (up to 15)
;;
;; Needs: SIMD (v128 loads and stores), bulk memory (memory.copy/fill).
(module
  (memory (export "memory") 3 3)

  ;; reset(): nothing owed yet to the first 300 blocks of a new span.
  (func (export "reset")
    (memory.fill (i32.const 0) (i32.const 0) (i32.const 4800)))

  ;; reduce(n, mask): clears the n blocks at DATA (1 <= n <= 4096), each
  ;; after XORing into it what earlier blocks owe it, and passes it on to the
  ;; blocks 145, 183, 211 and 300 later; `mask` is first XORed into the first
  ;; four bytes at DATA (0 for every piece but a span's first). Then moves
  ;; what is owed to the 300 blocks after the piece to the front of ACC.
  ;;
  ;; A block receives first from the block 300 before it, so that target is
  ;; stored, not updated: this also overwrites whatever an earlier piece or
  ;; span left there. ACC[0, 4800) always holds what is owed on entry.
  (func (export "reduce") (param $n i32) (param $mask i32)
    (local $d i32) (local $a i32) (local $end i32) (local $v v128)
    (i32.store (i32.const 73728) (i32.xor (i32.load (i32.const 73728)) (local.get $mask)))
    (local.set $d (i32.const 73728))
    (local.set $a (i32.const 0))
    (local.set $end (i32.add (i32.const 73728) (i32.shl (local.get $n) (i32.const 4))))
    (loop $block
      (local.set $v (v128.xor (v128.load (local.get $d)) (v128.load (local.get $a))))
      (v128.store offset=4800 (local.get $a) (local.get $v))
      (v128.store offset=3376 (local.get $a) (v128.xor (v128.load offset=3376 (local.get $a)) (local.get $v)))
      (v128.store offset=2928 (local.get $a) (v128.xor (v128.load offset=2928 (local.get $a)) (local.get $v)))
      (v128.store offset=2320 (local.get $a) (v128.xor (v128.load offset=2320 (local.get $a)) (local.get $v)))
      (local.set $a (i32.add (local.get $a) (i32.const 16)))
      (local.set $d (i32.add (local.get $d) (i32.const 16)))
      (br_if $block (i32.lt_u (local.get $d) (local.get $end))))
    (memory.copy (i32.const 0) (local.get $a) (i32.const 4800)))

  ;; finish(): XORs what is owed into the last 300 blocks, now at DATA.
  (func (export "finish")
    (local $i i32)
    (loop $block
      (v128.store offset=73728 (local.get $i)
        (v128.xor (v128.load offset=73728 (local.get $i)) (v128.load (local.get $i))))
      (local.set $i (i32.add (local.get $i) (i32.const 16)))
      (br_if $block (i32.lt_u (local.get $i) (i32.const 4800)))))
)
