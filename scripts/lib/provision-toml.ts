// The part of TOML that wrangler.toml uses (tables, arrays of tables, dotted keys, strings,
// numbers, booleans, arrays, inline tables), read with the position of every value so that the
// provisioner can write ids back in place: comments, order and formatting stay as they were.
// Pure: no I/O, so the tests run it inside workerd.

export type Span = { start: number; end: number };

export type TableSpan = {
  path: string[];
  index: number | null;
  headerEnd: number;
  end: number;
  keys: Map<string, Span>;
};

export type ParsedToml = { data: Record<string, unknown>; tables: TableSpan[] };

export class TomlError extends Error {
  constructor(message: string, text: string, at: number) {
    const line = text.slice(0, at).split("\n").length;
    super(`wrangler.toml line ${line}: ${message}`);
    this.name = "TomlError";
  }
}

const BARE_KEY = /[A-Za-z0-9_-]/;

const isTable = (v: unknown): v is Record<string, unknown> =>
  typeof v === "object" && v !== null && !Array.isArray(v);

export function parseToml(text: string): ParsedToml {
  let pos = 0;
  const data: Record<string, unknown> = {};
  const tables: TableSpan[] = [{ path: [], index: null, headerEnd: 0, end: 0, keys: new Map() }];
  let current: Record<string, unknown> = data;
  let currentSpan: TableSpan = tables[0] as TableSpan;

  const fail = (message: string) => new TomlError(message, text, pos);
  const peek = () => text[pos] ?? "";

  /** Spaces and tabs only. */
  const skipInline = () => {
    while (peek() === " " || peek() === "\t") pos++;
  };
  /** Whitespace, newlines and comments (inside arrays). */
  const skipAll = () => {
    for (;;) {
      const c = peek();
      if (c === " " || c === "\t" || c === "\n" || c === "\r") pos++;
      else if (c === "#") while (pos < text.length && peek() !== "\n") pos++;
      else return;
    }
  };
  const endOfLine = () => {
    skipInline();
    if (peek() === "#") while (pos < text.length && peek() !== "\n") pos++;
    if (peek() === "\r") pos++;
    if (pos < text.length && peek() !== "\n") throw fail(`unexpected "${peek()}"`);
    pos++;
  };

  const basicString = () => {
    if (text.startsWith('"""', pos)) {
      const close = text.indexOf('"""', pos + 3);
      if (close === -1) throw fail("unterminated multi-line string");
      const raw = text.slice(pos + 3, close).replace(/^\r?\n/, "");
      pos = close + 3;
      return unescapeBasic(raw.replace(/\\\r?\n\s*/g, ""));
    }
    pos++;
    let raw = "";
    for (;;) {
      const c = peek();
      if (c === "" || c === "\n") throw fail("unterminated string");
      if (c === '"') break;
      if (c === "\\") {
        raw += c + (text[pos + 1] ?? "");
        pos += 2;
        continue;
      }
      raw += c;
      pos++;
    }
    pos++;
    return unescapeBasic(raw);
  };
  const unescapeBasic = (raw: string) =>
    raw.replace(/\\(u[0-9A-Fa-f]{4}|U[0-9A-Fa-f]{8}|.)/g, (_, e) => {
      const simple = (
        {
          b: "\b",
          t: "\t",
          n: "\n",
          f: "\f",
          r: "\r",
          '"': '"',
          "\\": "\\",
        } as Record<string, string>
      )[e];
      if (simple !== undefined) return simple;
      if (e[0] === "u" || e[0] === "U") return String.fromCodePoint(Number.parseInt(e.slice(1), 16));
      throw fail(`invalid escape \\${e}`);
    });
  const literalString = () => {
    if (text.startsWith("'''", pos)) {
      const close = text.indexOf("'''", pos + 3);
      if (close === -1) throw fail("unterminated multi-line string");
      const raw = text.slice(pos + 3, close).replace(/^\r?\n/, "");
      pos = close + 3;
      return raw;
    }
    const close = text.indexOf("'", pos + 1);
    const newline = text.indexOf("\n", pos + 1);
    if (close === -1 || (newline !== -1 && newline < close)) throw fail("unterminated string");
    const raw = text.slice(pos + 1, close);
    pos = close + 1;
    return raw;
  };

  const key = () => {
    const parts: string[] = [];
    for (;;) {
      skipInline();
      const c = peek();
      if (c === '"') parts.push(basicString());
      else if (c === "'") parts.push(literalString());
      else {
        const start = pos;
        while (BARE_KEY.test(peek())) pos++;
        if (start === pos) throw fail("expected a key");
        parts.push(text.slice(start, pos));
      }
      skipInline();
      if (peek() !== ".") return parts;
      pos++;
    }
  };

  const value = (): unknown => {
    const c = peek();
    if (c === '"') return basicString();
    if (c === "'") return literalString();
    if (c === "[") {
      pos++;
      const items: unknown[] = [];
      for (;;) {
        skipAll();
        if (peek() === "]") {
          pos++;
          return items;
        }
        items.push(value());
        skipAll();
        if (peek() === ",") pos++;
        else if (peek() !== "]") throw fail('expected "," or "]" in an array');
      }
    }
    if (c === "{") {
      pos++;
      const table: Record<string, unknown> = {};
      skipInline();
      if (peek() === "}") {
        pos++;
        return table;
      }
      for (;;) {
        const parts = key();
        if (peek() !== "=") throw fail('expected "="');
        pos++;
        skipInline();
        assign(table, parts, value());
        skipInline();
        if (peek() === ",") {
          pos++;
          continue;
        }
        if (peek() === "}") {
          pos++;
          return table;
        }
        throw fail('expected "," or "}" in an inline table');
      }
    }
    const m = /^(true|false|[+-]?(?:inf|nan)|[0-9A-Za-z_:.+-]+)/.exec(text.slice(pos, pos + 64));
    if (!m?.[1]) throw fail("expected a value");
    const token = m[1];
    pos += token.length;
    if (token === "true") return true;
    if (token === "false") return false;
    const plain = token.replace(/_/g, "");
    if (/^[+-]?(0|[1-9]\d*)$/.test(plain)) return Number(plain);
    if (/^0x[0-9a-fA-F]+$|^0o[0-7]+$|^0b[01]+$/.test(plain)) return Number(plain);
    if (/^[+-]?\d+(\.\d+)?([eE][+-]?\d+)?$/.test(plain)) return Number(plain);
    if (/^[+-]?inf$/.test(plain)) return plain.startsWith("-") ? -Infinity : Infinity;
    if (/^[+-]?nan$/.test(plain)) return Number.NaN;
    // Dates and times stay strings: wrangler.toml has none this tool needs to understand.
    return token;
  };

  const assign = (table: Record<string, unknown>, parts: string[], v: unknown) => {
    let t = table;
    for (const part of parts.slice(0, -1)) {
      const next = t[part] ?? {};
      if (!isTable(next)) throw fail(`"${part}" is not a table`);
      t[part] = next;
      t = next;
    }
    const last = parts.at(-1) as string;
    if (Object.hasOwn(t, last)) throw fail(`duplicate key "${parts.join(".")}"`);
    t[last] = v;
  };

  /**
   * Walks to the table a header names, creating it; for [[x]] appends an entry.
   */
  const openTable = (path: string[], array: boolean) => {
    let t: Record<string, unknown> = data;
    path.forEach((part, i) => {
      const last = i === path.length - 1;
      let next = t[part];
      if (last && array) {
        if (next === undefined) next = [];
        if (!Array.isArray(next)) throw fail(`"${path.join(".")}" is not an array of tables`);
        const entry: Record<string, unknown> = {};
        next.push(entry);
        t[part] = next;
        t = entry;
        return;
      }
      if (next === undefined) next = {};
      // A header under an array of tables continues its latest entry, as TOML specifies.
      if (Array.isArray(next)) next = next.at(-1);
      if (!isTable(next)) throw fail(`"${part}" is not a table`);
      t[part] = next;
      t = next;
    });
    return t;
  };

  while (pos < text.length) {
    skipAll();
    if (pos >= text.length) break;
    if (peek() === "[") {
      const array = text[pos + 1] === "[";
      pos += array ? 2 : 1;
      const path = key();
      if (!text.startsWith(array ? "]]" : "]", pos)) throw fail("unterminated table header");
      pos += array ? 2 : 1;
      current = openTable(path, array);
      let index = null;
      if (array) {
        let parent = data as unknown;
        path.forEach((part, i) => {
          parent = isTable(parent) ? parent[part] : undefined;
          if (Array.isArray(parent) && i < path.length - 1) parent = parent.at(-1);
        });
        index = Array.isArray(parent) ? parent.length - 1 : 0;
      }
      endOfLine();
      currentSpan = { path, index, headerEnd: pos, end: pos, keys: new Map() };
      tables.push(currentSpan);
      continue;
    }
    const parts = key();
    if (peek() !== "=") throw fail('expected "="');
    pos++;
    skipInline();
    const start = pos;
    const v = value();
    const end = pos;
    assign(current, parts, v);
    currentSpan.keys.set(parts.join("."), { start, end });
    endOfLine();
    currentSpan.end = pos;
  }
  return { data, tables };
}

