// Type declarations for worst-case-documents.mjs, so the tests import it typed.
export declare function worstCaseMarkdown(maxBytes: number, seed?: number): string;
export declare function worstCaseJson(maxBytes: number, seed?: number): string;
