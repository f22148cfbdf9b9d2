// Thin wrappers that count each call to a binding into a Meter, in the units Cloudflare bills by
// (cost-counters.ts). They wrap the binding itself, so the local stand-ins Miniflare provides are
// counted on the same path as Cloudflare's bindings; a call is passed on unchanged.
import { queueMessageBytes } from "../util/queue-limits";
import type { CostCounters } from "./cost-counters";
import type { Meter } from "./meter";

type Counter = keyof CostCounters;

/** A proxy of `target` whose listed methods each add to a counter (by `amount`, 1 by default). */
function counting<T extends object>(
  target: T,
  meter: Meter,
  counters: Readonly<Record<string, Counter>>,
  amount: (method: string, args: unknown[]) => number = () => 1,
  result: (method: string, value: unknown) => unknown = (_m, value) => value,
): T {
  return new Proxy(target, {
    get(obj, prop) {
      const value: unknown = Reflect.get(obj, prop, obj);
      if (typeof value !== "function" || typeof prop !== "string") return value;
      const counter = Object.hasOwn(counters, prop) ? counters[prop] : undefined;
      if (counter === undefined) return value.bind(obj);
      return (...args: unknown[]) => {
        meter.add(counter, amount(prop, args));
        return result(prop, Reflect.apply(value, obj, args));
      };
    },
  });
}

/**
 * KV: "Workers KV pricing for read, write and delete operations is on a per-key basis. Bulk read
 * operations are billed by the amount of keys read in a bulk read operation."
 * (https://developers.cloudflare.com/kv/platform/pricing/): a get of n keys is n reads.
 */
export function meteredKv(kv: KVNamespace, meter: Meter): KVNamespace {
  return counting(
    kv,
    meter,
    { get: "kvReads", getWithMetadata: "kvReads", put: "kvWrites", delete: "kvDeletes", list: "kvLists" },
    (_method, args) => (Array.isArray(args[0]) ? args[0].length : 1),
  );
}

/** The Cache API (free on Workers, but a lookup is latency): match and put. */
export function meteredCache(cache: Cache, meter: Meter): Cache {
  return counting(cache, meter, { match: "cacheLookups", put: "cacheWrites" });
}

/**
 * R2, classed as https://developers.cloudflare.com/r2/pricing/ (cloudflare-docs
 * src/content/docs/r2/pricing.mdx) does: Class A "ListObjects, PutObject, CopyObject,
 * CompleteMultipartUpload, CreateMultipartUpload, ... UploadPart"; Class B "HeadObject,
 * GetObject"; DeleteObject and AbortMultipartUpload are free. The binding has no copy.
 */
export function meteredR2(bucket: R2Bucket, meter: Meter): R2Bucket {
  const upload = (value: unknown): unknown => {
    const part = (u: R2MultipartUpload) =>
      counting(u, meter, { uploadPart: "r2ClassA", complete: "r2ClassA" });
    if (value instanceof Promise) return value.then((u: R2MultipartUpload) => part(u));
    return typeof value === "object" && value !== null ? part(value as R2MultipartUpload) : value;
  };
  return counting(
    bucket,
    meter,
    {
      put: "r2ClassA",
      list: "r2ClassA",
      createMultipartUpload: "r2ClassA",
      resumeMultipartUpload: "r2ClassA",
      get: "r2ClassB",
      head: "r2ClassB",
    },
    (method) => (method === "resumeMultipartUpload" ? 0 : 1),
    (method, value) => (method.endsWith("MultipartUpload") ? upload(value) : value),
  );
}

/**
 * Queues bill "standard operations" per 64 KB chunk of each message written, read and deleted
 * ("each message counts as two 64 KB chunks" for ~127 KB: https://developers.cloudflare.com/
 * queues/platform/pricing/; "1 KB is measured as 1000 bytes" on the limits page). A send is the
 * write; the consumer counts the read and the delete (queueChunks).
 */
export const QUEUE_CHUNK_BYTES = 64_000;

export function queueChunks(body: unknown, contentType?: QueueContentType): number {
  return Math.max(1, Math.ceil(queueMessageBytes(body, contentType) / QUEUE_CHUNK_BYTES));
}

export function meteredQueue<Q extends Queue>(queue: Q, meter: Meter): Q {
  return counting(queue, meter, { send: "queueOperations", sendBatch: "queueOperations" }, (method, args) => {
    if (method === "send") {
      const options = args[1] as QueueSendOptions | undefined;
      return queueChunks(args[0], options?.contentType);
    }
    const batch = (args[0] ?? []) as Iterable<MessageSendRequest>;
    let chunks = 0;
    for (const m of batch) chunks += queueChunks(m.body, m.contentType);
    return chunks;
  });
}
