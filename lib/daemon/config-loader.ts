// Loads the config for a reload. Where the main thread's document cache (lib/config/document-cache.ts) holds
// all but a little of the manifests, as after a usual edit of one object, the load runs right here: only the
// edited documents are parsed, and nothing crosses a thread. Otherwise (a first load of a large config, or an
// edit that moved most of it) the load runs in a worker thread (config-worker.ts), so that the reconcile loop
// keeps its pace while thousands of services are parsed and allocated (gossip has its own thread and does not
// wait for either). The worker is started for such a load and stopped after it: a worker is a whole V8
// isolate (~17 MB of RSS with the config modules loaded, measured), and its heap grows to match the config.
// Its parse fills no cache here, so the next edit goes to a worker too, until an in-process load refills it.
import { join } from "node:path";
import { Worker } from "node:worker_threads";
import { readAllocationState } from "../alloc/state-file";
import { forgetMeasured, uncachedBytes } from "../config/document-cache";
import { loadManifests, parseRead, readManifests } from "../config/load";
import type { ManifestFile } from "../config/manifests";
import type { ManifestConfig } from "../config/types";
import type { AllocationState } from "../alloc/types";
import {
  activate,
  inheritElectionHashes,
  reviveElectionHashes,
  type ActiveConfig,
  type ReloadOutcome,
} from "./config-state";
import type { Logger } from "./log";
import type { ConfigRequest } from "./config-worker";

/**
 * At most this much manifest text to parse afresh loads on the main thread: ~1,300 services of the scale
 * bench's manifest, ~100 ms of CPU on this machine; beyond it a stall of the reconcile loop would matter more
 * than a worker's start (~100 ms) and memory. A reload of 10,000 services whose cache holds all but the edited
 * documents costs ~0.3 s of main-thread CPU here (measured), against ~2.7 s in a fresh worker plus ~0.4 s to
 * receive its 7 MB result on the main thread.
 */
export const IN_PROCESS_MAX_BYTES = 256 * 1024;

export class ConfigLoader {
  private worker: Worker | undefined;
  private nextId = 1;
  private readonly waiting = new Map<number, (outcome: ReloadOutcome) => void>();

  /** How many loads ran in a worker (the others ran on this thread). */
  workerLoads = 0;

  /** Whether a worker isolate exists right now (it costs memory; small configs need none). */
  get workerRunning(): boolean {
    return this.worker !== undefined;
  }

  /** The last load: how long it took (ms, to its outcome on this thread) and where it ran. */
  lastLoad: { readonly loadMs: string; readonly loadedIn: "main thread" | "worker" } | undefined;

  /** The config in `paths`, allocated on top of `current`'s allocation (whose election hashes it keeps). */
  async load(paths: readonly string[], current: ActiveConfig | undefined): Promise<ReloadOutcome> {
    const started = performance.now();
    const workerLoads = this.workerLoads;
    const outcome = await this.loadFresh(paths, current);
    if (outcome.ok && current) inheritElectionHashes(current, outcome.active);
    const loadMs = (performance.now() - started).toFixed(0);
    this.lastLoad = { loadMs, loadedIn: this.workerLoads > workerLoads ? "worker" : "main thread" };
    return outcome;
  }

  private loadFresh(paths: readonly string[], current: ActiveConfig | undefined): Promise<ReloadOutcome> {
    const read = readManifests(paths);
    const emptied = current ? emptiedFiles(read.files, current.config) : [];
    if (emptied.length > 0) return Promise.resolve({ ok: false, errors: emptied });
    const previous = current?.allocation.state;
    if (uncachedBytes(read.files) <= IN_PROCESS_MAX_BYTES) {
      try {
        return Promise.resolve(activate(parseRead(read), previous, new Date(), current));
      } catch (error) {
        return Promise.resolve({ ok: false, errors: [`configuration did not load: ${String(error)}`] });
      }
    }
    forgetMeasured();
    const worker = this.ensureWorker();
    this.workerLoads++;
    const request: ConfigRequest = { id: this.nextId++, read, previous, now: Date.now() };
    return new Promise<ReloadOutcome>((resolve) => {
      this.waiting.set(request.id, resolve);
      worker.postMessage(request);
    }).finally(() => {
      // Its heap grew to the config's size: it goes, and the next large load starts a fresh one.
      if (this.worker === worker && this.waiting.size === 0) this.stopWorker();
    });
  }

