// Notices manifest edits: chokidar for prompt reloads, plus a size/mtime signature the daemon's tick
// compares as a safety net under the watcher (a change it missed is still picked up within a tick).
import { watch as watchFiles, type FSWatcher } from "chokidar";
import { statSync } from "node:fs";
import { expandPaths } from "../config/load";

/**
 * How long the files must have been left alone before they are read: editors and scripts write in several
 * steps, and a file read between two of them loads as half a config.
 */
export const SETTLE_MS = 20;
/**
 * File times come from the kernel's coarse clock: one can lag its write by a tick (measured here: 4 ms, a
 * HZ=250 kernel), so the quiet time they show can be that much too long.
 */
const MTIME_SLACK_MS = 5;
/**
 * The files' signature (one stat each) is also checked this often, through the same settle: chokidar's event
 * takes two loop turns (its own stat runs on the thread pool), and at 10,000 VIPs a turn can hold a step of
 * a few hundred ms, so in the lab the daemon's 1 s tick found the write first on two nodes of three
 * (0.45 and 0.83 s after it, cpu-prof run).
 */
export const POLL_MS = 100;
/** A writer that never stops (or a file time in the future) does not hold a reload back longer than this. */
const SETTLE_GIVE_UP_MS = 1_000;

export class ManifestWatch {
  private watcher: FSWatcher | undefined;
  private timer: NodeJS.Timeout | undefined;
  private pollTimer: NodeJS.Timeout | undefined;
  /** When the first event of the change being settled came. */
  private settlingSince: number | undefined;
  private stamp = "";
  /** Watcher events dropped because the files were already read as they are. */
  staleEvents = 0;
  private ready: Promise<void> = Promise.resolve();

  constructor(
    private readonly paths: readonly string[],
    private readonly onChange: (trigger: string) => void,
    /** 0: no timer of its own; the owner calls poll() every POLL_MS (the daemon does, from its pulse). */
    private readonly pollMs = POLL_MS,
  ) {}

  start(): void {
    const watcher = watchFiles([...this.paths], { ignoreInitial: true, atomic: true });
    this.watcher = watcher;
    this.ready = new Promise((resolve) => watcher.once("ready", () => resolve()));
    for (const e of ["add", "change", "unlink"] as const) this.watcher.on(e, () => this.changed());
    if (this.pollMs > 0) {
      this.pollTimer = setInterval(() => this.poll(), this.pollMs);
      this.pollTimer.unref();
    }
    this.markRead();
  }

  /** The signature check: a change the watcher has not reported (yet) starts the settle too. */
  poll(): void {
    if (this.settlingSince === undefined && this.changedOnDisk()) this.changed();
  }

  private changed(): void {
    if (this.settlingSince !== undefined) return; // settle() looks at the files again before it loads
    this.settlingSince = Date.now();
    this.settle();
  }

  /**
   * Loads once the files have been quiet for SETTLE_MS, measured from their own modification times rather
   * than from the event: on a busy host the event comes late (the write is then often settled already and
   * is read at once), and chokidar drops a path's change events for 50 ms after one it emitted, so a
   * writer's later steps may bring no event at all (their times still show). An event for a write the
   * daemon has read already (the tick's check found it first while this event queued behind a busy loop)
   * is dropped: at 10,000 services a second load costs a second of CPU.
   */
  private settle(): void {
    this.timer = undefined;
    const now = Date.now();
    const wait = settleWait(now, newestChange(this.paths), this.settlingSince ?? now);
    if (wait > 0) {
      this.timer = setTimeout(() => this.settle(), wait);
      return;
    }
    this.settlingSince = undefined;
    if (this.changedOnDisk()) this.onChange("file change");
    else this.staleEvents++;
  }

  /** Settles once the watcher has scanned the files and reports changes (tests wait for it). */
  whenReady(): Promise<void> {
    return this.ready;
  }

  /**
   * How long after the files' last change the load of the last reload started (ms; a reload's trace in the
   * log: the watcher's event and the settle wait, or the tick's check, on a busy main thread).
   */
  noticedAfterMs: number | undefined;

  /** The files as they are now are the ones being loaded. */
  markRead(): void {
    this.stamp = manifestSignature(this.paths);
    const newest = newestChange(this.paths);
    this.noticedAfterMs = newest > 0 ? Math.max(0, Math.round(Date.now() - newest)) : undefined;
  }

  /** The files changed since markRead() (cheap: one stat per file). */
  changedOnDisk(): boolean {
    return manifestSignature(this.paths) !== this.stamp;
  }

  async close(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    clearInterval(this.pollTimer);
    await this.watcher?.close();
  }
}

/**
 * How long to wait before reading the files (0: read now), given when they last changed and when the first
 * event of this change came (ms, wall clock). A change time in the future (a clock stepped back) waits one
 * settle at a time, and nothing waits past SETTLE_GIVE_UP_MS. Pure.
 */
export function settleWait(now: number, newestChange: number, settlingSince: number): number {
  if (now - settlingSince >= SETTLE_GIVE_UP_MS) return 0;
  const wait = SETTLE_MS + MTIME_SLACK_MS - (now - newestChange);
  return wait < 1 ? 0 : Math.min(wait, SETTLE_MS + MTIME_SLACK_MS);
}

/**
 * The newest modification time (ms) among the manifest files and the paths named (a directory's changes when
 * a file in it is added, removed or renamed over); 0 when none can be read.
 */
function newestChange(paths: readonly string[]): number {
  let newest = 0;
  for (const path of [...paths, ...expandPaths(paths, [])]) {
    try {
      newest = Math.max(newest, statSync(path).mtimeMs);
    } catch {
      // Gone: its removal shows in its directory's time, or the signature.
    }
  }
  return newest;
}

/** Size and mtime of every manifest file: cheap to compute every tick, changes with any write. */
function manifestSignature(paths: readonly string[]): string {
  return expandPaths(paths, [])
    .map((file) => {
      try {
        const st = statSync(file);
        return `${file}:${st.size}:${st.mtimeMs}`;
      } catch {
        return `${file}:missing`;
      }
    })
    .join("|");
}
