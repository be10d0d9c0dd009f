// Raised scheduling priority for the failure-detector thread, as keepalived (vrrp_rt_priority) and corosync
// do: on a host saturated by busy processes a normal thread waits tens of ms for a CPU, and a heartbeat that
// waits that long looks like a dead peer to the other side. Called from inside the gossip worker, so it
// changes only that thread (Linux schedules threads; sched_setscheduler/setpriority on a tid act on it alone).
// Tries SCHED_RR, then a negative nice value, then leaves the thread as it is: nothing here is required for
// correctness, only for margin. Permission comes from root, CAP_SYS_NICE, or the unit's LimitRTPRIO
// (systemd/vipd.service grants LimitRTPRIO, not the capability).
import koffi from "koffi";

export const SCHED_RR = 2;
/** Low in the real-time range: above every normal thread, below the kernel's own RT threads (99). */
export const DETECTOR_RT_PRIORITY = 10;
/** The fallback when real-time scheduling is refused. */
export const DETECTOR_NICE = -10;
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
