// Type declarations for bundle-size.mjs, so TypeScript callers (the unit tests) import it typed.
export declare const MAX_UNCOMPRESSED_BYTES: number;
export declare const GZIP_BUDGET_BYTES: number;
export declare const STARTUP_LIMIT_MS: number;
export declare function measureBundle(files: { name: string; bytes: Uint8Array }[]): {
  modules: string[];
  size: number;
  gzipSize: number;
};
export declare function judgeBundle(sizes: { size: number; gzipSize: number }): {
  lines: string[];
  problems: string[];
};
