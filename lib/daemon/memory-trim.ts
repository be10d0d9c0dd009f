// Gives what glibc's malloc keeps back to the kernel, every few seconds. The daemon's threads free a lot of
// malloc memory after bursts (V8's compiler zones, parser buffers, OpenSSL and zlib state at start-up, on a
// reload, in a takeover), and glibc keeps free pages in its arenas unless they sit at the very top of one.
// A node holding 1,000 VIPs kept ~7-9 MB in its main arena. malloc_trim(0) returns the free pages of every
// arena; it costs ~0.4-0.7 ms a call here, so every 5 s is ~0.01 % of a core. Scale bench, 1,000 IPv6 VIPs:
// steady RSS 85.1-85.8 -> 80.7-81.5 MB per node (docs/design.md, "Memory at scale").
import { libc } from "../net/libc";

/**
 * Starts the periodic trim; returns its stop. `trim` is libc's malloc_trim (faked in unit tests). A period
 * in which `busy()` says a burst has just begun (a takeover, a reload, an add: heap-mode.ts, within
 * TRIM_SKIP_AFTER_BURST_MS) is skipped: right after a large reload the arenas hold tens of MB of freed
 * pages, and one trim then took ~90 ms of the main thread
 * (cpu-prof of a 10,000-service reload, between the load and the new VIP's election). It is tried again a
 * fifth of a period later; a burst's end also trims at once (trimMallocNow), after its full collection.
 */
export function startMemoryTrim(
  trim: () => number,
  everyMs = TRIM_EVERY_MS,
  busy: () => boolean = () => false,
): () => void {
  let timer: NodeJS.Timeout | undefined;
  const schedule = (ms = everyMs): void => {
    timer = setTimeout(run, ms);
    timer.unref();
  };
  const run = (): void => {
    if (busy()) {
      schedule(everyMs / 5); // soon after the busy moment, not a whole period later
      return;
    }
    try {
      trim();
    } catch {
      // Not glibc (musl has no malloc_trim): nothing to give back this way; stop asking.
      return;
    }
    schedule();
  };
  schedule();
  return () => clearTimeout(timer);
}

export const TRIM_EVERY_MS = 5000;

/**
 * A trim this soon after a burst began is skipped: the burst's own work (a reload's election, a takeover's
 * adds) runs then. Not the whole burst: a start-up's burst lasts seconds after its adds, and skipping every
 * trim in it left ~3-10 MB more RSS at 1,000 VIPs when the scale bench measured steady state.
 */
export const TRIM_SKIP_AFTER_BURST_MS = 1_500;

/** One malloc_trim now (a burst's end); nothing where libc has none. */
export function trimMallocNow(trim: () => number = () => libc().mallocTrim()): void {
  try {
    trim();
  } catch {
    // Not glibc: nothing to give back this way.
  }
}
