// KV and D1 bindings that record each call with the calls still running when it started, to
// count the round trips a request waits for one after the other.

/** One call a binding saw: what it asked for, and what was still in flight when it started. */
export interface Call {
  key: string;
  alongside: string[];
}

/** The calls of the bindings made by `recordingKv` and `recordingD1` over one recorder. */
export interface Recorder {
  calls: Call[];
  /** Runs `call` as one recorded call named `key`. */
  track<T>(key: string, call: () => Promise<T>): Promise<T>;
}

export function recorder(): Recorder {
  const calls: Call[] = [];
  const inFlight: string[] = [];
  return {
    calls,
    async track(key, call) {
      calls.push({ key, alongside: [...inFlight] });
      inFlight.push(key);
      try {
        return await call();
      } finally {
        inFlight.splice(inFlight.indexOf(key), 1);
      }
    },
  };
}

/**
 * Calls that started while no other recorded call was running: each is a round trip the request
 * waited for before it could go on (calls started beside it share its round trip).
 */
export function sequentialRounds(calls: readonly Call[]): number {
  return calls.filter((c) => c.alongside.length === 0).length;
}

/**
 * The KV binding, recording each get (its key) into `rec`. The gets of `held` keys are answered
 * once every held key was asked for (or after a second, so that reads made one after the other
 * still finish, recorded as such).
 */
export function recordingKv(kv: KVNamespace, rec: Recorder, held: readonly string[] = []): KVNamespace {
  const asked = new Set<string>();
  let release: () => void = () => undefined;
  const allAsked = new Promise<void>((resolve) => {
    release = resolve;
  });
  const get = (key: string, ...rest: unknown[]) =>
    rec.track(key, async () => {
      if (held.includes(key)) {
        asked.add(key);
        if (held.every((k) => asked.has(k))) release();
        await Promise.race([allAsked, new Promise((resolve) => setTimeout(resolve, 1000))]);
      }
      return await (kv.get as (k: string, ...r: unknown[]) => Promise<unknown>).call(kv, key, ...rest);
    });
  return new Proxy(kv, {
    get: (target, prop) => (prop === "get" ? get : Reflect.get(target, prop, target)),
  });
}

// Recording proxy -> what it wraps and the SQL it runs (batch() must be given the binding's own
// statements).
const wrapped = new WeakMap<object, { target: object; sql: string }>();

/** A D1 call's name: "d1: " and the start of its SQL. */
const d1Key = (sql: string) => `d1: ${sql.replace(/\s+/g, " ").trim().slice(0, 60)}`;

const unwrap = (arg: unknown): unknown =>
  Array.isArray(arg)
    ? arg.map(unwrap)
    : typeof arg === "object" && arg !== null
      ? (wrapped.get(arg)?.target ?? arg)
      : arg;

/**
 * The D1 database (or a session of it), recording each query into `rec`, named by its SQL (a
 * batch by its first statement's). What its methods return (statements, sessions) records too.
 */
export function recordingD1<T extends object>(db: T, rec: Recorder, sql = ""): T {
  const proxy = new Proxy(db, {
    get(target, prop) {
      const value: unknown = Reflect.get(target, prop, target);
      if (typeof value !== "function") return value;
      return (...args: unknown[]) => {
        const first = Array.isArray(args[0]) ? args[0][0] : undefined;
        const text =
          prop === "prepare" || prop === "exec"
            ? String(args[0])
            : prop === "batch"
              ? `${wrapped.get(first)?.sql ?? ""} (batch of ${(args[0] as unknown[]).length})`
              : sql;
        const result: unknown = value.apply(target, args.map(unwrap));
        if (result instanceof Promise) return rec.track(d1Key(text), () => result);
        return typeof result === "object" && result !== null ? recordingD1(result, rec, text) : result;
      };
    },
  });
  wrapped.set(proxy, { target: db, sql });
  return proxy;
}

/**
 * How the calls named `a` and `b` went: how many of each, and whether the second of them to start
 * started while the first was still running (read side by side: one round trip, not two).
 */
export function sideBySide(
  calls: readonly Call[],
  a: string,
  b: string,
): { counts: [number, number]; overlapped: boolean } {
  const count = (key: string) => calls.filter((c) => c.key === key).length;
  const first = calls.find((c) => c.key === a || c.key === b);
  const second = calls.find((c) => c.key === (first?.key === a ? b : a));
  return {
    counts: [count(a), count(b)],
    overlapped: first !== undefined && (second?.alongside.includes(first.key) ?? false),
  };
}
