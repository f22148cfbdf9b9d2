// How a local index is split over Durable Objects: shard 0 is the object named after the index (so
// an index written before sharding existed is its own shard 0) and shard n > 0 is `${index}#${n}`
// (index names follow Vectorize's rules, which have no "#"). A vector lives on the shard its id
// hashes to, for good: the shard count is fixed by the index's first write.

export const MAX_SHARDS = 64;

export function shardName(indexName: string, shard: number): string {
  return shard === 0 ? indexName : `${indexName}#${shard}`;
}

/** FNV-1a over the id's UTF-16 code units: stable across runtimes and cheap for 64-byte ids. */
export function shardOf(id: string, shards: number): number {
  if (shards <= 1) return 0;
  let hash = 0x811c9dc5;
  for (let i = 0; i < id.length; i++) {
    hash ^= id.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  return (hash >>> 0) % shards;
}
