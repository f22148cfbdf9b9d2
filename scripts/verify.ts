#!/usr/bin/env node
// `npm run verify -- --url URL [--key KEY] [--namespace NS]`: checks a deployed service (or
// `npm run dev`) end to end with a canary document; see scripts/lib/verify.ts for the steps.
import { isEntryPoint, parseCommandLine, run } from "./lib/args.ts";
import { OPTIONS, USAGE, verifyCommand } from "./lib/verify.ts";

if (isEntryPoint(import.meta.url)) {
  process.exitCode = await run((argv) => verifyCommand(parseCommandLine(argv, OPTIONS)), USAGE);
}
