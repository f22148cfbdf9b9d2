;; The int8 scan kernel of the local vector index (src/vectors/engine/kernel.ts holds its JS twin).
;; Built into kernel.wasm by scripts/build-wasm.ts; the .wasm is committed and checked against this file.
;;
;; Memory layout is the caller's (src/vectors/engine/quantized-store.ts). Rows are stored in blocks of
;; 32: a block holds the codes of its rows dimension pair by dimension pair, 64 bytes per pair (row s's
;; two codes of pair j at j * 64 + s * 2), then the rows' 32 f32 scales at `scalesAt`. The codes of one
;; pair for 32 rows fill one cache line, so a query need only read the pairs where it is not zero:
;; `scan` reads every listed pair of a block in turn (a dense query lists them all, and the blocks are
;; read in order), `scanSparse` reads one pair across all blocks in turn (a query with a few dozen
;; non-zero dimensions, as the local embedder's, reads about a tenth of the codes).
;;
;; The query comes as a list of pairs, 8 bytes each: the pair's byte offset in a block (j * 64) and
;; its two i16 codes packed in an i32 (low half the even dimension). Codes stay within [-127, 127], so
;; i32x4.dot_i16x8_s (pmaddwd on x86) of 8 codes (4 rows x 2 dimensions) against the splatted pair
;; gives 4 rows' partial sums exactly, and a row's dot product (at most 1536 terms) fits i32: the
;; result is bit-identical to the JS kernel's, which rounds the same way (f32(dot) * f32 scale).
(module
  (memory (export "memory") 1)

  ;; out[r] = f32(dot(query, codes of row r)) * scale of row r, for the 32 * `blockCount` rows of the
  ;; blocks from `blocks`, `blockBytes` apart; `active` pairs listed at `pairs`.
  (func (export "scan")
    (param $pairs i32) (param $active i32) (param $blocks i32) (param $blockBytes i32) (param $scalesAt i32)
    (param $blockCount i32) (param $out i32)
    (local $block i32) (local $endBlocks i32) (local $e i32) (local $endPairs i32) (local $p i32) (local $s i32)
    (local $qv v128) (local $v v128)
    (local $a0 v128) (local $a1 v128) (local $a2 v128) (local $a3 v128)
    (local $a4 v128) (local $a5 v128) (local $a6 v128) (local $a7 v128)
    (local.set $block (local.get $blocks))
    (local.set $endBlocks (i32.add (local.get $blocks) (i32.mul (local.get $blockCount) (local.get $blockBytes))))
    (local.set $endPairs (i32.add (local.get $pairs) (i32.shl (local.get $active) (i32.const 3))))
    (block $done
      (loop $blockLoop
        (br_if $done (i32.ge_u (local.get $block) (local.get $endBlocks)))
        ;; a0..a7: rows 0-3, 4-7, ..., 28-31 of the block.
        (local.set $a0 (v128.const i32x4 0 0 0 0))
        (local.set $a1 (v128.const i32x4 0 0 0 0))
        (local.set $a2 (v128.const i32x4 0 0 0 0))
        (local.set $a3 (v128.const i32x4 0 0 0 0))
        (local.set $a4 (v128.const i32x4 0 0 0 0))
        (local.set $a5 (v128.const i32x4 0 0 0 0))
        (local.set $a6 (v128.const i32x4 0 0 0 0))
        (local.set $a7 (v128.const i32x4 0 0 0 0))
        (local.set $e (local.get $pairs))
        (block $pairsDone
          (loop $pairLoop
            (br_if $pairsDone (i32.ge_u (local.get $e) (local.get $endPairs)))
            (local.set $p (i32.add (local.get $block) (i32.load offset=0 (local.get $e))))
            (local.set $qv (i32x4.splat (i32.load offset=4 (local.get $e))))
            (local.set $v (v128.load offset=0 (local.get $p)))
            (local.set $a0
              (i32x4.add (local.get $a0) (i32x4.dot_i16x8_s (i16x8.extend_low_i8x16_s (local.get $v)) (local.get $qv))))
            (local.set $a1
              (i32x4.add (local.get $a1) (i32x4.dot_i16x8_s (i16x8.extend_high_i8x16_s (local.get $v)) (local.get $qv))))
            (local.set $v (v128.load offset=16 (local.get $p)))
            (local.set $a2
              (i32x4.add (local.get $a2) (i32x4.dot_i16x8_s (i16x8.extend_low_i8x16_s (local.get $v)) (local.get $qv))))
            (local.set $a3
              (i32x4.add (local.get $a3) (i32x4.dot_i16x8_s (i16x8.extend_high_i8x16_s (local.get $v)) (local.get $qv))))
            (local.set $v (v128.load offset=32 (local.get $p)))
            (local.set $a4
              (i32x4.add (local.get $a4) (i32x4.dot_i16x8_s (i16x8.extend_low_i8x16_s (local.get $v)) (local.get $qv))))
            (local.set $a5
              (i32x4.add (local.get $a5) (i32x4.dot_i16x8_s (i16x8.extend_high_i8x16_s (local.get $v)) (local.get $qv))))
            (local.set $v (v128.load offset=48 (local.get $p)))
            (local.set $a6
              (i32x4.add (local.get $a6) (i32x4.dot_i16x8_s (i16x8.extend_low_i8x16_s (local.get $v)) (local.get $qv))))
            (local.set $a7
              (i32x4.add (local.get $a7) (i32x4.dot_i16x8_s (i16x8.extend_high_i8x16_s (local.get $v)) (local.get $qv))))
            (local.set $e (i32.add (local.get $e) (i32.const 8)))
            (br $pairLoop)))
        (local.set $s (i32.add (local.get $block) (local.get $scalesAt)))
        (v128.store offset=0 (local.get $out)
          (f32x4.mul (f32x4.convert_i32x4_s (local.get $a0)) (v128.load offset=0 (local.get $s))))
        (v128.store offset=16 (local.get $out)
          (f32x4.mul (f32x4.convert_i32x4_s (local.get $a1)) (v128.load offset=16 (local.get $s))))
        (v128.store offset=32 (local.get $out)
          (f32x4.mul (f32x4.convert_i32x4_s (local.get $a2)) (v128.load offset=32 (local.get $s))))
        (v128.store offset=48 (local.get $out)
          (f32x4.mul (f32x4.convert_i32x4_s (local.get $a3)) (v128.load offset=48 (local.get $s))))
        (v128.store offset=64 (local.get $out)
          (f32x4.mul (f32x4.convert_i32x4_s (local.get $a4)) (v128.load offset=64 (local.get $s))))
        (v128.store offset=80 (local.get $out)
          (f32x4.mul (f32x4.convert_i32x4_s (local.get $a5)) (v128.load offset=80 (local.get $s))))
        (v128.store offset=96 (local.get $out)
          (f32x4.mul (f32x4.convert_i32x4_s (local.get $a6)) (v128.load offset=96 (local.get $s))))
        (v128.store offset=112 (local.get $out)
          (f32x4.mul (f32x4.convert_i32x4_s (local.get $a7)) (v128.load offset=112 (local.get $s))))
        (local.set $out (i32.add (local.get $out) (i32.const 128)))
        (local.set $block (i32.add (local.get $block) (local.get $blockBytes)))
        (br $blockLoop))))

  ;; The same scores as `scan`, for a query with few non-zero pairs: pair by pair, each over every block,
  ;; summing in `out` (as i32) before turning the sums into scores in place. `scan` reads a block's
  ;; pairs in turn and keeps the sums in registers, which suits a dense query (the blocks are read in
  ;; order); for a sparse one that means one cache miss per pair and block, with little overlap. Here
  ;; each load of a pair is a fixed stride (`blockBytes`) after the last, so the misses overlap.
  (func (export "scanSparse")
    (param $pairs i32) (param $active i32) (param $blocks i32) (param $blockBytes i32) (param $scalesAt i32)
    (param $blockCount i32) (param $out i32)
    (local $e i32) (local $endPairs i32) (local $p i32) (local $a i32) (local $endOut i32) (local $s i32)
    (local $qv v128) (local $v v128)
    (local.set $endPairs (i32.add (local.get $pairs) (i32.shl (local.get $active) (i32.const 3))))
    (local.set $endOut (i32.add (local.get $out) (i32.shl (local.get $blockCount) (i32.const 7))))
    (local.set $a (local.get $out))
    (block $zeroed
      (loop $zero
        (br_if $zeroed (i32.ge_u (local.get $a) (local.get $endOut)))
        (v128.store (local.get $a) (v128.const i32x4 0 0 0 0))
        (local.set $a (i32.add (local.get $a) (i32.const 16)))
        (br $zero)))
    (local.set $e (local.get $pairs))
    (block $pairsDone
      (loop $pairLoop
        (br_if $pairsDone (i32.ge_u (local.get $e) (local.get $endPairs)))
        (local.set $p (i32.add (local.get $blocks) (i32.load offset=0 (local.get $e))))
        (local.set $qv (i32x4.splat (i32.load offset=4 (local.get $e))))
        (local.set $a (local.get $out))
        (block $blocksDone
          (loop $blockLoop
            (br_if $blocksDone (i32.ge_u (local.get $a) (local.get $endOut)))
            (local.set $v (v128.load offset=0 (local.get $p)))
            (v128.store offset=0 (local.get $a)
              (i32x4.add (v128.load offset=0 (local.get $a))
                (i32x4.dot_i16x8_s (i16x8.extend_low_i8x16_s (local.get $v)) (local.get $qv))))
            (v128.store offset=16 (local.get $a)
              (i32x4.add (v128.load offset=16 (local.get $a))
                (i32x4.dot_i16x8_s (i16x8.extend_high_i8x16_s (local.get $v)) (local.get $qv))))
            (local.set $v (v128.load offset=16 (local.get $p)))
            (v128.store offset=32 (local.get $a)
              (i32x4.add (v128.load offset=32 (local.get $a))
                (i32x4.dot_i16x8_s (i16x8.extend_low_i8x16_s (local.get $v)) (local.get $qv))))
            (v128.store offset=48 (local.get $a)
              (i32x4.add (v128.load offset=48 (local.get $a))
                (i32x4.dot_i16x8_s (i16x8.extend_high_i8x16_s (local.get $v)) (local.get $qv))))
            (local.set $v (v128.load offset=32 (local.get $p)))
            (v128.store offset=64 (local.get $a)
              (i32x4.add (v128.load offset=64 (local.get $a))
                (i32x4.dot_i16x8_s (i16x8.extend_low_i8x16_s (local.get $v)) (local.get $qv))))
            (v128.store offset=80 (local.get $a)
              (i32x4.add (v128.load offset=80 (local.get $a))
                (i32x4.dot_i16x8_s (i16x8.extend_high_i8x16_s (local.get $v)) (local.get $qv))))
            (local.set $v (v128.load offset=48 (local.get $p)))
            (v128.store offset=96 (local.get $a)
              (i32x4.add (v128.load offset=96 (local.get $a))
                (i32x4.dot_i16x8_s (i16x8.extend_low_i8x16_s (local.get $v)) (local.get $qv))))
            (v128.store offset=112 (local.get $a)
              (i32x4.add (v128.load offset=112 (local.get $a))
                (i32x4.dot_i16x8_s (i16x8.extend_high_i8x16_s (local.get $v)) (local.get $qv))))
            (local.set $a (i32.add (local.get $a) (i32.const 128)))
            (local.set $p (i32.add (local.get $p) (local.get $blockBytes)))
            (br $blockLoop)))
        (local.set $e (i32.add (local.get $e) (i32.const 8)))
        (br $pairLoop)))
    ;; Sums to scores, 4 rows at a time: f32(sum) * f32 scale, as `scan`.
    (local.set $a (local.get $out))
    (local.set $s (i32.add (local.get $blocks) (local.get $scalesAt)))
    (block $done
      (loop $finish
        (br_if $done (i32.ge_u (local.get $a) (local.get $endOut)))
        (v128.store offset=0 (local.get $a)
          (f32x4.mul (f32x4.convert_i32x4_s (v128.load offset=0 (local.get $a))) (v128.load offset=0 (local.get $s))))
        (v128.store offset=16 (local.get $a)
          (f32x4.mul (f32x4.convert_i32x4_s (v128.load offset=16 (local.get $a))) (v128.load offset=16 (local.get $s))))
        (v128.store offset=32 (local.get $a)
          (f32x4.mul (f32x4.convert_i32x4_s (v128.load offset=32 (local.get $a))) (v128.load offset=32 (local.get $s))))
        (v128.store offset=48 (local.get $a)
          (f32x4.mul (f32x4.convert_i32x4_s (v128.load offset=48 (local.get $a))) (v128.load offset=48 (local.get $s))))
        (v128.store offset=64 (local.get $a)
          (f32x4.mul (f32x4.convert_i32x4_s (v128.load offset=64 (local.get $a))) (v128.load offset=64 (local.get $s))))
        (v128.store offset=80 (local.get $a)
          (f32x4.mul (f32x4.convert_i32x4_s (v128.load offset=80 (local.get $a))) (v128.load offset=80 (local.get $s))))
        (v128.store offset=96 (local.get $a)
          (f32x4.mul (f32x4.convert_i32x4_s (v128.load offset=96 (local.get $a))) (v128.load offset=96 (local.get $s))))
        (v128.store offset=112 (local.get $a)
          (f32x4.mul (f32x4.convert_i32x4_s (v128.load offset=112 (local.get $a))) (v128.load offset=112 (local.get $s))))
        (local.set $a (i32.add (local.get $a) (i32.const 128)))
        (local.set $s (i32.add (local.get $s) (local.get $blockBytes)))
        (br $finish))))

  ;; The dot product of two f32 vectors of `count` elements (a multiple of 4; both 16-byte aligned),
  ;; in f64: four sums, sum i taking the products of the elements at positions i mod 4, added as
  ;; (s0 + s1) + (s2 + s3). The exact scores of rescoring; exact-search.ts's dot() is its JS twin.
  (func (export "dot") (param $a i32) (param $b i32) (param $count i32) (result f64)
    (local $end i32) (local $va v128) (local $vb v128) (local $lo v128) (local $hi v128)
    (local.set $end (i32.add (local.get $a) (i32.shl (local.get $count) (i32.const 2))))
    (local.set $lo (v128.const f64x2 0 0))
    (local.set $hi (v128.const f64x2 0 0))
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $a) (local.get $end)))
        (local.set $va (v128.load (local.get $a)))
        (local.set $vb (v128.load (local.get $b)))
        (local.set $lo
          (f64x2.add (local.get $lo)
            (f64x2.mul (f64x2.promote_low_f32x4 (local.get $va)) (f64x2.promote_low_f32x4 (local.get $vb)))))
        (local.set $hi
          (f64x2.add (local.get $hi)
            (f64x2.mul
              (f64x2.promote_low_f32x4
                (i8x16.shuffle 8 9 10 11 12 13 14 15 8 9 10 11 12 13 14 15 (local.get $va) (local.get $va)))
              (f64x2.promote_low_f32x4
                (i8x16.shuffle 8 9 10 11 12 13 14 15 8 9 10 11 12 13 14 15 (local.get $vb) (local.get $vb))))))
        (local.set $a (i32.add (local.get $a) (i32.const 16)))
        (local.set $b (i32.add (local.get $b) (i32.const 16)))
        (br $next)))
    (f64.add
      (f64.add (f64x2.extract_lane 0 (local.get $lo)) (f64x2.extract_lane 1 (local.get $lo)))
      (f64.add (f64x2.extract_lane 0 (local.get $hi)) (f64x2.extract_lane 1 (local.get $hi)))))
)
