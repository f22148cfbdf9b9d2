// The kernels of the local index: kernel.wat compiled to WebAssembly SIMD, and a pure-JS twin used
// when the module cannot be instantiated. The scan computes, per row, f32(dot(query, codes)) *
// f32(scale) with an exact integer dot product, so both give bit-identical scores and select the
// same candidates; the float dot product of rescoring sums in the same order in both (and in exact
// search), so exact scores are bit-identical too. Each kernel owns one WebAssembly.Memory (the JS
// one too: it grows in place, where a plain ArrayBuffer would need a copy of the whole matrix to
// grow).

import { dot } from "../exact-search";

/**
 * Scores the 32 * `blockCount` rows of the blocks from `blocks` (`blockBytes` apart, scales at
 * `scalesAt` in each) against the `active` query pairs listed at `pairs` (its non-zero ones, or
 * all of them), into f32s at `out`: byte offsets and counts in the kernel's memory (layout in
 * kernel.wat).
 */
export type ScanFunction = (
  pairs: number,
  active: number,
  blocks: number,
  blockBytes: number,
  scalesAt: number,
  blockCount: number,
  out: number,
) => void;

/**
 * The f64 dot product of the f32 vectors at byte offsets a and b (16-byte aligned) over `count`
 * elements, a multiple of 4: see dot() in exact-search.ts for the order of the sums.
 */
export type DotFunction = (a: number, b: number, count: number) => number;

export interface ScanKernel {
  readonly kind: "wasm-simd" | "js";
  readonly memory: WebAssembly.Memory;
  /** Scores from a dense query's pairs (all of them), reading the blocks in order. */
  readonly scan: ScanFunction;
  /** The same scores, faster for a query with few pairs listed: pair by pair across the blocks. */
  readonly scanSparse: ScanFunction;
  readonly dot: DotFunction;
}

/** Rows per block of the scan's layout (kernel.wat). */
export const BLOCK_ROWS = 32;

const SCAN_ARITY = 7;
const DOT_ARITY = 3;

function isFunction<T>(value: unknown, arity: number): value is T {
  return typeof value === "function" && value.length === arity;
}

/** Instantiates kernel.wasm; throws when the runtime lacks WebAssembly SIMD or the module is wrong. */
export function wasmKernel(module: WebAssembly.Module): ScanKernel {
  const { memory, scan, scanSparse, dot } = new WebAssembly.Instance(module, {}).exports;
  if (
    !(memory instanceof WebAssembly.Memory) ||
    !isFunction<ScanFunction>(scan, SCAN_ARITY) ||
    !isFunction<ScanFunction>(scanSparse, SCAN_ARITY) ||
    !isFunction<DotFunction>(dot, DOT_ARITY)
  ) {
    throw new Error("the kernel module does not export memory, scan(7), scanSparse(7) and dot(3)");
  }
  return { kind: "wasm-simd", memory, scan, scanSparse, dot };
}

/** The same computation in plain JavaScript, over its own memory. */
export function jsKernel(): ScanKernel {
  const memory = new WebAssembly.Memory({ initial: 1 });
  const scan: ScanFunction = (pairs, active, blocks, blockBytes, scalesAt, blockCount, out) => {
    const buffer = memory.buffer;
    const list = new Int32Array(buffer, pairs, active * 2);
    const codes = new Int8Array(buffer);
    const floats = new Float32Array(buffer);
    let block = blocks;
    let slot = out >> 2;
    for (let b = 0; b < blockCount; b++, block += blockBytes) {
      const scales = (block + scalesAt) >> 2;
      for (let s = 0; s < BLOCK_ROWS; s++, slot++) {
        let dot = 0;
        for (let e = 0; e < active; e++) {
          const at = block + (list[2 * e] ?? 0) + 2 * s;
          const packed = list[2 * e + 1] ?? 0;
          dot += ((packed << 16) >> 16) * (codes[at] ?? 0) + (packed >> 16) * (codes[at + 1] ?? 0);
        }
        floats[slot] = Math.fround(Math.fround(dot) * (floats[scales + s] ?? 0));
      }
    }
  };
  const dotAt: DotFunction = (a, b, count) => {
    const floats = new Float32Array(memory.buffer);
    return dot(floats, a >> 2, floats, b >> 2, count);
  };
  // One loop serves both orders: in JS the order changes nothing but speed, and the sums are exact.
  return { kind: "js", memory, scan, scanSparse: scan, dot: dotAt };
}

/** The WebAssembly kernel when `module` instantiates, else the JS one (same results, slower). */
export function createKernel(module: WebAssembly.Module | undefined): ScanKernel {
  if (module !== undefined) {
    try {
      return wasmKernel(module);
    } catch {
      // Fall through: a runtime without SIMD still answers, with the same candidates.
    }
  }
  return jsKernel();
}
