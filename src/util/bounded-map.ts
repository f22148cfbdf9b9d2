// Insertion into a Map that keeps at most `limit` entries: the entry set last goes to the end,
// and the oldest one goes once the map is over its limit.
export function setBounded<K, V>(map: Map<K, V>, key: K, value: V, limit: number): void {
  map.delete(key);
  map.set(key, value);
  if (map.size > limit) {
    const oldest = map.keys().next().value;
    if (oldest !== undefined) map.delete(oldest);
  }
}
