// By-id reads and deletes of any length reach a Vectorize binding in calls within its caps (20 ids
// per getByIds, 100 per deleteByIds), and nothing is lost between pages.
import { describe, expect, it } from "vitest";
import { deleteVectors, getVectors } from "../../src/vectors/paging";
import { VectorizeAdapter } from "../../src/vectors/vectorize";
import { FakeVectorize } from "../fakes/fake-vectorize";

async function filled(count: number) {
  const fake = new FakeVectorize({ dimensions: 2, autoApply: true });
  const index = new VectorizeAdapter(fake);
  const ids = Array.from({ length: count }, (_, i) => `v${i}`);
  for (let i = 0; i < ids.length; i += 1000) {
    await index.upsert(ids.slice(i, i + 1000).map((id) => ({ id, values: [1, 0] })));
  }
  fake.calls.length = 0;
  return { fake, index, ids };
}

const sizes = (fake: FakeVectorize, method: string) =>
  fake.calls.filter((c) => c.method === method).map((c) => (c.args[0] as unknown[]).length);

describe("paged by-id calls", () => {
  it("deletes 250 ids in calls of 100, 100 and 50, and answers the last mutation", async () => {
    const { fake, index, ids } = await filled(250);
    const last = await deleteVectors(index, ids);
    expect(sizes(fake, "deleteByIds")).toEqual([100, 100, 50]);
    const info = await fake.describe();
    expect(info.vectorCount).toBe(0);
    expect(last).toBe(info.processedUpToMutation);
  });

  it("reads 45 ids in calls of 20, 20 and 5, in the order asked, several calls at a time", async () => {
    const { fake, index, ids } = await filled(45);
    const asked = [...ids].reverse();
    const records = await getVectors(index, [...asked, "missing"], 4);
    expect(records.map((r) => r.id)).toEqual(asked);
    expect(sizes(fake, "getByIds")).toEqual([20, 20, 6]);
  });

  it("makes no call for no ids", async () => {
    const { fake, index } = await filled(1);
    expect(await deleteVectors(index, [])).toBeNull();
    expect(await getVectors(index, [])).toEqual([]);
    expect(fake.calls).toEqual([]);
  });
});
