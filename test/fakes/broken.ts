// Bindings that are down: every listed method rejects, as KV or the Cache API do in an outage.

export function failing<T>(methods: readonly string[], message: string): T {
  const reject = async () => {
    throw new Error(message);
  };
  return Object.fromEntries(methods.map((m) => [m, reject])) as T;
}

export const brokenKv = (): KVNamespace => failing<KVNamespace>(["get", "put", "delete", "list"], "kv down");
export const brokenCache = (): Cache => failing<Cache>(["match", "put", "delete"], "cache down");
