// Long runs of numbers, and of empty arrays and objects, in JSON arrays, cut out of the text before
// JSON.parse: a flood of numbers costs JSON.parse a double each, and flattening a string each; a
// flood of "[]" costs an array each, and flattening a step each; several times the work of prose
// of the same size. Each run becomes one marker element that stands for its elements; the line of
// text of a run of numbers ("1, 2.5, 1e+21") is made from the JSON text directly.

/** A run of numbers cut out of an array: how many elements it stands for, and its flattened text. */
export interface NumberRun {
  kind: "numbers";
  count: number;
  text: string;
}

/**
 * A run of empty arrays and objects cut out of an array: how many elements it stands for. Flattened,
 * it gives no text and, as each of its elements would, ends the line of values before it.
 */
export interface EmptyRun {
  kind: "empty";
  count: number;
}

export type ElementRun = NumberRun | EmptyRun;

/**
 * JSON text with its long runs of elements replaced by markers, the runs the markers stand for, and how
 * deeply arrays and objects nest in it (as jsonDepth counts).
 */
export interface ShieldedJson {
  text: string;
  runs: ElementRun[];
  depth: number;
}

/** Shorter runs are left to JSON.parse: cutting them out would cost more than it saves. */
const MIN_RUN = 32;
const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COMMA = 0x2c;
const MINUS = 0x2d;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACKET = 0x5d;
const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;
/** The text JSON.parse turns into a marker: NUL, then the run's index. */
const MARKER_ESCAPE = "\\u0000";
// RFC 8259: a number (section 6), and a comma with the whitespace around it (section 2: space,
// tab, line feed, carriage return).
const NUMBER = "-?(?:0|[1-9]\\d*)(?:\\.\\d+)?(?:[eE][+-]?\\d+)?";
const SEPARATOR = "[ \\t\\n\\r]*,[ \\t\\n\\r]*";
// A number as String() writes its value: no fraction or exponent, not -0, at most 15 digits.
const CANONICAL = "(?:0|-?[1-9]\\d{0,14})";
// Matched from lastIndex by the regular expression engine rather than a loop over each character,
// at most 1024 numbers a match: the engine keeps a backtracking entry for each repetition, so what
// one match holds stays bounded however long the run.
const RUN_RE = new RegExp(`${NUMBER}(?:${SEPARATOR}${NUMBER}){0,1023}`, "y");
const MORE_RUN_RE = new RegExp(`(?:${SEPARATOR}${NUMBER}){1,1024}`, "y");
const CANONICAL_RUN_RE = new RegExp(`${CANONICAL}(?:${SEPARATOR}${CANONICAL}){0,1023}`, "y");
const MORE_CANONICAL_RE = new RegExp(`(?:${SEPARATOR}${CANONICAL}){1,1024}`, "y");
const SEPARATOR_RE = new RegExp(SEPARATOR, "g");
// An empty array or object, blanks allowed inside (RFC 8259 sections 4 and 5).
const EMPTY = "(?:\\[[ \\t\\n\\r]*\\]|\\{[ \\t\\n\\r]*\\})";
const EMPTY_RUN_RE = new RegExp(`${EMPTY}(?:${SEPARATOR}${EMPTY}){0,1023}`, "y");
const MORE_EMPTY_RE = new RegExp(`(?:${SEPARATOR}${EMPTY}){1,1024}`, "y");

function isDigit(c: number): boolean {
  return c >= 0x30 && c <= 0x39;
}

function isJsonSpace(c: number): boolean {
  return c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d;
}

/**
 * The run a marker element stands for, or undefined for any other value. A parsed string holds
 * NUL only through a "\u0000" escape, and text holding one is never shielded: no string of the
 * document can pass for a marker.
 */
export function runOf(value: unknown, runs: ElementRun[]): ElementRun | undefined {
  if (runs.length === 0 || typeof value !== "string" || value.charCodeAt(0) !== 0) return undefined;
  return runs[Number(value.slice(1))];
}

/**
 * Where the run that the sticky `first` matches the start of, and `more` each continuation of,
 * stops from `start` (start when it does not match there).
 */
function matchEnd(first: RegExp, more: RegExp, s: string, start: number): number {
  first.lastIndex = start;
  if (!first.test(s)) return start;
  let end = first.lastIndex;
  for (more.lastIndex = end; more.test(s); more.lastIndex = end) end = more.lastIndex;
  return end;
}

/**
 * The run of numbers separated by commas starting at `start`: where it ends, and the run when it
 * has at least MIN_RUN of them and "," or "]" follows it (else null: no run starting inside it
 * qualifies either, so the caller goes on from its end).
 */
function numberRun(s: string, start: number): { end: number; run: NumberRun | null } {
  const end = matchEnd(RUN_RE, MORE_RUN_RE, s, start);
  if (end - start < 2 * MIN_RUN - 1 || !endsElement(s, end)) return { end, run: null };
  // Numbers written as String() writes them are kept as written; others go through their value.
  if (matchEnd(CANONICAL_RUN_RE, MORE_CANONICAL_RE, s, start) !== end) {
    const numbers = s.slice(start, end).split(SEPARATOR_RE);
    const text = numbers.map((n) => String(Number(n))).join(", ");
    const run: NumberRun = { kind: "numbers", count: numbers.length, text };
    return numbers.length < MIN_RUN ? { end, run: null } : { end, run };
  }
  const run = canonicalRun(s, start, end);
  return run.count < MIN_RUN ? { end, run: null } : { end, run };
}

