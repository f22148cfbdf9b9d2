// The local index engine's entry for code outside workerd (the micro-benchmark bundles it with
// esbuild): everything but the .wasm import, which only Workers' module loader understands.

export { cosineScore, norm, type ScoredRow, TopK, VectorBlockMatrix } from "../exact-search";
export { FloatCache } from "./float-cache";
export { createKernel, jsKernel, type ScanKernel, wasmKernel } from "./kernel";
export { CODE_LIMIT, dequantize, quantize, strideFor } from "./quantize";
export { type ApproximateMatch, QuantizedStore } from "./quantized-store";
export { candidateCount, rescore } from "./rescore";
export { type SearchHit, type SearchSource, searchStores } from "./search";
