// Local mode only (BACKEND=local): each invocation (fetch, queue batch, scheduled run) counts its
// D1 queries and subrequests against the Cloudflare plan's limits (PLAN_LIMITS = "paid" | "free",
// default paid), and D1 statements binding strings or blobs over D1's size limit are refused as
// D1 refuses them. INVOCATION_BUDGET = "throw" (the tests) fails an invocation that crosses a
// limit, "warn" (the default, `npm run dev`) logs it. With BACKEND=cloudflare nothing is wrapped:
// the platform enforces its limits there.
//
// The env is wrapped once per isolate (so the caches keyed by env objects keep hitting) and the
// wrappers charge whichever invocation is running, through AsyncLocalStorage.
import { AsyncLocalStorage } from "node:async_hooks";
import { z } from "zod";
import {
  type BudgetReport,
  InvocationBudget,
  type InvocationLimitError,
  PLAN_LIMITS,
} from "../src/observe/invocation-budget";
import { createLogger } from "../src/observe/logger";
import { checkBoundValues } from "../src/store/d1-limits";
import type { WorkerEnv } from "./env";

const current = new AsyncLocalStorage<InvocationBudget | undefined>();

const SettingsSchema = z.object({
  PLAN_LIMITS: z.enum(["paid", "free"]).default("paid"),
  INVOCATION_BUDGET: z.enum(["throw", "warn"]).default("warn"),
  LOG_LEVEL: z.enum(["debug", "info", "warn", "error"]).default("info"),
});

// Isolate-lifetime: listeners told of each invocation's counts when it ends (the tests).
const listeners = new Set<(report: BudgetReport) => void>();

