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

/** A read position in a TOML text, with the lexing and value parsing that move it. */
class TomlCursor {
  readonly text: string;
  pos = 0;

  constructor(text: string) {
    this.text = text;
  }

  fail(message: string) {
    return new TomlError(message, this.text, this.pos);
  }
  peek() {
    return this.text[this.pos] ?? "";
  }

  /** Spaces and tabs only. */
  skipInline() {
    while (this.peek() === " " || this.peek() === "\t") this.pos++;
  }
  /** Whitespace, newlines and comments (inside arrays). */
  skipAll() {
    for (;;) {
      const c = this.peek();
      if (c === " " || c === "\t" || c === "\n" || c === "\r") this.pos++;
      else if (c === "#") while (this.pos < this.text.length && this.peek() !== "\n") this.pos++;
      else return;
    }
  }
  endOfLine() {
    this.skipInline();
    if (this.peek() === "#") while (this.pos < this.text.length && this.peek() !== "\n") this.pos++;
    if (this.peek() === "\r") this.pos++;
    if (this.pos < this.text.length && this.peek() !== "\n") throw this.fail(`unexpected "${this.peek()}"`);
    this.pos++;
  }

  basicString() {
    if (this.text.startsWith('"""', this.pos)) {
      const close = this.text.indexOf('"""', this.pos + 3);
      if (close === -1) throw this.fail("unterminated multi-line string");
      const raw = this.text.slice(this.pos + 3, close).replace(/^\r?\n/, "");
      this.pos = close + 3;
      return this.unescapeBasic(raw.replace(/\\\r?\n\s*/g, ""));
    }
    this.pos++;
    let raw = "";
    for (;;) {
      const c = this.peek();
      if (c === "" || c === "\n") throw this.fail("unterminated string");
      if (c === '"') break;
      if (c === "\\") {
        raw += c + (this.text[this.pos + 1] ?? "");
        this.pos += 2;
        continue;
      }
      raw += c;
      this.pos++;
    }
    this.pos++;
    return this.unescapeBasic(raw);
  }
  unescapeBasic(raw: string) {
    return raw.replace(/\\(u[0-9A-Fa-f]{4}|U[0-9A-Fa-f]{8}|.)/g, (_, e) => {
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
      throw this.fail(`invalid escape \\${e}`);
    });
  }
  literalString() {
    if (this.text.startsWith("'''", this.pos)) {
      const close = this.text.indexOf("'''", this.pos + 3);
      if (close === -1) throw this.fail("unterminated multi-line string");
      const raw = this.text.slice(this.pos + 3, close).replace(/^\r?\n/, "");
      this.pos = close + 3;
      return raw;
    }
    const close = this.text.indexOf("'", this.pos + 1);
    const newline = this.text.indexOf("\n", this.pos + 1);
    if (close === -1 || (newline !== -1 && newline < close)) throw this.fail("unterminated string");
    const raw = this.text.slice(this.pos + 1, close);
    this.pos = close + 1;
    return raw;
  }

  key() {
    const parts: string[] = [];
    for (;;) {
      this.skipInline();
      const c = this.peek();
      if (c === '"') parts.push(this.basicString());
      else if (c === "'") parts.push(this.literalString());
      else {
        const start = this.pos;
        while (BARE_KEY.test(this.peek())) this.pos++;
        if (start === this.pos) throw this.fail("expected a key");
        parts.push(this.text.slice(start, this.pos));
      }
      this.skipInline();
      if (this.peek() !== ".") return parts;
      this.pos++;
    }
  }

