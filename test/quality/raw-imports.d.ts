// Vite's "?raw" imports (the fixture files as text), as the quality tests use them.
declare module "*?raw" {
  const text: string;
  export default text;
}
