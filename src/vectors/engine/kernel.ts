// The int8 scan kernels of the local index: kernel.wat compiled to WebAssembly SIMD, and a pure-JS
// twin used when the module cannot be instantiated. Both compute, per row, f32(dot(query, codes)) *
// f32(scale) with an exact integer dot product, so their scores are bit-identical and so are the
// candidates they select. Each kernel owns one WebAssembly.Memory (the JS one too: it grows in place,
// where a plain ArrayBuffer would need a copy of the whole matrix to grow).

/** query, rows, rowBytes, stride, count, out: byte offsets and counts in the kernel's memory. */
export type ScanFunction = (
  query: number,
  rows: number,
  rowBytes: number,
  stride: number,
  count: number,
  out: number,
) => void;

export interface ScanKernel {
  readonly kind: "wasm-simd" | "js";
  readonly memory: WebAssembly.Memory;
  readonly scan: ScanFunction;
}

const SCAN_ARITY = 6;

function isScanFunction(value: unknown): value is ScanFunction {
  return typeof value === "function" && value.length === SCAN_ARITY;
}

/** Instantiates kernel.wasm; throws when the runtime lacks WebAssembly SIMD or the module is wrong. */
export function wasmKernel(module: WebAssembly.Module): ScanKernel {
  const { memory, scan } = new WebAssembly.Instance(module, {}).exports;
  if (!(memory instanceof WebAssembly.Memory) || !isScanFunction(scan)) {
    throw new Error("the scan kernel module does not export memory and scan(6)");
  }
  return { kind: "wasm-simd", memory, scan };
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
  return { kind: "js", memory, scan };
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
