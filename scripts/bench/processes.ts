// Child processes the bench starts, each in its own process group so that stopping it also stops
// what it started (wrangler's workerd processes). Every group is registered for cleanup: on
// normal exit, on errors and on Ctrl-C, nothing the bench started keeps running.
import { spawn } from "node:child_process";
import { openSync } from "node:fs";

const cleanups: Set<() => void | Promise<void>> = new Set();
/** process groups still alive, for the last-resort kill on exit */
const liveGroups: Set<number> = new Set();
let interrupted = false;

/** True once Ctrl-C (or SIGTERM, SIGHUP) arrived: failures after it are the shutdown's, not errors. */
export function wasInterrupted() {
  return interrupted;
}

/**
 * Registers work to run at cleanup; returns a function that unregisters it.
 */
export function onCleanup(fn: () => void | Promise<void>) {
  cleanups.add(fn);
  return () => cleanups.delete(fn);
}

/** Runs every registered cleanup (latest first), once each. */
export async function runCleanups() {
  const pending = [...cleanups].reverse();
  cleanups.clear();
  for (const fn of pending) {
    try {
      await fn();
    } catch (err) {
      process.stderr.write(`cleanup failed: ${err instanceof Error ? err.message : String(err)}\n`);
    }
  }
}

/**
 * Ctrl-C, SIGTERM and SIGHUP stop everything the bench started, then exit 130. A second Ctrl-C
 * kills the groups at once.
 */
export function installSignalHandlers() {
  let stopping = false;
  const handler = (signal: NodeJS.Signals) => {
    if (stopping) {
      killAllNow();
      process.exit(130);
    }
    stopping = true;
    interrupted = true;
    process.stderr.write(`\n${signal}: stopping the servers this command started...\n`);
    void runCleanups().finally(() => process.exit(130));
  };
  for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"] as const) process.on(signal, handler);
  // Last resort (an exception that skipped the cleanups): the exit handler can only be synchronous.
  process.on("exit", killAllNow);
}

function killAllNow() {
  for (const pgid of liveGroups) {
    try {
      process.kill(-pgid, "SIGKILL");
    } catch {
      // Already gone.
    }
  }
  liveGroups.clear();
}

function groupAlive(pgid: number) {
  try {
    process.kill(-pgid, 0);
    return true;
  } catch {
    return false;
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Stops a process group: SIGTERM, then SIGKILL after `graceMs`; resolves once no process of the
 * group is left (so a restarted server never races the old one for its files or ports).
 */
export async function stopGroup(pgid: number, graceMs: number = 5000) {
  try {
    process.kill(-pgid, "SIGTERM");
  } catch {
    liveGroups.delete(pgid);
    return;
  }
  const deadline = performance.now() + graceMs;
  while (groupAlive(pgid) && performance.now() < deadline) await sleep(50);
  if (groupAlive(pgid)) {
    try {
      process.kill(-pgid, "SIGKILL");
    } catch {
      // Gone between the check and the kill.
    }
    const hardDeadline = performance.now() + 5000;
    while (groupAlive(pgid) && performance.now() < hardDeadline) await sleep(50);
  }
  liveGroups.delete(pgid);
}

/**
 * Starts a command as the leader of a new process group, its output appended to `logFile`.
 * `graceMs`: how long stopping waits after SIGTERM before SIGKILL (a command that stops children
 * of its own on SIGTERM needs longer than they do).
 */
export function startGroup(
  command: string,
  args: string[],
  { cwd, env, logFile, graceMs }: { cwd: string; env: NodeJS.ProcessEnv; logFile: string; graceMs?: number },
) {
  const fd = openSync(logFile, "a");
  const child = spawn(command, args, { cwd, env, stdio: ["ignore", fd, fd], detached: true });
  const pgid = child.pid;
  if (pgid === undefined) throw new Error(`could not start ${command}`);
  liveGroups.add(pgid);
  let exited: { code: number | null; signal: NodeJS.Signals | null } | null = null;
  const exit = new Promise((resolve) => {
    child.on("exit", (code, signal) => {
      exited = { code, signal };
      resolve(exited);
    });
  });
  const unregister = onCleanup(() => stopGroup(pgid, graceMs));
  return {
    pgid,
    exited: (): { code: number | null; signal: NodeJS.Signals | null } | null => exited,
    exit: exit as Promise<{ code: number | null; signal: NodeJS.Signals | null }>,
    stop: async () => {
      unregister();
      await stopGroup(pgid, graceMs);
    },
  };
}

/**
 * Runs a command to completion in its own process group; rejects on a non-zero exit or after
 * `timeoutMs` (the group is then killed). Output goes to `logFile`.
 */
export async function runGroup(
  command: string,
  args: string[],
  options: { cwd: string; env: NodeJS.ProcessEnv; logFile: string; timeoutMs: number },
) {
  const group = startGroup(command, args, options);
  let handle: NodeJS.Timeout | undefined;
  const timer = new Promise((resolve) => {
    handle = setTimeout(resolve, options.timeoutMs, "timeout");
  });
  const outcome = await Promise.race([group.exit, timer]);
  clearTimeout(handle);
  if (outcome === "timeout") {
    await group.stop();
    throw new Error(
      `${command} ${args.join(" ")} took over ${options.timeoutMs / 1000} s (log: ${options.logFile})`,
    );
  }
  await group.stop();
  const { code, signal } = outcome as { code: number | null; signal: NodeJS.Signals | null };
  if (code !== 0) {
    throw new Error(
      `${command} ${args.join(" ")} failed (${signal ?? `exit ${code}`}); log: ${options.logFile}`,
    );
  }
}
