// Raised scheduling priority for the failure-detector thread, as keepalived (vrrp_rt_priority) and corosync
// do: on a host saturated by busy processes a normal thread waits tens of ms for a CPU, and a heartbeat that
// waits that long looks like a dead peer to the other side. Called from inside the gossip worker, so it
// changes only that thread (Linux schedules threads; sched_setscheduler/setpriority on a tid act on it alone).
// Tries SCHED_RR, then a negative nice value, then leaves the thread as it is: nothing here is required for
// correctness, only for margin. Permission comes from root, CAP_SYS_NICE, or the unit's LimitRTPRIO
// (systemd/vipd.service grants LimitRTPRIO, not the capability).
import { readdirSync } from "node:fs";
import koffi from "koffi";

export const SCHED_RR = 2;
/** Low in the real-time range: above every normal thread, below the kernel's own RT threads (99). */
export const DETECTOR_RT_PRIORITY = 10;
/**
 * The process's other threads (V8's GC helper pool above all): favoured over normal threads by the fair
 * scheduler, but not real-time, so their bursts (concurrent marking, background compiles) never starve
 * other processes. Our own main thread runs at the same nice (MAIN_NICE).
 */
export const HELPER_NICE = -10;
/** The fallback when real-time scheduling is refused. */
export const DETECTOR_NICE = -10;
/**
 * The main thread (elections, netlink adds, announcements): level with the helpers. At nice 0 it had a ninth
 * of a helper's share of a CPU whenever V8's background work ran (CFS weights 1024 against 9548), and a
 * takeover or a reload is exactly when V8 recompiles and marks concurrently, in every node at once.
 */
export const MAIN_NICE = -10;
const PRIO_PROCESS = 0;

/** What the thread ended up with, for the log and `vipd status`. */
export interface SchedulingOutcome {
  readonly policy: "rr" | "nice" | "normal";
  /** SCHED_RR priority (rr) or nice value (nice); 0 for normal. */
  readonly value: number;
  /** Why it is not better (errno names of the refused attempts), empty when SCHED_RR was granted. */
  readonly refused: string;
}

export function describeScheduling(s: SchedulingOutcome): string {
  if (s.policy === "rr") return `SCHED_RR priority ${s.value}`;
  if (s.policy === "nice") return `nice ${s.value} (real-time refused: ${s.refused})`;
  return `normal (not raised: ${s.refused})`;
}

interface SchedCalls {
  gettid(): number;
  setRoundRobin(tid: number, priority: number): number;
  setNice(tid: number, nice: number): number;
  errno(): number;
}

let calls: SchedCalls | undefined;

function sched(): SchedCalls {
  if (calls) return calls;
  const lib = koffi.load("libc.so.6");
  const gettid = lib.func("int gettid(void)");
  // struct sched_param is one int (sched_priority).
  const setscheduler = lib.func("int sched_setscheduler(int pid, int policy, _In_ int *param)");
  const setpriority = lib.func("int setpriority(int which, int who, int prio)");
  calls = {
    gettid: () => Number(gettid()),
    setRoundRobin: (tid, priority) => Number(setscheduler(tid, SCHED_RR, [priority])),
    setNice: (tid, nice) => Number(setpriority(PRIO_PROCESS, tid, nice)),
    errno: () => koffi.errno(),
  };
  return calls;
}

function errnoName(errno: number): string {
  return errno === 1 ? "EPERM" : errno === 22 ? "EINVAL" : errno === 38 ? "ENOSYS" : `errno ${errno}`;
}

/** Raises the calling thread's priority as far as allowed; never throws. */
export function raiseThisThreadPriority(): SchedulingOutcome {
  let c: SchedCalls;
  let tid: number;
  try {
    c = sched();
    tid = c.gettid();
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    return { policy: "normal", value: 0, refused: `libc unavailable: ${reason}` };
  }
  if (c.setRoundRobin(tid, DETECTOR_RT_PRIORITY) === 0)
    return { policy: "rr", value: DETECTOR_RT_PRIORITY, refused: "" };
  const rrError = errnoName(c.errno());
  if (c.setNice(tid, DETECTOR_NICE) === 0) return { policy: "nice", value: DETECTOR_NICE, refused: rrError };
  return { policy: "normal", value: 0, refused: `SCHED_RR ${rrError}, nice ${errnoName(c.errno())}` };
}

