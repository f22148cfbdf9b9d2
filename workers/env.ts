// The Worker's env: the generated Env, with Vectorize typed as the current (V2) binding, which
// `wrangler types` still describes with the legacy interface, and the secrets (set with
// `wrangler secret put`, or .dev.vars locally), which the generated type leaves out.
export type WorkerEnv = Omit<Env, "VECTORIZE"> & {
  VECTORIZE: Vectorize;
  ADMIN_API_KEY?: string;
  BACKUP_SIGNING_KEY?: string;
  CONSOLE_SESSION_KEY?: string;
};

export function workerEnv(env: Env): WorkerEnv {
  return env as unknown as WorkerEnv;
}
