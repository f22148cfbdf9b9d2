// Type declarations for dev-vars.mjs, so TypeScript callers (the unit tests) import it typed.
export declare const DEV_VARS_PATH: string;
export declare function adminKeyFromDevVars(text: string): string | undefined;
export declare function isLoopback(url: URL): boolean;
export declare function readDevAdminKey(file?: string): string | undefined;