/** Calls `listener` with every budgeted invocation's counts until the returned function is called. */
export function observeBudgets(listener: (report: BudgetReport) => void): () => void {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

/**
 * Runs `work` outside the invocation's budget: the local stand-in's writes of metric points to D1
 * (local_metrics), which on Cloudflare go to Workers Analytics Engine (writeDataPoint) and are no
 * D1 query of the invocation.
 */
export function unbudgeted<T>(work: () => T): T {
  return current.run(undefined, work);
}

/** The Cloudflare plan whose limits apply (PLAN_LIMITS). */
export function planOf(env: WorkerEnv): "paid" | "free" {
  return settings(env).PLAN_LIMITS;
}

function settings(env: WorkerEnv) {
  const parsed = SettingsSchema.safeParse(env);
  if (!parsed.success) {
    const detail = parsed.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ");
    throw new Error(`invalid configuration: ${detail}`);
  }
  return parsed.data;
}

/**
 * Runs one invocation's handler under a budget (local mode), checking it when the handler ends;
 * its counts are logged at debug level ("invocation.budget", with `fields`). With
 * BACKEND=cloudflare it just runs the handler.
 */
export async function underBudget<T>(
  env: WorkerEnv,
  handler: string,
  run: () => Promise<T>,
  fields: Record<string, unknown> = {},
): Promise<T> {
  if (env.BACKEND !== "local") return run();
  const { PLAN_LIMITS: plan, INVOCATION_BUDGET: mode, LOG_LEVEL: level } = settings(env);
  const logger = createLogger(level, { component: "invocation-budget" });
  const warn = (error: InvocationLimitError) =>
    logger.warn("invocation.limit_exceeded", { handler, plan, limit: error.limit, error: error.message });
  const budget = new InvocationBudget(handler, PLAN_LIMITS[plan], mode, warn);
  let outcome: { ok: true; value: T } | { ok: false; error: unknown };
  try {
    outcome = { ok: true, value: await current.run(budget, run) };
  } catch (error) {
    outcome = { ok: false, error };
  }
  const report = budget.report();
  for (const listener of listeners) listener(report);
  logger.debug("invocation.budget", { handler, plan, ...fields, ...report.counts });
  // A limit crossed fails the invocation with its own error, even where the code caught the
  // failed call (the platform's error would have been as easy to swallow).
  budget.finish();
  if (!outcome.ok) throw outcome.error;
  return outcome.value;
}

// Isolate-lifetime: one wrapped env per env object.
const wrappedEnvs = new WeakMap<object, object>();

/** The env whose bindings charge the running invocation's budget (BACKEND=local); the env itself otherwise. */
export function withInvocationBudget<E extends WorkerEnv>(env: E): E {
  if (env.BACKEND !== "local") return env;
  const hit = wrappedEnvs.get(env);
  if (hit) return hit as E;
  patchFetch();
  const service = () => current.getStore()?.service();
  const wrapped = {
    ...env,
    DB: budgetedD1(env.DB),
    DATA_DB_1: budgetedD1(env.DATA_DB_1),
    DATA_DB_2: budgetedD1(env.DATA_DB_2),
    KV: countCalls(env.KV, ["get", "getWithMetadata", "put", "delete", "list"], service),
    DOCUMENTS: countCalls(
      env.DOCUMENTS,
      ["get", "put", "head", "delete", "list", "createMultipartUpload"],
      service,
    ),
    INGEST_QUEUE: countCalls(env.INGEST_QUEUE, ["send", "sendBatch"], service),
    AI: countCalls(env.AI, ["run"], service),
    VECTORIZE: countCalls(
      env.VECTORIZE,
      ["query", "queryById", "insert", "upsert", "deleteByIds", "getByIds", "describe"],
      service,
    ),
    LOCAL_INDEX: budgetedNamespace(env.LOCAL_INDEX),
    BREAKER: budgetedNamespace(env.BREAKER),
    COORDINATOR: budgetedNamespace(env.COORDINATOR),
    SHARD_MAP: budgetedNamespace(env.SHARD_MAP),
  };
  wrappedEnvs.set(env, wrapped);
  return wrapped;
}

/** A binding whose listed methods each count as one call. */
function countCalls<T>(target: T, methods: readonly string[], count: () => void): T {
  // Bindings the local runtime does not provide stay as they are.
  if (typeof target !== "object" || target === null) return target;
  const counted = new Set<PropertyKey>(methods);
  return new Proxy(target, {
    get(t, prop) {
      const value: unknown = Reflect.get(t, prop, t);
      if (typeof value !== "function") return value;
      if (!counted.has(prop)) return value.bind(t);
      return (...args: unknown[]) => {
        count();
        return Reflect.apply(value, t, args);
      };
    },
  });
}

// A stub's properties that are not calls to the object.
const STUB_LOCAL = new Set<PropertyKey>(["id", "name", "then", "dup"]);

/** A Durable Object namespace whose stubs count each call (RPC method or fetch) as a subrequest. */
function budgetedNamespace<T extends object>(namespace: T): T {
  return new Proxy(namespace, {
    get(t, prop) {
      const value: unknown = Reflect.get(t, prop, t);
      if (typeof value !== "function") return value;
      if (prop !== "get" && prop !== "getByName") return value.bind(t);
      return (...args: unknown[]) => budgetedStub(Reflect.apply(value, t, args) as object);
    },
  });
}

function budgetedStub<T extends object>(stub: T): T {
  return new Proxy(stub, {
    get(t, prop) {
      const value: unknown = Reflect.get(t, prop, t);
      if (typeof prop === "symbol" || STUB_LOCAL.has(prop) || typeof value !== "function") return value;
      // Reflect.apply: on an RPC stub, value.apply would itself be a call to a remote "apply".
      return (...args: unknown[]) => {
        current.getStore()?.service();
        return Reflect.apply(value, t, args);
      };
    },
  });
}

// Isolate-lifetime: global fetch counts against the invocation it runs in (patched once).
let fetchPatched = false;
function patchFetch(): void {
  if (fetchPatched) return;
  fetchPatched = true;
  const original = globalThis.fetch;
  globalThis.fetch = ((input: RequestInfo | URL, init?: RequestInit) => {
    current.getStore()?.external();
    return original(input, init);
  }) as typeof fetch;
}

// --- D1 ------------------------------------------------------------------------------------------

interface StatementState {
  inner: D1PreparedStatement;
  values: readonly unknown[];
}

// Wrapped statement -> the runtime's statement and its bound values (batch() needs the runtime's).
const statements = new WeakMap<object, StatementState>();

function unwrap(statement: D1PreparedStatement): D1PreparedStatement {
  const state = statements.get(statement);
  if (!state) return statement;
  checkBoundValues(state.values);
  return state.inner;
}

function budgetedStatement(inner: D1PreparedStatement, values: readonly unknown[]): D1PreparedStatement {
  const execute = async <R>(call: () => Promise<R>): Promise<R> => {
    checkBoundValues(values);
    current.getStore()?.d1(1);
    return call();
  };
  const wrapped = {
    bind: (...bound: unknown[]) => budgetedStatement(inner.bind(...bound), bound),
    first: (column?: string) => execute(() => (column === undefined ? inner.first() : inner.first(column))),
    run: () => execute(() => inner.run()),
    all: () => execute(() => inner.all()),
    raw: (options?: { columnNames?: boolean }) =>
      execute(() => (options?.columnNames ? inner.raw({ columnNames: true }) : inner.raw())),
  } as unknown as D1PreparedStatement;
  statements.set(wrapped, { inner, values });
  return wrapped;
}

interface D1Prepares {
  prepare(query: string): D1PreparedStatement;
  batch<T = unknown>(statements: D1PreparedStatement[]): Promise<D1Result<T>[]>;
}

function budgetedSession<S extends D1Prepares>(session: S): S {
  return new Proxy(session, {
    get(t, prop) {
      const value: unknown = Reflect.get(t, prop, t);
      if (prop === "prepare") return (query: string) => budgetedStatement(t.prepare(query), []);
      if (prop === "batch") {
        return async (list: D1PreparedStatement[]) => {
          const inner = list.map(unwrap);
          current.getStore()?.d1(list.length);
          return t.batch(inner);
        };
      }
      if (prop === "exec") {
        return (query: string) => {
          // Counted as one query per statement it holds (a rough split on ";").
          current.getStore()?.d1(query.split(";").filter((s) => s.trim() !== "").length);
          return (t as unknown as D1Database).exec(query);
        };
      }
      if (prop === "withSession") {
        return (constraint?: string) =>
          budgetedSession((t as unknown as D1Database).withSession(constraint) as unknown as D1Prepares);
      }
      return typeof value === "function" ? value.bind(t) : value;
    },
  });
}

function budgetedD1(db: D1Database): D1Database {
  return budgetedSession(db);
}
