// The kernels of the local index: kernel.wat compiled to WebAssembly SIMD, and a pure-JS twin used
// when the module cannot be instantiated. The scan computes, per row, f32(dot(query, codes)) *
// f32(scale) with an exact integer dot product, so both give bit-identical scores and select the
// same candidates; the float dot product of rescoring sums in the same order in both (and in exact
// search), so exact scores are bit-identical too. Each kernel owns one WebAssembly.Memory (the JS
// one too: it grows in place, where a plain ArrayBuffer would need a copy of the whole matrix to
// grow).

import { dot } from "../exact-search";

/** query, rows, rowBytes, stride, count, out: byte offsets and counts in the kernel's memory. */
export type ScanFunction = (
  query: number,
  rows: number,
  rowBytes: number,
  stride: number,
  count: number,
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
  readonly scan: ScanFunction;
  readonly dot: DotFunction;
}

const SCAN_ARITY = 6;
const DOT_ARITY = 3;

function isFunction<T>(value: unknown, arity: number): value is T {
  return typeof value === "function" && value.length === arity;
}

/** Instantiates kernel.wasm; throws when the runtime lacks WebAssembly SIMD or the module is wrong. */
export function wasmKernel(module: WebAssembly.Module): ScanKernel {
  const { memory, scan, dot } = new WebAssembly.Instance(module, {}).exports;
  if (
    !(memory instanceof WebAssembly.Memory) ||
    !isFunction<ScanFunction>(scan, SCAN_ARITY) ||
    !isFunction<DotFunction>(dot, DOT_ARITY)
  ) {
    throw new Error("the kernel module does not export memory, scan(6) and dot(3)");
  }
  return { kind: "wasm-simd", memory, scan, dot };
}

/** The same computation in plain JavaScript, over its own memory. */
export function jsKernel(): ScanKernel {
  const memory = new WebAssembly.Memory({ initial: 1 });
  const scan: ScanFunction = (query, rows, rowBytes, stride, count, out) => {
    const buffer = memory.buffer;
    const q = new Int16Array(buffer, query, stride);
    const codes = new Int8Array(buffer);
    const floats = new Float32Array(buffer);
    let row = rows;
    let slot = out >> 2;
    for (let r = 0; r < count; r++, row += rowBytes, slot++) {
      let dot = 0;
      for (let d = 0; d < stride; d++) dot += (q[d] ?? 0) * (codes[row + d] ?? 0);
      floats[slot] = Math.fround(Math.fround(dot) * (floats[(row + stride) >> 2] ?? 0));
    }
  };
  const dotAt: DotFunction = (a, b, count) => {
    const floats = new Float32Array(memory.buffer);
    return dot(floats, a >> 2, floats, b >> 2, count);
  };
  return { kind: "js", memory, scan, dot: dotAt };
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
