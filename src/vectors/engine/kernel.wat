;; The int8 scan kernel of the local vector index (src/vectors/engine/kernel.ts holds its JS twin).
;; Built into kernel.wasm by scripts/build-wasm.mjs; the .wasm is committed and checked against this file.
;;
;; Memory layout is the caller's: the query is `stride` i16 codes, each row is `stride` i8 codes followed
;; by its f32 scale, rows are `rowBytes` apart, and `stride` is a multiple of 64. Codes stay within
;; [-127, 127], so a product fits i16 and a row's dot product (at most 1536 terms) fits i32 exactly:
;; the result is bit-identical to the JS kernel's, which rounds the same way (f32(dot) * f32 scale).
;;
;; The query is kept widened to i16 so each 16 codes cost one load, two sign extensions and two
;; i32x4.dot_i16x8_s (pmaddwd on x86); the loop handles 64 codes per turn with two accumulators.
(module
  (memory (export "memory") 1)

  ;; out[r] = f32(dot(query, codes of row r)) * scale of row r, for `count` rows from `rows`.
  (func (export "scan")
    (param $query i32) (param $rows i32) (param $rowBytes i32) (param $stride i32)
    (param $count i32) (param $out i32)
    (local $end i32) (local $row i32) (local $p i32) (local $q i32) (local $stop i32)
    (local $v v128) (local $acc0 v128) (local $acc1 v128)
    (local.set $end (i32.add (local.get $out) (i32.shl (local.get $count) (i32.const 2))))
    (local.set $row (local.get $rows))
    (block $done
      (loop $rowLoop
        (br_if $done (i32.ge_u (local.get $out) (local.get $end)))
        (local.set $acc0 (v128.const i32x4 0 0 0 0))
        (local.set $acc1 (v128.const i32x4 0 0 0 0))
        (local.set $p (local.get $row))
        (local.set $q (local.get $query))
        (local.set $stop (i32.add (local.get $row) (local.get $stride)))
        (loop $codeLoop
          (local.set $v (v128.load offset=0 (local.get $p)))
          (local.set $acc0
            (i32x4.add (local.get $acc0)
              (i32x4.dot_i16x8_s (i16x8.extend_low_i8x16_s (local.get $v)) (v128.load offset=0 (local.get $q)))))
          (local.set $acc1
            (i32x4.add (local.get $acc1)
              (i32x4.dot_i16x8_s (i16x8.extend_high_i8x16_s (local.get $v)) (v128.load offset=16 (local.get $q)))))
          (local.set $v (v128.load offset=16 (local.get $p)))
          (local.set $acc0
            (i32x4.add (local.get $acc0)
              (i32x4.dot_i16x8_s (i16x8.extend_low_i8x16_s (local.get $v)) (v128.load offset=32 (local.get $q)))))
          (local.set $acc1
            (i32x4.add (local.get $acc1)
              (i32x4.dot_i16x8_s (i16x8.extend_high_i8x16_s (local.get $v)) (v128.load offset=48 (local.get $q)))))
          (local.set $v (v128.load offset=32 (local.get $p)))
          (local.set $acc0
            (i32x4.add (local.get $acc0)
              (i32x4.dot_i16x8_s (i16x8.extend_low_i8x16_s (local.get $v)) (v128.load offset=64 (local.get $q)))))
          (local.set $acc1
            (i32x4.add (local.get $acc1)
              (i32x4.dot_i16x8_s (i16x8.extend_high_i8x16_s (local.get $v)) (v128.load offset=80 (local.get $q)))))
          (local.set $v (v128.load offset=48 (local.get $p)))
          (local.set $acc0
            (i32x4.add (local.get $acc0)
              (i32x4.dot_i16x8_s (i16x8.extend_low_i8x16_s (local.get $v)) (v128.load offset=96 (local.get $q)))))
          (local.set $acc1
            (i32x4.add (local.get $acc1)
              (i32x4.dot_i16x8_s (i16x8.extend_high_i8x16_s (local.get $v)) (v128.load offset=112 (local.get $q)))))
          (local.set $p (i32.add (local.get $p) (i32.const 64)))
          (local.set $q (i32.add (local.get $q) (i32.const 128)))
          (br_if $codeLoop (i32.lt_u (local.get $p) (local.get $stop))))
        (local.set $acc0 (i32x4.add (local.get $acc0) (local.get $acc1)))
        (f32.store (local.get $out)
          (f32.mul
            (f32.convert_i32_s
              (i32.add
                (i32.add (i32x4.extract_lane 0 (local.get $acc0)) (i32x4.extract_lane 1 (local.get $acc0)))
                (i32.add (i32x4.extract_lane 2 (local.get $acc0)) (i32x4.extract_lane 3 (local.get $acc0)))))
            (f32.load (local.get $stop))))
        (local.set $out (i32.add (local.get $out) (i32.const 4)))
        (local.set $row (i32.add (local.get $row) (local.get $rowBytes)))
        (br $rowLoop))))

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
