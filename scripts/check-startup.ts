// Measures the Worker's startup with `wrangler check startup` (offline: it builds the Worker and
// profiles its global scope in local workerd) and fails over the project's budget
// (scripts/lib/startup-time.ts). CI runs it after the deploy dry run.
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { parseCommandLine, positiveInt, run, ScriptError } from "./lib/args.ts";
import { judgeStartup, STARTUP_BUDGET_MS, startupCpu } from "./lib/startup-time.ts";
import { runWrangler } from "./lib/wrangler.ts";

const USAGE = `Usage: node scripts/check-startup.ts [--budget MS]

Profiles the Worker's startup with npx wrangler check startup and exits 1 when its active CPU is
over the budget (default ${STARTUP_BUDGET_MS} ms; the platform's limit is 1 s).
  --budget MS  the budget in milliseconds
  -h, --help   show this help`;

async function main(argv: string[]): Promise<number> {
  const values = parseCommandLine(argv, {
    budget: { type: "string" },
    help: { type: "boolean", short: "h" },
  });
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  const budget = positiveInt(values.budget, "--budget", STARTUP_BUDGET_MS);
  const dir = await mkdtemp(path.join(tmpdir(), "edgesearch-startup-"));
  try {
    const outfile = path.join(dir, "startup.cpuprofile");
    const result = await runWrangler(["check", "startup", "--outfile", outfile]);
    if (result.code !== 0) {
      throw new ScriptError(
        `wrangler check startup failed (exit ${result.code}):\n${result.stderr || result.stdout}`,
      );
    }
    const profile = JSON.parse(await readFile(outfile, "utf8"));
    const { lines, problems } = judgeStartup(startupCpu(profile), budget);
    for (const line of lines) console.log(line);
    for (const problem of problems) console.error(`FAIL ${problem}`);
    return problems.length === 0 ? 0 : 1;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

process.exitCode = await run(main, USAGE);
