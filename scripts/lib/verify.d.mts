// Type declarations for verify.mjs, so TypeScript callers (the tests) import it typed.
export declare const DEFAULT_NAMESPACE: string;
export declare const DEFAULT_FILTER_FIELD: string;
export declare const DEFAULT_TIMEOUT_SECONDS: number;
export declare const USAGE: string;
export type VerifyFlags = Partial<
  Record<"url" | "help" | "key" | "namespace" | "timeout" | "filter-field", string | boolean>
>;
export declare const OPTIONS: Record<
  keyof VerifyFlags & string,
  { type: "string" | "boolean"; short?: string }
>;
export declare function verifySettings(
  values: VerifyFlags,
  env?: Record<string, string | undefined>,
  devAdminKey?: () => string | undefined,
):
  | { help: true }
  | {
      help: false;
      baseUrl: string;
      apiKey: string;
      namespace: string;
      timeoutMs: number;
      filterField: string;
    };
export declare function formatStep(result: "ok" | "FAIL", name: string, ms: number, detail: string): string;
export declare function runVerify(options: {
  client: ReturnType<typeof import("./client.mjs").createClient>;
  namespace: string;
  timeoutMs: number;
  filterField: string;
  log: (line: string) => void;
  sleep?: (ms: number) => Promise<void>;
}): Promise<{ ok: true; ms: number } | { ok: false; step: string; reason: string; ms: number }>;
export declare function verifyCommand(
  values: VerifyFlags,
  deps?: {
    fetch?: (input: string, init?: RequestInit) => Promise<Response>;
    env?: Record<string, string | undefined>;
    devAdminKey?: () => string | undefined;
    log?: (line: string) => void;
  },
): Promise<number>;
