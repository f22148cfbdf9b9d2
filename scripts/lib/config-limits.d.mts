// Type declarations for config-limits.mjs, so TypeScript callers (the unit tests) import it typed.
export declare const RATE_LIMIT_PERIODS: number[];
export declare const MAX_ENV_VARS_FREE: number;
export declare const MAX_ENV_VARS_PAID: number;
export declare const MAX_ENV_VAR_BYTES: number;
export declare const MAX_CONSUMER_BATCH_SIZE: number;
export declare const MAX_CONSUMER_BATCH_TIMEOUT_S: number;
export declare const MAX_CONSUMER_RETRIES: number;
export declare function configLimitProblems(section: Record<string, unknown>, secrets: number): string[];
export declare const MAX_D1_DATABASES_FREE: number;
export declare function d1DatabaseProblems(data: Record<string, unknown>): string[];
