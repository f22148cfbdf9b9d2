// The compiled scan kernel (kernel.wat, built by scripts/build-wasm.ts). Workers import a .wasm
// file as a WebAssembly.Module, compiled once per isolate; each store instantiates its own memory.
import kernelModule from "./kernel.wasm";

export const KERNEL_MODULE: WebAssembly.Module = kernelModule;
