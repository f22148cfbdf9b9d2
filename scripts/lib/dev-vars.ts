// The dev server's admin key: `npm run dev` writes ADMIN_API_KEY=<key> into .dev.vars at the repo
// root, and the scripts use it against a local server when EDGESEARCH_API_KEY is not set.
import { readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

export const DEV_VARS_PATH = path.resolve(
  path.dirname(fileURLToPath(import.meta.url)),
  "..",
  "..",
  ".dev.vars",
);

/**
 * The value of the ADMIN_API_KEY line of a .dev.vars text (dotenv syntax: optional quotes, optional
 * `export `, `#` comments), or undefined when there is none.
 */
export function adminKeyFromDevVars(text: string): string | undefined {
  for (const raw of text.split(/\r?\n/)) {
    const m = /^\s*(?:export\s+)?ADMIN_API_KEY\s*=\s*(.*?)\s*$/.exec(raw);
    if (!m) continue;
    let value = m[1] ?? "";
    const quoted = /^(["'])(.*)\1$/.exec(value);
    if (quoted) value = quoted[2] ?? "";
    else value = value.replace(/\s+#.*$/, "");
    return value === "" ? undefined : value;
  }
  return undefined;
}

/**
 * Whether a URL points at this machine, where the dev server's key is the right one to send (and
 * the only place it may be sent).
 */
export function isLoopback(url: URL) {
  const host = url.hostname.replace(/^\[|\]$/g, "");
  return host === "localhost" || host === "::1" || /^127(?:\.\d{1,3}){3}$/.test(host);
}

/**
 * The admin key from the repo's .dev.vars, or undefined when the file or the line is missing.
 */
export function readDevAdminKey(file: string = DEV_VARS_PATH): string | undefined {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch {
    return undefined;
  }
  return adminKeyFromDevVars(text);
}
