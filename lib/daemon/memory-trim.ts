// Gives what glibc's malloc keeps back to the kernel, every few seconds. The daemon's threads free a lot of
// malloc memory after bursts (V8's compiler zones, parser buffers, OpenSSL and zlib state at start-up, on a
// reload, in a takeover), and glibc keeps free pages in its arenas unless they sit at the very top of one.
// A node holding 1,000 VIPs kept ~7-9 MB in its main arena. malloc_trim(0) returns the free pages of every
// arena; it costs ~0.4-0.7 ms a call here, so every 5 s is ~0.01 % of a core. Scale bench, 1,000 IPv6 VIPs:
// steady RSS 85.1-85.8 -> 80.7-81.5 MB per node (docs/design.md, "Memory at scale").
import { libc } from "../net/libc";

/**
 * Starts the periodic trim; returns its stop. `trim` is libc's malloc_trim (faked in unit tests). A period
 * in which `busy()` says a burst runs (a takeover, a reload, start-up: heap-mode.ts) is skipped: right after a
 * large reload the arenas hold tens of MB of freed pages, and one trim then took ~90 ms of the main thread
 * (cpu-prof of a 10,000-service reload, between the load and the new VIP's election). The memory is given
 * back one period after the burst, with the burst's own full collection.
 */
export function startMemoryTrim(
  trim: () => number,
  everyMs = TRIM_EVERY_MS,
  busy: () => boolean = () => false,
): () => void {
  let timer: NodeJS.Timeout | undefined;
  const schedule = (): void => {
    timer = setTimeout(run, everyMs);
    timer.unref();
  };
  const run = (): void => {
    if (busy()) {
      schedule();
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

/** One malloc_trim now (a burst's end); nothing where libc has none. */
export function trimMallocNow(trim: () => number = () => libc().mallocTrim()): void {
  try {
    trim();
  } catch {
    // Not glibc: nothing to give back this way.
  }
}
