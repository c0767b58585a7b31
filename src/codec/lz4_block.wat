;; LZ4 block compressor and decompressor for ironwal, written by hand in
;; WebAssembly text. Assembled at development time by the `wabt` npm package
;; (`npm run build:wasm`, scripts/build-wasm.mjs) into
;; src/codec/lz4_block_wasm.generated.ts; test/lz4_wasm.test.ts re-assembles
;; this file and fails if the committed bytes differ.
;;
;; Only the two hot loops live here. The frame format, xxHash32, memory
;; management and every error message are TypeScript (src/codec/lz4.ts,
;; src/codec/_lz4_block_wasm.ts); the algorithms are the same as the TS
;; codec's in src/codec/_lz4_block_js.ts, which writes the same bytes.
;;
;; Needs: SIMD (v128 loads and stores), bulk memory (memory.copy/fill),
;; mutable exported globals.
;;
;; Memory layout (the TS caller places the data; this module only assumes
;; the first region):
;;   [0, 65536)        the compressor's hash table: 16384 u32 entries
;;   [65536, 131072)   decompression: the last 64 KiB of earlier output
;;                     (linked blocks), placed just before the output
;;   [131072, ...)     input and output regions, chosen by the caller, each
;;                     followed by at least 64 bytes of slack
;;
;; Wild copies. Both loops copy 16 or 32 bytes at a time and may read up to
;; 16 bytes past the end of the input and write up to 32 bytes past the end
;; of the output (into the slack, or into output bytes that are written again
;; later). Every length is checked exactly before it is used; the wide copies
;; never change what is decoded.
(module
  ;; 256 KiB to start with, 16 MiB at most: blocks of up to 4 MiB (the frame
  ;; format's largest) fit; the TS side sends larger blocks to the TS codec.
  (memory (export "memory") 4 256)

  ;; The compressor's generation counter: a hash table entry holds
  ;; `position + delta`, where `delta` makes the first byte of every call
  ;; `base`, and `base` moves on by the input length + 64 KiB for each call.
  ;; An entry left by an earlier call therefore always looks more than 65535
  ;; bytes away and is never used, so the table needs no clearing per call
  ;; (only when the counter would overflow).
  (global $base (mut i32) (i32.const 65536))

  ;; Where and why the decompressor failed (see $decompress).
  (global $err_ip (export "err_ip") (mut i32) (i32.const 0))
  (global $err_a (export "err_a") (mut i32) (i32.const 0))
  (global $err_op (export "err_op") (mut i32) (i32.const 0))

  ;; -------------------------------------------------------------------------
  ;; compress(src, len, dst) -> bytes written
  ;;
  ;; Compresses [src, src + len) as one independent LZ4 block at dst, which
  ;; must have lz4BlockBound(len) + 64 bytes. The greedy parse of the
  ;; reference implementation (LZ4_compress_fast, acceleration 1): 4-byte
  ;; hashes into 16384 entries, a step that grows by one every 64 misses,
  ;; backward extension over pending literals, an immediate re-check after
  ;; each match. Hash: (4 bytes * 2654435761) >>> 18, scaled by 4 into a byte
  ;; offset of the table: ((x * 2654435761) >>> 16) & 0xfffc.
  ;; -------------------------------------------------------------------------
  (func $compress (export "compress") (param $src i32) (param $len i32) (param $dst i32) (result i32)
    (local $end i32) (local $anchor i32) (local $op i32)
    (local $delta i32) (local $mflimit i32) (local $matchlimit i32)
    (local $ip i32) (local $fwdIp i32) (local $fwdH i32) (local $h i32)
    (local $step i32) (local $nb i32) (local $ref i32) (local $dist i32)
    (local $lit i32) (local $tokenPos i32) (local $token i32) (local $ml i32)
    (local $p i32) (local $q i32) (local $e i32) (local $diff i64)
    (local.set $end (i32.add (local.get $src) (local.get $len)))
    (local.set $anchor (local.get $src))
    (local.set $op (local.get $dst))
    (block $last
      ;; Blocks shorter than 13 bytes are literals only.
      (br_if $last (i32.lt_u (local.get $len) (i32.const 13)))
      (if (i32.gt_s (global.get $base)
                    (i32.sub (i32.sub (i32.const 0x7fffffff) (local.get $len)) (i32.const 65537)))
        (then
          (memory.fill (i32.const 0) (i32.const 0) (i32.const 65536))
          (global.set $base (i32.const 65536))))
      (local.set $delta (i32.sub (global.get $base) (local.get $src)))
      (global.set $base (i32.add (global.get $base) (i32.add (local.get $len) (i32.const 65536))))
      ;; The last match must start 12 bytes before the end and stop 5 before it.
      (local.set $mflimit (i32.sub (local.get $end) (i32.const 12)))
      (local.set $matchlimit (i32.sub (local.get $end) (i32.const 5)))

      (local.set $ip (local.get $src))
      (i32.store
        (i32.and (i32.shr_u (i32.mul (i32.load (local.get $ip)) (i32.const 0x9e3779b1)) (i32.const 16))
                 (i32.const 0xfffc))
        (i32.add (local.get $ip) (local.get $delta)))
      (local.set $ip (i32.add (local.get $ip) (i32.const 1)))
      (local.set $fwdH
        (i32.and (i32.shr_u (i32.mul (i32.load (local.get $ip)) (i32.const 0x9e3779b1)) (i32.const 16))
                 (i32.const 0xfffc)))

      (loop $outer
        ;; Find a 4-byte match, stepping faster through data that has none.
        (local.set $fwdIp (local.get $ip))
        (local.set $step (i32.const 1))
        (local.set $nb (i32.const 64))
        (loop $search
          (local.set $h (local.get $fwdH))
          (local.set $ip (local.get $fwdIp))
          (local.set $fwdIp (i32.add (local.get $fwdIp) (local.get $step)))
          (local.set $step (i32.shr_u (local.get $nb) (i32.const 6)))
          (local.set $nb (i32.add (local.get $nb) (i32.const 1)))
          (br_if $last (i32.gt_u (local.get $fwdIp) (local.get $mflimit)))
          (local.set $dist
            (i32.sub (i32.add (local.get $ip) (local.get $delta)) (i32.load (local.get $h))))
          (local.set $fwdH
            (i32.and (i32.shr_u (i32.mul (i32.load (local.get $fwdIp)) (i32.const 0x9e3779b1)) (i32.const 16))
                     (i32.const 0xfffc)))
          (i32.store (local.get $h) (i32.add (local.get $ip) (local.get $delta)))
          (br_if $search (i32.gt_u (local.get $dist) (i32.const 65535)))
          (local.set $ref (i32.sub (local.get $ip) (local.get $dist)))
          (br_if $search (i32.ne (i32.load (local.get $ref)) (i32.load (local.get $ip)))))

        ;; Extend the match backwards over the pending literals.
        (block $bdone
          (loop $back
            (br_if $bdone (i32.le_u (local.get $ip) (local.get $anchor)))
            (br_if $bdone (i32.le_u (local.get $ref) (local.get $src)))
            (br_if $bdone
              (i32.ne (i32.load8_u (i32.sub (local.get $ip) (i32.const 1)))
                      (i32.load8_u (i32.sub (local.get $ref) (i32.const 1)))))
            (local.set $ip (i32.sub (local.get $ip) (i32.const 1)))
            (local.set $ref (i32.sub (local.get $ref) (i32.const 1)))
            (br $back)))

        ;; Token and literal length.
        (local.set $lit (i32.sub (local.get $ip) (local.get $anchor)))
        (local.set $tokenPos (local.get $op))
        (local.set $op (i32.add (local.get $op) (i32.const 1)))
        (if (i32.ge_u (local.get $lit) (i32.const 15))
          (then
            (local.set $token (i32.const 0xf0))
            (local.set $e (i32.sub (local.get $lit) (i32.const 15)))
            (block $ldone
              (loop $lext
                (br_if $ldone (i32.lt_u (local.get $e) (i32.const 255)))
                (i32.store8 (local.get $op) (i32.const 255))
                (local.set $op (i32.add (local.get $op) (i32.const 1)))
                (local.set $e (i32.sub (local.get $e) (i32.const 255)))
                (br $lext)))
            (i32.store8 (local.get $op) (local.get $e))
            (local.set $op (i32.add (local.get $op) (i32.const 1))))
          (else
            (local.set $token (i32.shl (local.get $lit) (i32.const 4)))))

        ;; Literals, 16 bytes at a time (wild).
        (local.set $p (local.get $anchor))
        (local.set $q (local.get $op))
        (local.set $e (i32.add (local.get $op) (local.get $lit)))
        (loop $lcopy
          (v128.store (local.get $q) (v128.load (local.get $p)))
          (local.set $p (i32.add (local.get $p) (i32.const 16)))
          (local.set $q (i32.add (local.get $q) (i32.const 16)))
          (br_if $lcopy (i32.lt_u (local.get $q) (local.get $e))))
        (local.set $op (local.get $e))

        (loop $match
          ;; Offset, then the match length (the first 4 bytes are known equal).
          (i32.store16 (local.get $op) (i32.sub (local.get $ip) (local.get $ref)))
          (local.set $op (i32.add (local.get $op) (i32.const 2)))
          (local.set $p (i32.add (local.get $ip) (i32.const 4)))
          (local.set $q (i32.add (local.get $ref) (i32.const 4)))
          (block $mdone
            (block $mtail
              (loop $m8
                (br_if $mtail (i32.gt_u (i32.add (local.get $p) (i32.const 8)) (local.get $matchlimit)))
                (local.set $diff (i64.xor (i64.load (local.get $p)) (i64.load (local.get $q))))
                (if (i64.ne (local.get $diff) (i64.const 0))
                  (then
                    (local.set $p
                      (i32.add (local.get $p)
                               (i32.shr_u (i32.wrap_i64 (i64.ctz (local.get $diff))) (i32.const 3))))
                    (br $mdone)))
                (local.set $p (i32.add (local.get $p) (i32.const 8)))
                (local.set $q (i32.add (local.get $q) (i32.const 8)))
                (br $m8)))
            (loop $m1
              (br_if $mdone (i32.ge_u (local.get $p) (local.get $matchlimit)))
              (br_if $mdone (i32.ne (i32.load8_u (local.get $p)) (i32.load8_u (local.get $q))))
              (local.set $p (i32.add (local.get $p) (i32.const 1)))
              (local.set $q (i32.add (local.get $q) (i32.const 1)))
              (br $m1)))
          (local.set $ml (i32.sub (i32.sub (local.get $p) (local.get $ip)) (i32.const 4)))
          (local.set $ip (local.get $p))
          (if (i32.ge_u (local.get $ml) (i32.const 15))
            (then
              (local.set $token (i32.or (local.get $token) (i32.const 15)))
              (local.set $ml (i32.sub (local.get $ml) (i32.const 15)))
              (block $xdone
                (loop $xext
                  (br_if $xdone (i32.lt_u (local.get $ml) (i32.const 255)))
                  (i32.store8 (local.get $op) (i32.const 255))
                  (local.set $op (i32.add (local.get $op) (i32.const 1)))
                  (local.set $ml (i32.sub (local.get $ml) (i32.const 255)))
                  (br $xext)))
              (i32.store8 (local.get $op) (local.get $ml))
              (local.set $op (i32.add (local.get $op) (i32.const 1))))
            (else
              (local.set $token (i32.or (local.get $token) (local.get $ml)))))
          (i32.store8 (local.get $tokenPos) (local.get $token))
          (local.set $anchor (local.get $ip))
          (br_if $last (i32.gt_u (local.get $ip) (local.get $mflimit)))

          ;; Fill the table at ip - 2 and try an immediate match at ip.
          (local.set $p (i32.sub (local.get $ip) (i32.const 2)))
          (i32.store
            (i32.and (i32.shr_u (i32.mul (i32.load (local.get $p)) (i32.const 0x9e3779b1)) (i32.const 16))
                     (i32.const 0xfffc))
            (i32.add (local.get $p) (local.get $delta)))
          (local.set $h
            (i32.and (i32.shr_u (i32.mul (i32.load (local.get $ip)) (i32.const 0x9e3779b1)) (i32.const 16))
                     (i32.const 0xfffc)))
          (local.set $dist
            (i32.sub (i32.add (local.get $ip) (local.get $delta)) (i32.load (local.get $h))))
          (i32.store (local.get $h) (i32.add (local.get $ip) (local.get $delta)))
          (if (i32.le_u (local.get $dist) (i32.const 65535))
            (then
              (local.set $ref (i32.sub (local.get $ip) (local.get $dist)))
              (if (i32.eq (i32.load (local.get $ref)) (i32.load (local.get $ip)))
                (then
                  ;; A match with no literals before it.
                  (local.set $tokenPos (local.get $op))
                  (local.set $op (i32.add (local.get $op) (i32.const 1)))
                  (local.set $token (i32.const 0))
                  (br $match))))))
        (local.set $ip (i32.add (local.get $ip) (i32.const 1)))
        (local.set $fwdH
          (i32.and (i32.shr_u (i32.mul (i32.load (local.get $ip)) (i32.const 0x9e3779b1)) (i32.const 16))
                   (i32.const 0xfffc)))
        (br $outer)))

    ;; Last literals.
    (local.set $lit (i32.sub (local.get $end) (local.get $anchor)))
    (if (i32.ge_u (local.get $lit) (i32.const 15))
      (then
        (i32.store8 (local.get $op) (i32.const 0xf0))
        (local.set $op (i32.add (local.get $op) (i32.const 1)))
        (local.set $e (i32.sub (local.get $lit) (i32.const 15)))
        (block $fdone
          (loop $fext
            (br_if $fdone (i32.lt_u (local.get $e) (i32.const 255)))
            (i32.store8 (local.get $op) (i32.const 255))
            (local.set $op (i32.add (local.get $op) (i32.const 1)))
            (local.set $e (i32.sub (local.get $e) (i32.const 255)))
            (br $fext)))
        (i32.store8 (local.get $op) (local.get $e))
        (local.set $op (i32.add (local.get $op) (i32.const 1))))
      (else
        (i32.store8 (local.get $op) (i32.shl (local.get $lit) (i32.const 4)))
        (local.set $op (i32.add (local.get $op) (i32.const 1)))))
    (memory.copy (local.get $op) (local.get $anchor) (local.get $lit))
    (i32.sub (i32.add (local.get $op) (local.get $lit)) (local.get $dst)))

  ;; -------------------------------------------------------------------------
  ;; decompress(ip, ipEnd, op, opEnd, low) -> new op, or a negative error code
  ;;
  ;; Decodes the block [ip, ipEnd) to op, writing no further than opEnd;
  ;; matches may reach back to low and no further. On an error returns the
  ;; code below and leaves the input position in err_ip, the offending length
  ;; or offset in err_a and the output position in err_op, in the order the
  ;; TS decoder checks them (so both report the same problem):
  ;;   -1  block ends (ip = ipEnd) where a token is due: no final literals
  ;;   -2  literal length bytes run past the block end (err_ip = ipEnd)
  ;;   -3  err_a literals at err_ip run past the block end
  ;;   -4  err_a literals at err_ip overflow the output
  ;;   -5  match offset truncated at err_ip
  ;;   -6  match offset err_a at err_ip is 0 or reaches before low
  ;;   -7  match length bytes run past the block end (err_ip = ipEnd)
  ;;   -8  match of err_a bytes before err_ip overflows the output
  ;; Every sequence consumes at least one input byte, so it always ends.
  ;; -------------------------------------------------------------------------
  (func $fail (param $code i32) (param $ip i32) (param $a i32) (param $op i32) (result i32)
    (global.set $err_ip (local.get $ip))
    (global.set $err_a (local.get $a))
    (global.set $err_op (local.get $op))
    (local.get $code))

  (func $decompress (export "decompress")
    (param $ip i32) (param $ipEnd i32) (param $op i32) (param $opEnd i32) (param $low i32) (result i32)
    (local $token i32) (local $lit i32) (local $b i32) (local $offset i32) (local $ref i32)
    (local $ml i32) (local $s i32) (local $d i32) (local $e i32) (local $step i32)
    (loop $seq
      (if (i32.ge_u (local.get $ip) (local.get $ipEnd))
        (then (return (call $fail (i32.const -1) (local.get $ip) (i32.const 0) (local.get $op)))))
      (local.set $token (i32.load8_u (local.get $ip)))
      (local.set $ip (i32.add (local.get $ip) (i32.const 1)))

      ;; Literals.
      (local.set $lit (i32.shr_u (local.get $token) (i32.const 4)))
      (if (i32.eq (local.get $lit) (i32.const 15))
        (then
          (loop $lext
            (if (i32.ge_u (local.get $ip) (local.get $ipEnd))
              (then (return (call $fail (i32.const -2) (local.get $ip) (i32.const 0) (local.get $op)))))
            (local.set $b (i32.load8_u (local.get $ip)))
            (local.set $ip (i32.add (local.get $ip) (i32.const 1)))
            (local.set $lit (i32.add (local.get $lit) (local.get $b)))
            (br_if $lext (i32.eq (local.get $b) (i32.const 255))))))
      ;; No test for lit = 0 (three sequences in four of text have no
      ;; literals, a branch that mispredicts often): both checks pass, as
      ;; ip <= ipEnd and op <= opEnd, and the copy only writes slack.
      (if (i32.gt_u (local.get $lit) (i32.sub (local.get $ipEnd) (local.get $ip)))
        (then (return (call $fail (i32.const -3) (local.get $ip) (local.get $lit) (local.get $op)))))
      (if (i32.gt_u (local.get $lit) (i32.sub (local.get $opEnd) (local.get $op)))
        (then (return (call $fail (i32.const -4) (local.get $ip) (local.get $lit) (local.get $op)))))
      (v128.store (local.get $op) (v128.load (local.get $ip)))
      (if (i32.gt_u (local.get $lit) (i32.const 16))
        (then
          (if (i32.le_u (local.get $lit) (i32.const 256))
            (then
              (local.set $s (i32.add (local.get $ip) (i32.const 16)))
              (local.set $d (i32.add (local.get $op) (i32.const 16)))
              (local.set $e (i32.add (local.get $op) (local.get $lit)))
              (loop $lcopy
                (v128.store (local.get $d) (v128.load (local.get $s)))
                (local.set $s (i32.add (local.get $s) (i32.const 16)))
                (local.set $d (i32.add (local.get $d) (i32.const 16)))
                (br_if $lcopy (i32.lt_u (local.get $d) (local.get $e)))))
            (else
              (memory.copy (local.get $op) (local.get $ip) (local.get $lit))))))
      (local.set $ip (i32.add (local.get $ip) (local.get $lit)))
      (local.set $op (i32.add (local.get $op) (local.get $lit)))
      (if (i32.eq (local.get $ip) (local.get $ipEnd)) (then (return (local.get $op))))

      ;; Match offset.
      (if (i32.lt_u (i32.sub (local.get $ipEnd) (local.get $ip)) (i32.const 2))
        (then (return (call $fail (i32.const -5) (local.get $ip) (i32.const 0) (local.get $op)))))
      (local.set $offset (i32.load16_u (local.get $ip)))
      (local.set $ref (i32.sub (local.get $op) (local.get $offset)))
      (if (i32.or (i32.eqz (local.get $offset)) (i32.lt_u (local.get $ref) (local.get $low)))
        (then (return (call $fail (i32.const -6) (local.get $ip) (local.get $offset) (local.get $op)))))
      (local.set $ip (i32.add (local.get $ip) (i32.const 2)))

      ;; Match length.
      (local.set $ml (i32.and (local.get $token) (i32.const 15)))
      (if (i32.eq (local.get $ml) (i32.const 15))
        (then
          (loop $mext
            (if (i32.ge_u (local.get $ip) (local.get $ipEnd))
              (then (return (call $fail (i32.const -7) (local.get $ip) (i32.const 0) (local.get $op)))))
            (local.set $b (i32.load8_u (local.get $ip)))
            (local.set $ip (i32.add (local.get $ip) (i32.const 1)))
            (local.set $ml (i32.add (local.get $ml) (local.get $b)))
            (br_if $mext (i32.eq (local.get $b) (i32.const 255))))))
      (local.set $ml (i32.add (local.get $ml) (i32.const 4)))
      (if (i32.gt_u (local.get $ml) (i32.sub (local.get $opEnd) (local.get $op)))
        (then (return (call $fail (i32.const -8) (local.get $ip) (local.get $ml) (local.get $op)))))

      ;; Match copy, 16 bytes at a time; every load reads bytes already written.
      ;; A match that overlaps itself (offset < length) is periodic, so its
      ;; bytes can also be copied from any multiple of the offset back: long
      ;; ones copy from at least 64 bytes back, since a load straddling the
      ;; last one or two stores stalls the CPU (store-to-load forwarding
      ;; fails) and runs 3x slower.
      (local.set $e (i32.add (local.get $op) (local.get $ml)))
      (block $done
        (block $long
          (block $short
            (if (i32.ge_u (local.get $offset) (i32.const 32))
              (then
                ;; The usual case: 32 bytes whatever the length (most matches
                ;; in text are 4-32 bytes long: no branch at 16 to mispredict).
                (v128.store (local.get $op) (v128.load (local.get $ref)))
                (v128.store offset=16 (local.get $op) (v128.load offset=16 (local.get $ref)))
                (br_if $done (i32.le_u (local.get $ml) (i32.const 32)))
                (local.set $d (i32.add (local.get $op) (i32.const 32))))
              (else
                (br_if $short (i32.lt_u (local.get $offset) (i32.const 16)))
                (v128.store (local.get $op) (v128.load (local.get $ref)))
                (br_if $done (i32.le_u (local.get $ml) (i32.const 16)))
                (local.set $d (i32.add (local.get $op) (i32.const 16)))))
            ;; Offset >= 16, a match longer than what is written (up to d).
            (if (i32.and (i32.gt_u (local.get $ml) (i32.const 256))
                         (i32.ge_u (local.get $offset) (local.get $ml)))
              (then
                (memory.copy (local.get $op) (local.get $ref) (local.get $ml))
                (br $done)))
            (local.set $step (local.get $offset))
            ;; 16 <= offset < 64 and longer than 64 bytes: see $long.
            (br_if $long (i32.and (i32.lt_u (local.get $offset) (i32.const 64))
                                  (i32.gt_u (local.get $ml) (i32.const 64))))
            (loop $mcopy
              (v128.store (local.get $d) (v128.load (i32.sub (local.get $d) (local.get $offset))))
              (local.set $d (i32.add (local.get $d) (i32.const 16)))
              (br_if $mcopy (i32.lt_u (local.get $d) (local.get $e))))
            (br $done))
          ;; Offset < 16: the first 16 bytes one at a time (each reads what
          ;; the one `offset` before it wrote), then from `step` back: the
          ;; smallest multiple of the offset that is at least 16.
          (local.set $d (local.get $op))
          (local.set $s (i32.add (local.get $op) (i32.const 16)))
          (loop $head
            (i32.store8 (local.get $d) (i32.load8_u (i32.sub (local.get $d) (local.get $offset))))
            (local.set $d (i32.add (local.get $d) (i32.const 1)))
            (br_if $head (i32.lt_u (local.get $d) (local.get $s))))
          (br_if $done (i32.le_u (local.get $ml) (i32.const 16)))
          (local.set $step
            (i32.mul (local.get $offset)
                     (i32.div_u (i32.add (local.get $offset) (i32.const 15)) (local.get $offset)))))
        ;; An overlapping match longer than 16 bytes, written up to d (op + 16
        ;; or op + 32), with offset < 64 and step a multiple of it, 16 <= step
        ;; <= offset + 15. Up to op + 64 from step back; then up to op + 256
        ;; from the smallest multiple of the offset that is at least 64, then
        ;; from the smallest that is at least 256 (each at most offset + 63,
        ;; offset + 255: so d - step > ref).
        (loop $near
          (v128.store (local.get $d) (v128.load (i32.sub (local.get $d) (local.get $step))))
          (local.set $d (i32.add (local.get $d) (i32.const 16)))
          (br_if $near (i32.and (i32.lt_u (local.get $d) (local.get $e))
                                (i32.lt_u (local.get $d) (i32.add (local.get $op) (i32.const 64))))))
        (br_if $done (i32.ge_u (local.get $d) (local.get $e)))
        (local.set $step
          (i32.mul (local.get $offset)
                   (i32.div_u (i32.add (local.get $offset) (i32.const 63)) (local.get $offset))))
        (loop $mid
          (v128.store (local.get $d) (v128.load (i32.sub (local.get $d) (local.get $step))))
          (local.set $d (i32.add (local.get $d) (i32.const 16)))
          (br_if $mid (i32.and (i32.lt_u (local.get $d) (local.get $e))
                               (i32.lt_u (local.get $d) (i32.add (local.get $op) (i32.const 256))))))
        (br_if $done (i32.ge_u (local.get $d) (local.get $e)))
        (local.set $step
          (i32.mul (local.get $offset)
                   (i32.div_u (i32.add (local.get $offset) (i32.const 255)) (local.get $offset))))
        (loop $far
          (v128.store (local.get $d) (v128.load (i32.sub (local.get $d) (local.get $step))))
          (local.set $d (i32.add (local.get $d) (i32.const 16)))
          (br_if $far (i32.lt_u (local.get $d) (local.get $e)))))
      (local.set $op (local.get $e))
      (br $seq))
    (unreachable))
)
