// The deploy bundle check: measured like wrangler's "Total Upload" line, refused over the
// platform's 64 MiB limit or the project's gzip budget.
import { describe, expect, it } from "vitest";
import {
  GZIP_BUDGET_BYTES,
  judgeBundle,
  MAX_UNCOMPRESSED_BYTES,
  measureBundle,
} from "../../scripts/lib/bundle-size.ts";

const file = (name: string, text: string) => ({ name, bytes: new TextEncoder().encode(text) });

describe("bundle size check", () => {
  it("counts the uploaded modules, not the source map or README wrangler writes beside them", () => {
    const sizes = measureBundle([
      file("index.js", "a".repeat(1000)),
      file("kernel.wasm", "b".repeat(24)),
      file("index.js.map", "c".repeat(50_000)),
      file("README.md", "d".repeat(100)),
    ]);
    expect(sizes.modules).toEqual(["index.js", "kernel.wasm"]);
    expect(sizes.size).toBe(1024);
    expect(sizes.gzipSize).toBeGreaterThan(0);
    expect(sizes.gzipSize).toBeLessThan(100);
  });

  it("passes a bundle at both limits and prints its figures", () => {
    const { lines, problems } = judgeBundle({ size: MAX_UNCOMPRESSED_BYTES, gzipSize: GZIP_BUDGET_BYTES });
    expect(problems).toEqual([]);
    expect(lines[0]).toBe("uncompressed 65536.00 KiB of 65536.00 KiB (platform limit, all plans): 100.0%");
    expect(lines[1]).toBe("gzip 3072.00 KiB of 3072.00 KiB (project budget): 100.0%");
  });

  it("fails a bundle one byte over either", () => {
    expect(judgeBundle({ size: MAX_UNCOMPRESSED_BYTES + 1, gzipSize: 1 }).problems).toEqual([
      "the bundle is 65536.00 KiB: Cloudflare refuses a Worker over 65536.00 KiB",
    ]);
    expect(judgeBundle({ size: 1, gzipSize: GZIP_BUDGET_BYTES + 1 }).problems).toEqual([
      "the gzipped bundle is 3072.00 KiB: over the project's 3072.00 KiB budget",
    ]);
  });
});
