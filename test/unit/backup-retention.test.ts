// Which backups a policy's retention lets go: complete ones past the newest `count` or past the
// age, failed ones past the age; never a running one, never the newest complete one.
import { describe, expect, it } from "vitest";
import { DAY_MS } from "../../src/backup/policy";
import { type BackupSummary, backupsToPrune } from "../../src/backup/retention";

const NOW = Date.UTC(2026, 11, 5, 12);
const backup = (id: string, state: BackupSummary["state"], ageDays: number): BackupSummary => ({
  id,
  state,
  createdAt: NOW - ageDays * DAY_MS,
});

describe("backupsToPrune", () => {
  it("keeps the newest `count` complete backups, whatever order they come in", () => {
    const backups = [
      backup("b", "complete", 2),
      backup("d", "complete", 0.5),
      backup("a", "complete", 3),
      backup("c", "complete", 1),
    ];
    expect(backupsToPrune(backups, { count: 2, maxAgeDays: 30 }, NOW).sort()).toEqual(["a", "b"]);
  });

  it("lets complete and failed backups past the age go, but keeps the newest complete one", () => {
    const backups = [
      backup("old-complete", "complete", 10),
      backup("newest-complete", "complete", 8),
      backup("old-failed", "failed", 9),
      backup("young-failed", "failed", 1),
    ];
    expect(backupsToPrune(backups, { count: 5, maxAgeDays: 7 }, NOW).sort()).toEqual([
      "old-complete",
      "old-failed",
    ]);
  });

  it("never lets a running backup go, nor count failed ones toward `count`", () => {
    const backups = [
      backup("running", "running", 40),
      backup("f1", "failed", 0.1),
      backup("f2", "failed", 0.2),
      backup("c1", "complete", 1),
      backup("c2", "complete", 2),
    ];
    expect(backupsToPrune(backups, { count: 2, maxAgeDays: 30 }, NOW)).toEqual([]);
    expect(backupsToPrune(backups, { count: 1, maxAgeDays: 30 }, NOW)).toEqual(["c2"]);
  });

  it("keeps a backup exactly maxAgeDays old", () => {
    const backups = [
      backup("new", "complete", 0),
      backup("edge", "complete", 7),
      backup("past", "failed", 7.01),
    ];
    expect(backupsToPrune(backups, { count: 10, maxAgeDays: 7 }, NOW)).toEqual(["past"]);
  });
});