/** How the process's other threads ended up (for `vipd status`). */
export interface HelperScheduling {
  /** Threads raised (or all that were tried, when none could be). */
  readonly threads: number;
  readonly outcome: SchedulingOutcome;
}

/** A thread that is only ever reniced (never real-time): "nice -10", or why it stayed normal. */
function describeNice(o: SchedulingOutcome): string {
  return o.policy === "nice" ? `nice ${o.value}` : `normal (not raised: ${o.refused})`;
}

export function describeHelperScheduling(h: HelperScheduling, main?: SchedulingOutcome): string {
  const helpers = `${h.threads} helper threads ${describeNice(h.outcome)}`;
  return main === undefined ? helpers : `main thread ${describeNice(main)}, ${helpers}`;
}

/**
 * Gives the main thread nice MAIN_NICE (MAIN_NICE says why). Call it before the gossip worker starts: threads
 * created later (the worker, which then raises itself to real-time, and libuv's pool) start from it. Still
 * SCHED_OTHER: its bursts (a 10,000-VIP start-up) share the CPU with the host's other work instead of
 * starving it. Never throws.
 */
export function raiseMainThread(): SchedulingOutcome {
  return setNiceOf([process.pid], MAIN_NICE).outcome;
}

/**
 * Gives every thread of this process except the main one nice HELPER_NICE. Why: V8 runs every isolate's
 * garbage collection with help from one shared pool of platform threads, and the gossip thread's collection
 * waits for the helpers it started. At normal priority on a saturated host a helper can sit preempted for
 * 100 ms while the real-time detector thread waits for it: a priority inversion, and a silence its peers take
 * for a crash. Measured on this 2-core host with 3 busy processes and 6 allocating node processes, a SCHED_RR
 * worker ticking every 25 ms and allocating like gossip (60 s per run): normal-priority helpers made it late
 * by up to 53 and 135 ms (p99.9 25 and 67 ms); helpers at nice -10 by at most 13 and 28 ms (p99.9 10 and
 * 7 ms); helpers at SCHED_RR 5 did no better (34 and 29 ms) and, being real-time, can let V8's background work
 * (concurrent marking, compiles) starve every normal process (the one full test run with them lost 4 probes
 * at a hand-over in the upgrade lab; not proven to be the cause). Call it on the main thread before the
 * gossip worker starts (the worker raises itself to real-time); threads the main thread creates later
 * (libuv's pool, started lazily) start from the main thread's nice (raiseMainThread). Never throws.
 */
export function raiseHelperThreads(tids: readonly number[] = otherThreadsOfThisProcess()): HelperScheduling {
  return setNiceOf(tids, HELPER_NICE);
}

/** Sets `nice` on each of `tids` (each a thread of this process); "nice" only when all of them took it. */
function setNiceOf(tids: readonly number[], nice: number): HelperScheduling {
  let c: SchedCalls;
  try {
    c = sched();
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    return { threads: 0, outcome: { policy: "normal", value: 0, refused: `libc unavailable: ${reason}` } };
  }
  let raised = 0;
  let refused = "";
  for (const tid of tids) {
    if (c.setNice(tid, nice) === 0) raised++;
    else refused = errnoName(c.errno());
  }
  if (raised > 0 && raised === tids.length)
    return { threads: raised, outcome: { policy: "nice", value: nice, refused: "" } };
  return { threads: tids.length, outcome: { policy: "normal", value: 0, refused: `nice ${refused}` } };
}

/** The ids of this process's threads other than the main thread (whose id is the pid). */
export function otherThreadsOfThisProcess(): number[] {
  try {
    return readdirSync("/proc/self/task")
      .map(Number)
      .filter((tid) => Number.isInteger(tid) && tid !== process.pid);
  } catch {
    return [];
  }
}
