// What a promise rejected with, for assertions on the error; fails the test when it resolves.
// Pure (no cloudflare:* imports), so tests in Node can use it too.
export async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (err) {
    return err;
  }
  throw new Error("expected the call to fail");
}
