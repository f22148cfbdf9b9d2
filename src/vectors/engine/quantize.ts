// Int8 quantization of vector directions for the local index's first-pass scan. A vector is
// normalized (cosine only looks at directions) and scaled so its largest component maps to ±127:
// one scale per vector keeps the error relative to that vector, whatever its norm.

/** Codes stay within ±127 (never -128): a product of two codes, and the sum of two, fit in i16. */
export const CODE_LIMIT = 127;

/** Rows are padded to a multiple of this many codes: the kernel reads dimensions in pairs. */
export const STRIDE_ALIGN = 2;

export function strideFor(dimensions: number): number {
  return Math.ceil(dimensions / STRIDE_ALIGN) * STRIDE_ALIGN;
}

/**
 * Writes the codes of `values`' direction into `codes` (the entries past `values.length` are
 * zeroed) and returns the scale `s` such that `values / |values|` is about `codes * s`. A zero
 * vector gets zero codes and scale 0, so it scores 0 against anything, as in exact search.
 */
export function quantize(values: ArrayLike<number>, codes: Int8Array | Int16Array): number {
  let sumSquares = 0;
  let maxAbs = 0;
  for (let i = 0; i < values.length; i++) {
    const v = values[i] ?? 0;
    sumSquares += v * v;
    const a = Math.abs(v);
    if (a > maxAbs) maxAbs = a;
  }
  codes.fill(0);
  if (maxAbs === 0) return 0;
  const factor = CODE_LIMIT / maxAbs;
  for (let i = 0; i < values.length; i++) codes[i] = Math.round((values[i] ?? 0) * factor);
  return Math.fround(maxAbs / (CODE_LIMIT * Math.sqrt(sumSquares)));
}

/** The unit vector that `codes` and `scale` stand for (for tests and diagnostics). */
export function dequantize(codes: ArrayLike<number>, scale: number, dimensions: number): Float32Array {
  const out = new Float32Array(dimensions);
  for (let i = 0; i < dimensions; i++) out[i] = (codes[i] ?? 0) * scale;
  return out;
}