/** Whether "," or "]" follows `end`, blanks aside: what may follow an array element. */
function endsElement(s: string, end: number): boolean {
  let after = end;
  while (isJsonSpace(s.charCodeAt(after))) after++;
  const next = s.charCodeAt(after);
  return next === COMMA || next === CLOSE_BRACKET;
}

/**
 * The run of empty arrays and objects separated by commas starting at `start`: where it ends, and
 * the run when it has at least MIN_RUN of them and "," or "]" follows it (else null).
 */
function emptyRun(s: string, start: number): { end: number; run: EmptyRun | null } {
  const end = matchEnd(EMPTY_RUN_RE, MORE_EMPTY_RE, s, start);
  // Each element takes at least two characters, and a comma parts it from the next.
  if (end - start < 3 * MIN_RUN - 1 || !endsElement(s, end)) return { end, run: null };
  let count = 1;
  for (let i = start; i < end; i++) if (s.charCodeAt(i) === COMMA) count++;
  return count < MIN_RUN ? { end, run: null } : { end, run: { kind: "empty", count } };
}

/** The run of either kind that starts at `start` with the character `c`, as the two above. */
function elementRun(s: string, start: number, c: number): { end: number; run: ElementRun | null } {
  if (c === MINUS || isDigit(c)) return numberRun(s, start);
  if (c === OPEN_BRACKET || c === OPEN_BRACE) return emptyRun(s, start);
  return { end: start, run: null };
}

const ascii = new TextDecoder();
/**
 * The bytes canonicalRun writes, decoded a chunk at a time; module-level, so reused for the
 * isolate's lifetime: a buffer as large as each run, allocated outside the JavaScript heap for
 * every document, makes the garbage collector work harder on every document parsed after it.
 */
const scratch = new Uint8Array(1 << 16);

/**
 * A run of numbers written as String() writes them: as written, blanks dropped and ", " between
 * them. Built as bytes and decoded: String.replaceAll and replace with a pattern build their
 * result by concatenation and take most of a second on a run of a megabyte.
 */
function canonicalRun(s: string, start: number, end: number): NumberRun {
  const parts: string[] = [];
  let size = 0;
  let count = 1;
  for (let i = start; i < end; i++) {
    if (size > scratch.length - 2) {
      parts.push(ascii.decode(scratch.subarray(0, size)));
      size = 0;
    }
    const c = s.charCodeAt(i);
    if (c === COMMA) {
      scratch[size++] = COMMA;
      scratch[size++] = 0x20;
      count++;
    } else if (!isJsonSpace(c)) scratch[size++] = c;
  }
  parts.push(ascii.decode(scratch.subarray(0, size)));
  return { kind: "numbers", count, text: parts.join("") };
}

/** Where the string whose opening quote is at `start` ends (its closing quote; the length if none). */
function stringEnd(s: string, start: number): number {
  for (let from = start + 1; ; ) {
    const quote = s.indexOf('"', from);
    if (quote < 0) return s.length;
    let backslashes = 0;
    while (s.charCodeAt(quote - 1 - backslashes) === BACKSLASH) backslashes++;
    if (backslashes % 2 === 0) return quote;
    from = quote + 1;
  }
}

/**
 * The JSON text with each run of at least MIN_RUN numbers, or of empty arrays and objects, in an
 * array replaced by one marker element, and its nesting depth, in the one pass over the text
 * jsonDepth would make; the depth alone once past `stopAbove`. Valid text stays valid and parses
 * to the same structure, each marker where its run was; text that is not JSON may change (parse
 * the original for its error).
 */
export function shieldElementRuns(body: string, stopAbove = Number.POSITIVE_INFINITY): ShieldedJson {
  const runs: ElementRun[] = [];
  const shield = !body.includes(MARKER_ESCAPE);
  const pieces: string[] = [];
  let from = 0;
  // After "[" or ",": where an array element starts in valid JSON (in an object a key follows a
  // comma; a marker there leaves text that is not JSON still not JSON).
  let elementStart = false;
  let depth = 0;
  let max = 0;
  for (let i = 0; i < body.length; i++) {
    const c = body.charCodeAt(i);
    if (isJsonSpace(c)) continue;
    if (elementStart && shield) {
      const found = elementRun(body, i, c);
      if (found.run) {
        pieces.push(body.slice(from, i), `"${MARKER_ESCAPE}${runs.length}"`);
        runs.push(found.run);
        from = found.end;
      }
      // Numbers, or empty arrays and objects, commas and blanks only up to there: nothing that opens
      // a string, and arrays and objects one deeper at most, each closed where it opens.
      if (found.end > i) {
        if (c === OPEN_BRACKET || c === OPEN_BRACE) max = Math.max(max, depth + 1);
        if (max > stopAbove) return { text: body, runs: [], depth: max };
        elementStart = false;
        i = found.end - 1;
        continue;
      }
    }
    elementStart = c === OPEN_BRACKET || c === COMMA;
    if (c === QUOTE) i = stringEnd(body, i);
    else if (c === OPEN_BRACKET || c === OPEN_BRACE) {
      depth++;
      if (depth > max) max = depth;
      if (max > stopAbove) return { text: body, runs: [], depth: max };
    } else if (c === CLOSE_BRACKET || c === CLOSE_BRACE) depth = Math.max(0, depth - 1);
  }
  if (runs.length === 0) return { text: body, runs, depth: max };
  pieces.push(body.slice(from));
  return { text: pieces.join(""), runs, depth: max };
}
