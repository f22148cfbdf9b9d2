// The part of node:async_hooks the Worker uses (workerd provides it under nodejs_compat). The
// project does not load Node's types, which describe a different runtime's globals.
declare module "node:async_hooks" {
  export class AsyncLocalStorage<T> {
    run<R>(store: T, fn: () => R): R;
    getStore(): T | undefined;
  }
}
