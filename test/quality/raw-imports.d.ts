// Vite's "?raw" imports (the fixture files as text), as the quality tests use them.
declare module "*?raw" {
  const text: string;
  export default text;
}

// Vite's "?inline" imports (a binary fixture as a base64 data: URL), as the format tests use them.
declare module "*?inline" {
  const dataUrl: string;
  export default dataUrl;
}
