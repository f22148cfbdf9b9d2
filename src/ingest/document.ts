// The parsed form every document format is turned into before chunking, and the builder the
// parsers share to produce it: a heading path per section, paragraphs separated by blank lines.
import { isTrimmed } from "./code-units";

export interface ParsedSection {
  /** The heading path above this section, outermost first; empty before the first heading. */
  headings: string[];
  /** Readable text: paragraphs separated by one blank line, lines within a paragraph by "\n". */
  text: string;
}

export interface ParsedDocument {
  title?: string;
  sections: ParsedSection[];
}

// Whitespace other than one plain space: a tab, a run, any Unicode space.
const ODD_SPACE_RE = /[^\S\n ]| {2}/;

// Anything tidyParagraph would change: odd or doubled spaces, a line break next to a space or another
// line break, whitespace at either end.
const UNTIDY_RE = /[^\S\n ]| {2}|\n[ \n]| \n|^\s|\s$/;

/** Collapses runs of spaces within each line and drops empty lines, so no blank line remains. */
export function tidyParagraph(raw: string): string {
  if (!/\S/.test(raw)) return "";
  // Already tidy (single spaces, no blank or padded line, nothing to trim): most paragraphs, and a
  // flood of short lines would pay for a split, a test and a trim per line.
  if (!UNTIDY_RE.test(raw)) return raw;
  // Most lines hold single spaces only, which the rewrite would keep: it is skipped for them.
  return raw
    .split(/\r\n?|\n/)
    .map((line) => (ODD_SPACE_RE.test(line) ? line.replace(/[^\S\n]+/g, " ") : line).trim())
    .filter((line) => line.length > 0)
    .join("\n");
}

/** Splits plain text into tidy paragraphs on blank lines. */
export function plainParagraphs(text: string): string[] {
  // A line ends at "\r\n", "\r" or "\n". A run of blank lines is one break: the whitespace after
  // it would make only empty paragraphs or leading blanks, which tidyParagraph drops.
  return text
    .split(/(?:\r\n|\r(?!\n)|\n)[^\S\r\n]*(?:\r\n|\r(?!\n)|\n)\s*/)
    .map(tidyParagraph)
    .filter((p) => p.length > 0);
}

/** Whitespace-collapsed single line, for titles and headings. */
export function oneLine(text: string): string {
  // Already one line (single spaces between words, none at either end): most headings, each of a
  // flood of short ones would otherwise pay for a rewrite and a trim.
  let space = true;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (!isTrimmed(c)) space = false;
    else if (space || c !== 0x20) return text.replace(/\s+/g, " ").trim();
    else space = true;
  }
  return space && text.length > 0 ? text.replace(/\s+/g, " ").trim() : text;
}

/**
 * A heading longer than this is an unclosed tag or a runaway line swallowing the page: its text is
 * kept as a paragraph instead, so no heading path repeats it before every chunk of the document.
 */
export const MAX_HEADING_CHARS = 500;

interface OpenHeading {
  level: number;
  text: string;
}

/**
 * Accumulates paragraphs under the current heading path. A heading closes the section before it and
 * replaces every open heading at its level or deeper.
 */
export class SectionBuilder {
  private readonly open: OpenHeading[] = [];
  private readonly sections: ParsedSection[] = [];
  private paragraphs: string[] = [];

  heading(level: number, text: string): void {
    const clean = oneLine(text);
    if (clean.length === 0) return;
    if (clean.length > MAX_HEADING_CHARS) {
      this.paragraph(text);
      return;
    }
    this.closeSection();
    while (this.open.length > 0 && (this.open[this.open.length - 1]?.level ?? 0) >= level) this.open.pop();
    this.open.push({ level, text: clean });
  }

  paragraph(text: string): void {
    const clean = tidyParagraph(text);
    if (clean.length > 0) this.paragraphs.push(clean);
  }

  finish(): ParsedSection[] {
    this.closeSection();
    return this.sections;
  }

  private closeSection(): void {
    if (this.paragraphs.length === 0) return;
    this.sections.push({ headings: this.open.map((h) => h.text), text: this.paragraphs.join("\n\n") });
    this.paragraphs = [];
  }
}
