#!/usr/bin/env node
// `npm run restore-drill -- --namespace NS [--url URL] [--key KEY]`: restores the namespace's
// latest complete backup into a scratch namespace and compares the two; see
// scripts/lib/restore-drill.ts.
import { isEntryPoint, parseCommandLine, run } from "./lib/args.ts";
import { drillCommand, OPTIONS, USAGE } from "./lib/restore-drill.ts";

if (isEntryPoint(import.meta.url)) {
  process.exitCode = await run((argv) => drillCommand(parseCommandLine(argv, OPTIONS)), USAGE);
}
