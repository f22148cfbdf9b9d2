// Imports TypeScript from src/ into Node: bundled with esbuild into a temporary folder (the code
// under src/ uses extensionless imports that Node's loader does not resolve).
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { build } from "esbuild";

/**
 * @param entryPoint a .ts file
 * @param prefix of the temporary folder's name
 * @returns the bundled module, typed by the caller as the entry point's own module type
 */
export async function importBundled<T>(entryPoint: string, prefix: string): Promise<T> {
  const dir = await mkdtemp(path.join(os.tmpdir(), prefix));
  try {
    const outfile = path.join(dir, "bundle.mjs");
    await build({
      entryPoints: [entryPoint],
      bundle: true,
      format: "esm",
      platform: "node",
      target: "node22",
      outfile,
      logLevel: "warning",
    });
    return (await import(pathToFileURL(outfile).href)) as T;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