  private stopWorker(): void {
    const worker = this.worker;
    this.worker = undefined;
    if (worker) void worker.terminate();
  }

  close(): void {
    this.stopWorker();
  }

  private ensureWorker(): Worker {
    if (this.worker) return this.worker;
    const worker = new Worker(join(__dirname, "config-worker.js"));
    // A reload must never keep the process alive on its own (graceful stop exits when the loop empties).
    worker.unref();
    worker.on("message", (reply: { id: number; outcome: ReloadOutcome }) => {
      const resolve = this.waiting.get(reply.id);
      this.waiting.delete(reply.id);
      if (reply.outcome.ok) reviveElectionHashes(reply.outcome.active);
      resolve?.(reply.outcome);
    });
    const fail = (why: string): void => {
      if (this.worker !== worker) return;
      this.worker = undefined;
      for (const resolve of this.waiting.values()) resolve({ ok: false, errors: [why] });
      this.waiting.clear();
    };
    worker.on("error", (error) => fail(`config worker failed: ${error.message}`));
    worker.on("exit", (code) => fail(`config worker exited (${code})`));
    this.worker = worker;
    return worker;
  }
}

/**
 * How many failed loads in a row of files that changed while they were read are retried without a word
 * before the failure is reported (a writer that never stops still gets its error, a few seconds late).
 */
export const CHANGED_WHILE_READ_RETRIES = 3;

/**
 * Whether a reload's outcome is kept, or the load runs again once the files settle: a load that failed on
 * files that changed after they were read was most likely a read in the middle of a write (the settle
 * waits for 25 ms of quiet by the files' times, and a writer preempted in the middle of its write() keeps
 * its first time). Seen in the lab: a 1,000-service file read cut at line 3533, logged as an error and
 * marked stale (the `vipd_config_stale` alert) 80 ms before the same write loaded fine. Pure.
 */
export function retryReload(
  outcome: ReloadOutcome,
  changedSinceRead: boolean,
  retriesSoFar: number,
): boolean {
  return !outcome.ok && changedSinceRead && retriesSoFar < CHANGED_WHILE_READ_RETRIES;
}

/**
 * Manifest files that are empty now though objects of the config in force came from them, as errors. A
 * write truncates the file before it writes the new text: a load between the two, on a busy host, read
 * "no objects" and dropped every VIP of that file (seen in the lab: a reload test's writer paused ~800 ms
 * after the truncate). So an emptied file is a write under way, never a wish to drop everything; an
 * operator who means that leaves a comment in the file. Pure.
 */
export function emptiedFiles(files: readonly ManifestFile[], inForce: ManifestConfig): string[] {
  const empty = new Set(files.filter((f) => f.text.trim() === "").map((f) => f.path));
  if (empty.size === 0) return [];
  const objects = new Map<string, number>();
  for (const o of [...inForce.pools, ...inForce.advertisements, ...inForce.services]) {
    const file = o.source?.file;
    if (file !== undefined && empty.has(file)) objects.set(file, (objects.get(file) ?? 0) + 1);
  }
  return [...objects].map(
    ([file, count]) =>
      `${file}:1:1: error: the file is empty, but ${count} object(s) of the config in force came from it: ` +
      "a write still under way, or a truncation; keeping the last good config (to remove every object on " +
      "purpose, leave a comment in the file)",
  );
}

/**
 * The config to start with: the state file's allocation (migrated when older; a newer or unknown format
 * throws, since refusing to start beats renumbering every service), then the manifests on top of it. Throws
 * with every error when the manifests are bad. Also returns the state file's table (what the last run
 * allocated), so start-up logs only the allocations that differ from it.
 */
export function loadStartupConfig(
  manifests: readonly string[],
  stateDir: string,
  version: string,
  log: Logger,
): { readonly active: ActiveConfig; readonly previous: AllocationState | undefined } {
  const statePath = join(stateDir, "allocations.json");
  const previous = readAllocationState(statePath, `vipd ${version}`);
  if (previous.warning) log.log("warn", "stateFile", previous.warning, { path: statePath });
  if (previous.migratedFrom !== undefined) {
    const message = `migrated ${statePath} from format version ${previous.migratedFrom}`;
    log.log("info", "stateFile", message, { path: statePath });
  }
  const first = activate(loadManifests(manifests), previous.state, new Date());
  if (!first.ok) throw new Error(`configuration has errors, refusing to start:\n${first.errors.join("\n")}`);
  return { active: first.active, previous: previous.state };
}
