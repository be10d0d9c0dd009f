// Notices manifest edits: chokidar for prompt reloads, plus a size/mtime signature the daemon's tick
// compares as a safety net under the watcher (a change it missed is still picked up within a tick).
import { watch as watchFiles, type FSWatcher } from "chokidar";
import { statSync } from "node:fs";
import { expandPaths } from "../config/load";

export class ManifestWatch {
  private watcher: FSWatcher | undefined;
  private timer: NodeJS.Timeout | undefined;
  private stamp = "";

  constructor(
    private readonly paths: readonly string[],
    private readonly onChange: (trigger: string) => void,
  ) {}

  start(): void {
    this.watcher = watchFiles([...this.paths], { ignoreInitial: true, atomic: true });
    const changed = (): void => {
      if (this.timer) clearTimeout(this.timer);
      // Editors write in several steps; a short pause lets the last one land before we parse.
      this.timer = setTimeout(() => this.onChange("file change"), 20);
    };
    for (const e of ["add", "change", "unlink"] as const) this.watcher.on(e, changed);
    this.markRead();
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
