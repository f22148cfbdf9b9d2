// Table lookups keyed by outside input (content types, entity names, file extensions, model names).
// A plain `table[key]` also finds inherited members such as "constructor" or "__proto__"; these
// helpers see only the table's own entries.

/** The table's own value for `key`, or undefined; never an inherited Object.prototype member. */
export function ownValue<V>(table: Readonly<Record<string, V>>, key: string): V | undefined {
  return Object.hasOwn(table, key) ? table[key] : undefined;
}
