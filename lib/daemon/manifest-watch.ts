// Notices manifest edits: chokidar for prompt reloads, plus a size/mtime signature the daemon's tick
// compares as a safety net under the watcher (a change it missed is still picked up within a tick).
import { watch as watchFiles, type FSWatcher } from "chokidar";
import { statSync } from "node:fs";
import { expandPaths } from "../config/load";

export class ManifestWatch {
  private watcher: FSWatcher | undefined;
  private timer: NodeJS.Timeout | undefined;
  private stamp = "";
  /** Watcher events dropped because the files were already read as they are. */
  staleEvents = 0;
  private ready: Promise<void> = Promise.resolve();

  constructor(
    private readonly paths: readonly string[],
    private readonly onChange: (trigger: string) => void,
  ) {}

  start(): void {
    const watcher = watchFiles([...this.paths], { ignoreInitial: true, atomic: true });
    this.watcher = watcher;
    this.ready = new Promise((resolve) => watcher.once("ready", () => resolve()));
    const changed = (): void => {
      if (this.timer) clearTimeout(this.timer);
      // Editors write in several steps; a short pause lets the last one land before we parse. An event
      // for a write the daemon has read already (the tick's check found it first while this event queued
      // behind a busy loop) is dropped: at 10,000 services a second load costs a second of CPU.
      this.timer = setTimeout(() => {
        if (this.changedOnDisk()) this.onChange("file change");
        else this.staleEvents++;
      }, 20);
    };
    for (const e of ["add", "change", "unlink"] as const) this.watcher.on(e, changed);
    this.markRead();
  }

  /** Settles once the watcher has scanned the files and reports changes (tests wait for it). */
  whenReady(): Promise<void> {
    return this.ready;
  }

  /** The files as they are now are the ones being loaded. */
  markRead(): void {
    this.stamp = manifestSignature(this.paths);
  }

  /** The files changed since markRead() (cheap: one stat per file). */
  changedOnDisk(): boolean {
    return manifestSignature(this.paths) !== this.stamp;
  }

  async close(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    await this.watcher?.close();
  }
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
