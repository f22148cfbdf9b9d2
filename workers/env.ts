// The Worker's env: the generated Env, with Vectorize typed as the current (V2) binding, which
// `wrangler types` still describes with the legacy interface.
export type WorkerEnv = Omit<Env, "VECTORIZE"> & { VECTORIZE: Vectorize };

export function workerEnv(env: Env): WorkerEnv {
  return env as unknown as WorkerEnv;
}
