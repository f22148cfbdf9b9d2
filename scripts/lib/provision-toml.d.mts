// Type declarations for provision-toml.mjs, so TypeScript callers (the unit tests) import it typed.
export interface Span {
  start: number;
  end: number;
}
export interface TableSpan {
  path: string[];
  index: number | null;
  headerEnd: number;
  end: number;
  keys: Map<string, Span>;
}
export interface ParsedToml {
  data: Record<string, unknown>;
  tables: TableSpan[];
}
export declare class TomlError extends Error {}
export declare function parseToml(text: string): ParsedToml;
export declare function tomlString(value: string): string;
export declare function setTomlString(
  text: string,
  table: { path: string[]; index: number | null },
  key: string,
  value: string,
): string;
