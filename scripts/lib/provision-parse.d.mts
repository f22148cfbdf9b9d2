// Type declarations for provision-parse.mjs, so TypeScript callers (the unit tests) import it typed.
export declare function stripAnsi(text: string): string;
export declare function parseJsonOutput(text: string): unknown;
export declare function parseVectorizeList(
  text: string,
): { name: string; dimensions: number | null; metric: string | null }[];
export declare function parseMetadataIndexes(text: string): Record<string, string>;
export declare function parseKvList(text: string): { id: string; title: string }[];
export declare function parseD1List(text: string): { uuid: string; name: string }[];
export declare function parseSecretList(text: string): string[];
export declare function parseBoxTable(text: string): Record<string, string>[];
export declare function parseQueueList(text: string): string[];
export declare function parseLabelledBlocks(text: string): Record<string, string>[];
export declare function parseR2BucketList(text: string): string[];
export declare function parseNotificationRules(
  text: string,
): { queue: string; prefix: string; suffix: string; actions: string[] }[];
