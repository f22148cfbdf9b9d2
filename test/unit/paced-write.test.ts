// The pacing of one KV key's writes: concurrent requests share writes, writes are an interval
// apart, every request returns after a write that started after it, and failures reach callers.
import { describe, expect, it } from "vitest";
import { PacedWrite, type WriteClock } from "../../workers/objects/paced-write";

const INTERVAL_MS = 50;

function memoryClock(): WriteClock {
  let at = 0;
  return { get: () => at, set: (t) => (at = t) };
}

/** A key whose write takes a while and stores the value it read when it started. */
function slowKey() {
  const key = {
    value: 0,
    written: -1,
    write: async () => {
      const snapshot = key.value;
      await new Promise((r) => setTimeout(r, 5));
      key.written = snapshot;
    },
  };
  return key;
}

describe("PacedWrite", () => {
  it("serves twenty concurrent requests with two writes, an interval apart", async () => {
    const starts: number[] = [];
    const paced = new PacedWrite(
      async () => {
        starts.push(Date.now());
      },
      memoryClock(),
      INTERVAL_MS,
    );
    await Promise.all(Array.from({ length: 20 }, () => paced.request()));
    // The first request's write starts at once; the nineteen that came meanwhile share the next.
    expect(starts).toHaveLength(2);
    expect((starts[1] ?? 0) - (starts[0] ?? 0)).toBeGreaterThanOrEqual(INTERVAL_MS);
    expect(paced.pending).toBe(false);
  });

  it("returns only after a write that started after the request", async () => {
    const key = slowKey();
    const paced = new PacedWrite(key.write, memoryClock(), INTERVAL_MS);
    const first = paced.request();
    // Changed while the first write is in flight: this request must wait for the next write.
    key.value = 1;
    const second = paced.request();
    await first;
    await second;
    expect(key.written).toBe(1);
  });

  it("waits for the interval after a write that happened before a restart", async () => {
    const clock = memoryClock();
    const lastWrite = Date.now();
    clock.set(lastWrite);
    const starts: number[] = [];
    const paced = new PacedWrite(
      async () => {
        starts.push(Date.now());
      },
      clock,
      INTERVAL_MS,
    );
    await paced.request();
    expect(starts[0] ?? 0).toBeGreaterThanOrEqual(lastWrite + INTERVAL_MS);
  });

  it("rejects the requests a failed write covered, and writes again on the next request", async () => {
    let fail = true;
    let writes = 0;
    const paced = new PacedWrite(
      async () => {
        writes++;
        if (fail) throw new Error("KV PUT failed: 503");
      },
      memoryClock(),
      INTERVAL_MS,
    );
    await expect(paced.request()).rejects.toThrow("503");
    expect(paced.pending).toBe(true);
    fail = false;
    await paced.request();
    expect(writes).toBe(2);
    expect(paced.pending).toBe(false);
  });

  it("keeps a noted request pending past a write already under way, until the next write", async () => {
    const key = slowKey();
    const paced = new PacedWrite(key.write, memoryClock(), INTERVAL_MS);
    const first = paced.request();
    // Changed while the first write is in flight, and noted without waiting (the alarm writes it).
    key.value = 1;
    paced.note();
    await first;
    expect(key.written).toBe(0);
    expect(paced.pending).toBe(true);
    await paced.request();
    expect(key.written).toBe(1);
    expect(paced.pending).toBe(false);
  });
});
