// CPU accounting from /proc (Linux): CPU time of the server's process group split by role
// (wrangler's Node process, the proxy workerd, the Worker's workerd), and the whole machine's busy
// time, so a run can tell its own load from other programs'. Elsewhere it reports nothing.
import { readdirSync, readFileSync, readlinkSync } from "node:fs";

/** Clock ticks per second of /proc times (USER_HZ): 100 on every mainstream Linux build. */
const TICKS_PER_SECOND = 100;

export type CpuSnapshot = {
  at: number;
  machineBusy: number;
  machineTotal: number;
  cores: number;
  groups: Record<string, number>;
  self: number;
};

function readText(file: string) {
  try {
    return readFileSync(file, "utf8");
  } catch {
    return null;
  }
}

/**
 * Fields after the command name of /proc/<pid>/stat (the name may contain spaces and parentheses).
 */
function statFields(stat: string) {
  return stat.slice(stat.lastIndexOf(")") + 2).split(" ");
}

/** pid -> role; a pid's role never changes, so it is read once. */
const roles: Map<number, string> = new Map();

/**
 * @param proxyPort the port wrangler serves on: its proxy workerd binds it
 */
function roleOf(pid: number, proxyPort: number) {
  const known = roles.get(pid);
  if (known) return known;
  const cmdline = (readText(`/proc/${pid}/cmdline`) ?? "").split("\0");
  const exe = (cmdline[0] ?? "").split("/").pop() ?? "";
  let role = "other";
  if (exe === "workerd") {
    role = cmdline.some((a) => a.endsWith(`entry=127.0.0.1:${proxyPort}`)) ? "proxy" : "worker";
  } else if (exe === "node" || exe === "node22") {
    role = "node";
  } else if (exe === "esbuild") {
    role = "esbuild";
  }
  roles.set(pid, role);
  return role;
}

/**
 * CPU times now: per role within the process group `pgid` (when given), this process, and the machine.
 * @returns null where /proc is unavailable
 */
export function cpuSnapshot(server: { pgid?: number; proxyPort?: number } = {}): CpuSnapshot | null {
  const stat = readText("/proc/stat");
  if (stat === null) return null;
  const cpuLine = stat.split("\n").find((l) => l.startsWith("cpu "));
  const nums = (cpuLine ?? "").trim().split(/\s+/).slice(1).map(Number);
  // user nice system idle iowait irq softirq steal: idle and iowait are not busy.
  const total = nums.slice(0, 8).reduce((a, b) => a + b, 0);
  const busy = total - (nums[3] ?? 0) - (nums[4] ?? 0);
  const cores = stat.split("\n").filter((l) => /^cpu\d+ /.test(l)).length || 1;
  const groups: Record<string, number> = {};
  if (server.pgid !== undefined) {
    for (const entry of readdirSync("/proc")) {
      if (!/^\d+$/.test(entry)) continue;
      const text = readText(`/proc/${entry}/stat`);
      if (text === null) continue;
      const f = statFields(text);
      // After the name: state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime
      if (Number(f[2]) !== server.pgid) continue;
      const role = roleOf(Number(entry), server.proxyPort ?? -1);
      groups[role] = (groups[role] ?? 0) + ((Number(f[11]) + Number(f[12])) * 1000) / TICKS_PER_SECOND;
    }
  }
  const usage = process.cpuUsage();
  return {
    at: performance.now(),
    machineBusy: (busy * 1000) / TICKS_PER_SECOND,
    machineTotal: (total * 1000) / TICKS_PER_SECOND,
    cores,
    groups,
    self: (usage.user + usage.system) / 1000,
  };
}

/**
 * What happened between two snapshots, per request where `requests` is given.
 * Processes that exited in between are not counted (their time is gone from /proc).
 */
export function cpuDelta(a: CpuSnapshot | null, b: CpuSnapshot | null, requests: number) {
  if (!a || !b) return null;
  const wallMs = b.at - a.at;
  const serverMs: Record<string, number> = {};
  for (const [role, ms] of Object.entries(b.groups)) serverMs[role] = ms - (a.groups[role] ?? 0);
  const serverTotal = Object.values(serverMs).reduce((s, v) => s + v, 0);
  const clientMs = b.self - a.self;
  const machineBusyMs = b.machineBusy - a.machineBusy;
  const perRequestUs = (ms: number) => (requests > 0 ? (ms * 1000) / requests : NaN);
  const serverUsPerRequest: Record<string, number> = {};
  for (const [role, ms] of Object.entries(serverMs)) serverUsPerRequest[role] = perRequestUs(ms);
  return {
    wallMs,
    cores: b.cores,
    clientUsPerRequest: perRequestUs(clientMs),
    serverUsPerRequest,
    serverTotalUsPerRequest: perRequestUs(serverTotal),
    /** In cores (1.0 = one core fully busy). */
    clientCores: clientMs / wallMs,
    serverCores: serverTotal / wallMs,
    machineBusyCores: machineBusyMs / wallMs,
    /** Busy time that was neither this process nor the server: other programs on the machine. */
    otherCores: Math.max(0, (machineBusyMs - clientMs - serverTotal) / wallMs),
  };
}

/**
 * Pids of the process group's Worker runtime (the workerd that does not serve the proxy port).
 */
export function workerPids(pgid: number, proxyPort: number) {
  const pids: number[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    const text = readText(`/proc/${entry}/stat`);
    if (text === null || Number(statFields(text)[2]) !== pgid) continue;
    if (roleOf(Number(entry), proxyPort) === "worker") pids.push(Number(entry));
  }
  return pids;
}

/**
 * TCP ports the process listens on at 127.0.0.1 (from /proc/net/tcp and its socket fds).
 */
export function listeningPorts(pid: number): number[] {
  const inodes: Set<string> = new Set();
  let fds = [];
  try {
    fds = readdirSync(`/proc/${pid}/fd`);
  } catch {
    return [];
  }
  for (const fd of fds) {
    try {
      const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
      if (m?.[1]) inodes.add(m[1]);
    } catch {
      // Closed meanwhile.
    }
  }
  const ports: number[] = [];
  for (const line of (readText("/proc/net/tcp") ?? "").split("\n").slice(1)) {
    const f = line.trim().split(/\s+/);
    // local_address rem_address st ... inode: 0100007F:PORT, state 0A = LISTEN
    const [addr, portHex] = (f[1] ?? "").split(":");
    if (f[3] === "0A" && addr === "0100007F" && inodes.has(f[9] ?? ""))
      ports.push(Number.parseInt(portHex ?? "", 16));
  }
  return ports;
}

/**
 * Time the processes' threads spent runnable but waiting for a CPU, in ms (the second field of
 * /proc/<pid>/task/<tid>/schedstat, in ns; Documentation/scheduler/sched-stats.rst). Threads that
 * exited are not counted. 0 where /proc is unavailable.
 */
export function runQueueWaitMs(pids: readonly number[]): number {
  let ns = 0;
  for (const pid of pids) {
    let tids: string[] = [];
    try {
      tids = readdirSync(`/proc/${pid}/task`);
    } catch {
      continue;
    }
    for (const tid of tids) {
      const fields = (readText(`/proc/${pid}/task/${tid}/schedstat`) ?? "").trim().split(" ");
      ns += Number(fields[1] ?? 0) || 0;
    }
  }
  return ns / 1e6;
}