/**
 * A TOML basic string for a value.
 */
export function tomlString(value: string) {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: escaping control characters is the point
  return `"${value.replace(/[\\"\u0000-\u001f\u007f]/g, (c) => {
    if (c === "\\" || c === '"') return `\\${c}`;
    return `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`;
  })}"`;
}

/**
 * Sets `key = "value"` in one table of a TOML text, in place. `path` and `index` name the table as
 * the parser reports it: ["env", "staging", "kv_namespaces"] with index 0 is the first
 * [[env.staging.kv_namespaces]] entry. An existing value is replaced where it stands; a missing
 * key is added after the table's last key. Nothing else in the text changes.
 */
export function setTomlString(
  text: string,
  table: { path: string[]; index: number | null },
  key: string,
  value: string,
): string {
  const { tables } = parseToml(text);
  const span = tables.find(
    (t) => t.path.join(".") === table.path.join(".") && (t.index ?? null) === (table.index ?? null),
  );
  if (!span) {
    const where = `${table.path.join(".")}${table.index === null ? "" : `[${table.index}]`}`;
    throw new Error(`wrangler.toml has no table ${where}`);
  }
  const existing = span.keys.get(key);
  if (existing) return text.slice(0, existing.start) + tomlString(value) + text.slice(existing.end);
  const at = span.keys.size > 0 ? span.end : span.headerEnd;
  const newline = at > 0 && text[at - 1] !== "\n" ? "\n" : "";
  return `${text.slice(0, at)}${newline}${key} = ${tomlString(value)}\n${text.slice(at)}`;
}
