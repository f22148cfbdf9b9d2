// Readers of wrangler's list commands: JSON where wrangler offers it (vectorize, kv, d1,
// secrets), its tables and "label: value" blocks where it does not (queues, r2). Pure, so the
// tests pin them to real output samples.

export function stripAnsi(text: string) {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: removing terminal escapes is the point
  return text.replace(/\u001b\[[0-9;]*[A-Za-z]/g, "");
}

/**
 * The JSON document in a command's output, skipping any banner or warning lines before it.
 */
export function parseJsonOutput(text: string): unknown {
  const clean = stripAnsi(text);
  const lines = clean.split("\n");
  const first = lines.findIndex((l) => /^\s*[[{]/.test(l));
  if (first === -1) throw new Error(`expected JSON in wrangler's output: ${clean.slice(0, 200)}`);
  return JSON.parse(lines.slice(first).join("\n"));
}

const isRecord = (v: unknown): v is Record<string, unknown> =>
  typeof v === "object" && v !== null && !Array.isArray(v);
const records = (v: unknown): Record<string, unknown>[] => (Array.isArray(v) ? v.filter(isRecord) : []);

/**
 * `wrangler vectorize list --json`
 */
export function parseVectorizeList(
  text: string,
): { name: string; dimensions: number | null; metric: string | null }[] {
  return records(parseJsonOutput(text)).map((i) => {
    const config = isRecord(i.config) ? i.config : {};
    return {
      name: String(i.name ?? ""),
      dimensions: typeof config.dimensions === "number" ? config.dimensions : null,
      metric: typeof config.metric === "string" ? config.metric : null,
    };
  });
}

/**
 * `wrangler vectorize list-metadata-index <name> --json`
 * @returns index type by property name
 */
export function parseMetadataIndexes(text: string): Record<string, string> {
  return Object.fromEntries(
    records(parseJsonOutput(text)).map((i) => [
      String(i.propertyName ?? ""),
      // The API answers "String", "Number", "Boolean"; the CLI takes them in lower case.
      String(i.indexType ?? "").toLowerCase(),
    ]),
  );
}

/**
 * `wrangler kv namespace list` (always JSON)
 */
export function parseKvList(text: string): { id: string; title: string }[] {
  return records(parseJsonOutput(text)).map((n) => ({
    id: String(n.id ?? ""),
    title: String(n.title ?? ""),
  }));
}

/**
 * `wrangler d1 list --json`
 */
export function parseD1List(text: string): { uuid: string; name: string }[] {
  return records(parseJsonOutput(text)).map((d) => ({
    uuid: String(d.uuid ?? ""),
    name: String(d.name ?? ""),
  }));
}

/**
 * `wrangler d1 info <name> --json`
 * @returns the database's read replication mode ("auto", "disabled"), null when not reported
 */
export function parseD1ReadReplication(text: string): string | null {
  const info = parseJsonOutput(text);
  const replication = isRecord(info) && isRecord(info.read_replication) ? info.read_replication : {};
  return typeof replication.mode === "string" ? replication.mode : null;
}

/**
 * `wrangler auth token --json`: the API token or OAuth token wrangler calls Cloudflare with.
 * @returns null for a global API key (key and email), which is not a bearer token
 */
export function parseAuthToken(text: string): string | null {
  const auth = parseJsonOutput(text);
  return isRecord(auth) && typeof auth.token === "string" && auth.type !== "api_key" ? auth.token : null;
}

/**
 * `wrangler whoami --json`
 * @returns the ids of the accounts the credentials reach
 */
export function parseWhoamiAccounts(text: string): string[] {
  const who = parseJsonOutput(text);
  return records(isRecord(who) ? who.accounts : []).map((a) => String(a.id ?? ""));
}

/**
 * `wrangler secret list --format json`
 * @returns secret names
 */
export function parseSecretList(text: string): string[] {
  return records(parseJsonOutput(text)).map((s) => String(s.name ?? ""));
}

/**
 * The rows of a box-drawn table (wrangler's `logger.table`), as objects keyed by the header.
 */
export function parseBoxTable(text: string): Record<string, string>[] {
  const rows = stripAnsi(text)
    .split("\n")
    .filter((l) => l.trimStart().startsWith("│"))
    .map((l) =>
      l
        .trim()
        .replace(/^│|│$/g, "")
        .split("│")
        .map((c) => c.trim()),
    );
  const [head, ...body] = rows;
  if (!head) return [];
  return body.map((cells) => Object.fromEntries(head.map((h, i) => [h, cells[i] ?? ""])));
}

/**
 * `wrangler queues list [--page N]`
 * @returns queue names
 */
export function parseQueueList(text: string): string[] {
  return parseBoxTable(text)
    .map((r) => r.name ?? "")
    .filter((n) => n !== "");
}

/**
 * Blocks of "label: value" lines separated by blank lines (wrangler's formatLabelledValues).
 */
export function parseLabelledBlocks(text: string): Record<string, string>[] {
  const blocks: Record<string, string>[] = [];
  let current: Record<string, string> | null = null;
  for (const line of stripAnsi(text).split("\n")) {
    const m = /^([a-z_]+):\s+(.*?)\s*$/.exec(line);
    if (!m) {
      if (line.trim() === "") current = null;
      continue;
    }
    if (current === null) {
      current = {};
      blocks.push(current);
    }
    current[m[1] as string] = m[2] ?? "";
  }
  return blocks;
}

/**
 * `wrangler r2 bucket list`
 * @returns bucket names
 */
export function parseR2BucketList(text: string): string[] {
  return parseLabelledBlocks(text)
    .map((b) => b.name ?? "")
    .filter((n) => n !== "");
}

/**
 * `wrangler r2 bucket notification list <bucket>`
 */
export function parseNotificationRules(
  text: string,
): { queue: string; prefix: string; suffix: string; actions: string[] }[] {
  return parseLabelledBlocks(text)
    .filter((b) => b.queue_name !== undefined)
    .map((b) => ({
      queue: b.queue_name ?? "",
      prefix: b.prefix === "(all prefixes)" ? "" : (b.prefix ?? ""),
      suffix: b.suffix === "(all suffixes)" ? "" : (b.suffix ?? ""),
      actions: (b.event_type ?? "")
        .split(",")
        .map((a) => a.trim())
        .filter((a) => a !== ""),
    }));
}
