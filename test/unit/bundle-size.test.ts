// The deploy bundle check: measured like wrangler's "Total Upload" line, refused over the
// platform's 64 MiB limit or the project's size and gzip budgets.
import { describe, expect, it } from "vitest";
import {
  GZIP_BUDGET_BYTES,
  judgeBundle,
  MAX_UNCOMPRESSED_BYTES,
  measureBundle,
  SIZE_BUDGET_BYTES,
} from "../../scripts/lib/bundle-size.ts";

const file = (name: string, text: string) => ({ name, bytes: new TextEncoder().encode(text) });

describe("bundle size check", () => {
  it("counts the uploaded modules, not the source map, metafile or README wrangler writes beside them", () => {
    const sizes = measureBundle([
      file("index.js", "a".repeat(1000)),
      file("kernel.wasm", "b".repeat(24)),
      file("index.js.map", "c".repeat(50_000)),
      file("README.md", "d".repeat(100)),
      file("bundle-meta.json", "e".repeat(300_000)),
    ]);
    expect(sizes.modules).toEqual(["index.js", "kernel.wasm"]);
    expect(sizes.size).toBe(1024);
    expect(sizes.gzipSize).toBeGreaterThan(0);
    expect(sizes.gzipSize).toBeLessThan(100);
  });

  it("passes a bundle at both budgets and prints its figures", () => {
    const { lines, problems } = judgeBundle({ size: SIZE_BUDGET_BYTES, gzipSize: GZIP_BUDGET_BYTES });
    expect(problems).toEqual([]);
    expect(lines[0]).toBe(
      "uncompressed 1280.00 KiB of 65536.00 KiB (platform limit, all plans): 2.0%; project budget 1280.00 KiB",
    );
    expect(lines[1]).toBe("gzip 448.00 KiB of 448.00 KiB (project budget): 100.0%");
  });

  it("fails a bundle one byte over a budget or the platform's limit", () => {
    expect(judgeBundle({ size: MAX_UNCOMPRESSED_BYTES + 1, gzipSize: 1 }).problems).toEqual([
      "the bundle is 65536.00 KiB: Cloudflare refuses a Worker over 65536.00 KiB",
    ]);
    expect(judgeBundle({ size: SIZE_BUDGET_BYTES + 1, gzipSize: 1 }).problems).toEqual([
      "the bundle is 1280.00 KiB: over the project's 1280.00 KiB budget",
    ]);
    expect(judgeBundle({ size: 1, gzipSize: GZIP_BUDGET_BYTES + 1 }).problems).toEqual([
      "the gzipped bundle is 448.00 KiB: over the project's 448.00 KiB budget",
    ]);
  });

  it("fails the unminified bundle and the one with all of zod's locales", () => {
    // Measured with `npx wrangler deploy --dry-run`, with `--minify=false`, and without the [alias].
    const KIB = 1024;
    expect(judgeBundle({ size: 1971.98 * KIB, gzipSize: 507.51 * KIB }).problems).toHaveLength(2);
    expect(judgeBundle({ size: 1325.0 * KIB, gzipSize: 420.52 * KIB }).problems).toHaveLength(1);
    expect(judgeBundle({ size: 1065.07 * KIB, gzipSize: 381.25 * KIB }).problems).toEqual([]);
  });
});
