// The deploy bundle's size against the platform's Worker size limit, measured the way wrangler's
// "Total Upload" line does: the modules it uploads (not source maps), summed, and gzipped as one.
import { gzipSync } from "node:zlib";

const MIB = 1024 * 1024;
/**
 * Worker size: 64 MiB uncompressed on every plan, since Cloudflare removed the compressed limits
 * (3 MB Free, 10 MB Paid) on 2026-09-04. Sources: https://developers.cloudflare.com/workers/platform/limits/#worker-size
 * (cloudflare-docs src/content/docs/workers/platform/limits.mdx), the changelog
 * https://developers.cloudflare.com/changelog/post/2026-09-04-increased-worker-size-limit/, and
 * wrangler's MAX_UNCOMPRESSED_SIZE_BYTES = 64 MiB (workers-sdk
 * packages/deploy-helpers/src/deploy/helpers/bundle-reporter.ts, cloudflare/workers-sdk#14001).
 */
export const MAX_UNCOMPRESSED_BYTES = 64 * MIB;
/**
 * The project's budgets, well under the platform's limit: what the bundle costs every isolate's
 * startup grows with it (1 s limit, see below; scripts/check-startup.ts holds startup to 400 ms of
 * active CPU). Measured at 1,120.60 KiB (399.90 KiB gzip), minified, with zod's locales left out
 * (wrangler.toml [alias]) and the tokenizer's vocabulary packed (src/embed/vocab.ts); losing the
 * minification (1,971.98 KiB, 507.51 KiB gzip, measured at 1,065.07 KiB) or the alias (1,325.00
 * KiB) fails the budget, while a feature's worth of new code fits.
 */
export const SIZE_BUDGET_BYTES = 1280 * 1024;
export const GZIP_BUDGET_BYTES = 448 * 1024;
/**
 * Startup: the global scope must parse and run within 1 second, all plans
 * (https://developers.cloudflare.com/workers/platform/limits/#worker-startup-time). Measured
 * offline with `npx wrangler check startup` (a local CPU profile, not Cloudflare's CPU).
 */
export const STARTUP_LIMIT_MS = 1000;

/** Files in wrangler's --outdir that are not uploaded as modules (bundle-meta.json: --metafile). */
const NOT_MODULES = [/\.map$/, /^README\.md$/, /^bundle-meta\.json$/];

/**
 * @param files everything in the --outdir
 */
export function measureBundle(files: { name: string; bytes: Uint8Array }[]): {
  modules: string[];
  size: number;
  gzipSize: number;
} {
  const modules = files.filter((f) => !NOT_MODULES.some((re) => re.test(f.name)));
  const joined = Buffer.concat(modules.map((f) => f.bytes));
  return {
    modules: modules.map((f) => f.name),
    size: joined.byteLength,
    gzipSize: gzipSync(joined).byteLength,
  };
}

const kib = (bytes: number) => `${(bytes / 1024).toFixed(2)} KiB`;

/**
 * One line per figure, and the problems (empty when the bundle fits).
 */
export function judgeBundle({ size, gzipSize }: { size: number; gzipSize: number }): {
  lines: string[];
  problems: string[];
} {
  const pct = (n: number, of: number) => `${((n / of) * 100).toFixed(1)}%`;
  const lines = [
    `uncompressed ${kib(size)} of ${kib(MAX_UNCOMPRESSED_BYTES)} (platform limit, all plans): ${pct(size, MAX_UNCOMPRESSED_BYTES)}; project budget ${kib(SIZE_BUDGET_BYTES)}`,
    `gzip ${kib(gzipSize)} of ${kib(GZIP_BUDGET_BYTES)} (project budget): ${pct(gzipSize, GZIP_BUDGET_BYTES)}`,
  ];
  const problems = [];
  if (size > MAX_UNCOMPRESSED_BYTES) {
    problems.push(
      `the bundle is ${kib(size)}: Cloudflare refuses a Worker over ${kib(MAX_UNCOMPRESSED_BYTES)}`,
    );
  } else if (size > SIZE_BUDGET_BYTES) {
    problems.push(`the bundle is ${kib(size)}: over the project's ${kib(SIZE_BUDGET_BYTES)} budget`);
  }
  if (gzipSize > GZIP_BUDGET_BYTES) {
    problems.push(
      `the gzipped bundle is ${kib(gzipSize)}: over the project's ${kib(GZIP_BUDGET_BYTES)} budget`,
    );
  }
  return { lines, problems };
}
