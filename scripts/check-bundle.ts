// Checks the deploy bundle that `wrangler deploy --dry-run --outdir DIR` wrote against the Worker
// size limit (scripts/lib/bundle-size.ts) and prints the figures. CI runs it after the dry run.
import { readdir, readFile } from "node:fs/promises";
import path from "node:path";
import { parseCommandLine, run, ScriptError } from "./lib/args.ts";
import { judgeBundle, measureBundle, STARTUP_LIMIT_MS } from "./lib/bundle-size.ts";

const USAGE = `Usage: node scripts/check-bundle.ts [--dir DIR]

Measures the Worker modules in DIR (default: dist, from wrangler deploy --dry-run --outdir dist)
and exits 1 when the bundle is over the platform's size limit or the project's size or gzip budget.
  --dir DIR   wrangler's --outdir
  -h, --help  show this help`;

async function main(argv: string[]): Promise<number> {
  const values = parseCommandLine(argv, {
    dir: { type: "string" },
    help: { type: "boolean", short: "h" },
  });
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  const dir = typeof values.dir === "string" ? values.dir : "dist";
  let names: string[];
  try {
    names = (await readdir(dir)).sort();
  } catch {
    throw new ScriptError(`no bundle in ${dir}: run npx wrangler deploy --dry-run --outdir ${dir} first`);
  }
  const files = await Promise.all(
    names.map(async (name) => ({ name, bytes: new Uint8Array(await readFile(path.join(dir, name))) })),
  );
  const sizes = measureBundle(files);
  const { lines, problems } = judgeBundle(sizes);
  console.log(`bundle ${dir}: ${sizes.modules.join(", ")}`);
  for (const line of lines) console.log(`  ${line}`);
  console.log(
    `  startup: the global scope must run within ${STARTUP_LIMIT_MS} ms (npx wrangler check startup measures it)`,
  );
  for (const problem of problems) console.error(`FAIL ${problem}`);
  return problems.length === 0 ? 0 : 1;
}

process.exitCode = await run(main, USAGE);
