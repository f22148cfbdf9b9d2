// Builds the WebAssembly text modules under src/vectors/engine/ into the .wasm files committed beside
// them (Workers import those as compiled modules, so a deploy needs no build step).
// `--check` builds in memory and fails when a committed .wasm is missing or differs from its .wat.
import { readdir, readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import wabt from "wabt";
import { parseCommandLine, run } from "./lib/args.ts";

const USAGE = `Usage: node scripts/build-wasm.ts [--check]

Compiles every src/vectors/engine/*.wat to the .wasm beside it.
  --check     compile in memory only; exit 1 when a committed .wasm is missing or out of date
  -h, --help  show this help`;

const ENGINE_DIR = path.join(import.meta.dirname, "..", "src", "vectors", "engine");
const FEATURES = { simd: true };

async function compile(toolkit: Awaited<ReturnType<typeof wabt>>, file: string): Promise<Uint8Array> {
  const source = await readFile(file, "utf8");
  const module = toolkit.parseWat(path.basename(file), source, FEATURES);
  try {
    module.resolveNames();
    module.validate();
    // No debug names: the output depends on the instructions only, so --check compares like for like.
    return module.toBinary({ write_debug_names: false, canonicalize_lebs: true }).buffer;
  } finally {
    module.destroy();
  }
}

async function readIfExists(file: string) {
  try {
    return new Uint8Array(await readFile(file));
  } catch {
    return undefined;
  }
}

async function main(argv: string[]): Promise<number> {
  const values = parseCommandLine(argv, {
    check: { type: "boolean" },
    help: { type: "boolean", short: "h" },
  });
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  const toolkit = await wabt();
  const sources = (await readdir(ENGINE_DIR)).filter((f) => f.endsWith(".wat")).sort();
  let stale = 0;
  for (const name of sources) {
    const watFile = path.join(ENGINE_DIR, name);
    const wasmFile = watFile.replace(/\.wat$/, ".wasm");
    const binary = await compile(toolkit, watFile);
    const relative = path.relative(process.cwd(), wasmFile);
    if (values.check) {
      const committed = await readIfExists(wasmFile);
      const same =
        committed !== undefined && Buffer.compare(Buffer.from(committed), Buffer.from(binary)) === 0;
      if (!same) stale++;
      console.log(`${same ? "ok   " : "STALE"} ${relative}${same ? "" : ": run node scripts/build-wasm.ts"}`);
    } else {
      await writeFile(wasmFile, binary);
      console.log(`wrote ${relative} (${binary.byteLength} bytes)`);
    }
  }
  return stale === 0 ? 0 : 1;
}

process.exitCode = await run(main, USAGE);
