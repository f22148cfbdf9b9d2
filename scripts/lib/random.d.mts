// Type declarations for random.mjs, so TypeScript callers (the unit tests) import it typed.
export declare function seededRandom(seed: number): () => number;
