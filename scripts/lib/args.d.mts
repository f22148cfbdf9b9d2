// Type declarations for args.mjs, so TypeScript callers (the unit tests) import it typed.
export declare const NAMESPACE_PATTERN: RegExp;
export declare class UsageError extends Error {}
export declare class ScriptError extends Error {}
export declare const CONNECTION_OPTIONS: {
  readonly url: { readonly type: "string" };
  readonly help: { readonly type: "boolean"; readonly short: "h" };
};
export declare const CONNECTION_USAGE: string;
export declare function parseCommandLine(
  argv: string[],
  options: Record<string, unknown>,
): Record<string, unknown>;
export declare function connectionSettings(
  values: { url?: string | boolean | undefined },
  env?: Record<string, string | undefined>,
  devAdminKey?: () => string | undefined,
): { baseUrl: string; apiKey: string | undefined };
export declare function apiKeyShell(env?: Record<string, string | undefined>): string;
export declare function checkNamespace(name: string): string;
export declare function positiveInt(
  value: string | boolean | undefined,
  flag: string,
  fallback: number,
): number;
export declare function createProgress(
  stream?: { write(chunk: string): unknown; isTTY?: boolean },
  intervalMs?: number,
): { update(line: string): void; done(): void };
export declare function formatTable(headers: string[], rows: string[][]): string;
export declare function fixed(value: number, digits: number): string;
export declare function isEntryPoint(moduleUrl: string): boolean;
export declare function run(
  main: (argv: string[]) => Promise<number>,
  usage: string,
  argv?: string[],
): Promise<number>;
export declare function connect(
  settings: { baseUrl: string; apiKey: string | undefined },
  progress: { done(): void },
): Promise<ReturnType<typeof import("./client.mjs").createClient>>;