  value(): unknown {
    const c = this.peek();
    if (c === '"') return this.basicString();
    if (c === "'") return this.literalString();
    if (c === "[") {
      this.pos++;
      const items: unknown[] = [];
      for (;;) {
        this.skipAll();
        if (this.peek() === "]") {
          this.pos++;
          return items;
        }
        items.push(this.value());
        this.skipAll();
        if (this.peek() === ",") this.pos++;
        else if (this.peek() !== "]") throw this.fail('expected "," or "]" in an array');
      }
    }
    if (c === "{") {
      this.pos++;
      const table: Record<string, unknown> = {};
      this.skipInline();
      if (this.peek() === "}") {
        this.pos++;
        return table;
      }
      for (;;) {
        const parts = this.key();
        if (this.peek() !== "=") throw this.fail('expected "="');
        this.pos++;
        this.skipInline();
        this.assign(table, parts, this.value());
        this.skipInline();
        if (this.peek() === ",") {
          this.pos++;
          continue;
        }
        if (this.peek() === "}") {
          this.pos++;
          return table;
        }
        throw this.fail('expected "," or "}" in an inline table');
      }
    }
    const m = /^(true|false|[+-]?(?:inf|nan)|[0-9A-Za-z_:.+-]+)/.exec(
      this.text.slice(this.pos, this.pos + 64),
    );
    if (!m?.[1]) throw this.fail("expected a value");
    const token = m[1];
    this.pos += token.length;
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
  }

  assign(table: Record<string, unknown>, parts: string[], v: unknown) {
    let t = table;
    for (const part of parts.slice(0, -1)) {
      const next = t[part] ?? {};
      if (!isTable(next)) throw this.fail(`"${part}" is not a table`);
      t[part] = next;
      t = next;
    }
    const last = parts.at(-1) as string;
    if (Object.hasOwn(t, last)) throw this.fail(`duplicate key "${parts.join(".")}"`);
    t[last] = v;
  }
}

/**
 * Walks to the table a header names, creating it; for [[x]] appends an entry.
 */
function openTable(cursor: TomlCursor, data: Record<string, unknown>, path: string[], array: boolean) {
  let t: Record<string, unknown> = data;
  path.forEach((part, i) => {
    const last = i === path.length - 1;
    let next = t[part];
    if (last && array) {
      if (next === undefined) next = [];
      if (!Array.isArray(next)) throw cursor.fail(`"${path.join(".")}" is not an array of tables`);
      const entry: Record<string, unknown> = {};
      next.push(entry);
      t[part] = next;
      t = entry;
      return;
    }
    if (next === undefined) next = {};
    // A header under an array of tables continues its latest entry, as TOML specifies.
    if (Array.isArray(next)) next = next.at(-1);
    if (!isTable(next)) throw cursor.fail(`"${part}" is not a table`);
    t[part] = next;
    t = next;
  });
  return t;
}

export function parseToml(text: string): ParsedToml {
  const cursor = new TomlCursor(text);
  const data: Record<string, unknown> = {};
  const tables: TableSpan[] = [{ path: [], index: null, headerEnd: 0, end: 0, keys: new Map() }];
  let current: Record<string, unknown> = data;
  let currentSpan: TableSpan = tables[0] as TableSpan;

  while (cursor.pos < cursor.text.length) {
    cursor.skipAll();
    if (cursor.pos >= cursor.text.length) break;
    if (cursor.peek() === "[") {
      const array = cursor.text[cursor.pos + 1] === "[";
      cursor.pos += array ? 2 : 1;
      const path = cursor.key();
      if (!cursor.text.startsWith(array ? "]]" : "]", cursor.pos))
        throw cursor.fail("unterminated table header");
      cursor.pos += array ? 2 : 1;
      current = openTable(cursor, data, path, array);
      let index = null;
      if (array) {
        let parent = data as unknown;
        path.forEach((part, i) => {
          parent = isTable(parent) ? parent[part] : undefined;
          if (Array.isArray(parent) && i < path.length - 1) parent = parent.at(-1);
        });
        index = Array.isArray(parent) ? parent.length - 1 : 0;
      }
      cursor.endOfLine();
      currentSpan = { path, index, headerEnd: cursor.pos, end: cursor.pos, keys: new Map() };
      tables.push(currentSpan);
      continue;
    }
    const parts = cursor.key();
    if (cursor.peek() !== "=") throw cursor.fail('expected "="');
    cursor.pos++;
    cursor.skipInline();
    const start = cursor.pos;
    const v = cursor.value();
    const end = cursor.pos;
    cursor.assign(current, parts, v);
    currentSpan.keys.set(parts.join("."), { start, end });
    cursor.endOfLine();
    currentSpan.end = cursor.pos;
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
