// Loads the config off the main thread (config-worker.ts) so that the reconcile loop keeps its pace while
// thousands of services are parsed and allocated. One worker, started on first use, one request at a time; a
// worker that dies is replaced on the next load. A small config is loaded right here instead: a worker is a
// whole V8 isolate (~17 MB of RSS with the config modules loaded, measured), more than a few hundred
// services cost to parse on the main thread (gossip has its own thread and does not wait for it).
import { statSync } from "node:fs";
import { join } from "node:path";
import { Worker } from "node:worker_threads";
import { readAllocationState } from "../alloc/state-file";
import type { AllocationState } from "../alloc/types";
import { expandPaths, loadManifests } from "../config/load";
import { activate, inheritElectionHashes, type ActiveConfig, type ReloadOutcome } from "./config-state";
import type { Logger } from "./log";
import type { ConfigRequest } from "./config-worker";

/**
 * Manifests up to this size load on the main thread: ~1,300 services of the scale bench's manifest, ~100 ms
 * of CPU on this machine; beyond it a stall of the reconcile loop would matter more than the worker's memory.
 */
export const IN_PROCESS_MAX_BYTES = 256 * 1024;

/** Total size of the manifest files `paths` names (directories expanded); unreadable ones count 0. */
export function manifestBytes(paths: readonly string[]): number {
  let total = 0;
  for (const path of expandPaths(paths, [])) {
    try {
      total += statSync(path).size;
    } catch {
      // The load itself reports it.
    }
  }
  return total;
}

export class ConfigLoader {
  private worker: Worker | undefined;
  private nextId = 1;
  private closed = false;
  private readonly waiting = new Map<number, (outcome: ReloadOutcome) => void>();

  /** Whether a worker isolate exists right now (it costs memory; small configs need none). */
  get workerRunning(): boolean {
    return this.worker !== undefined;
  }

  /** The config in `paths`, allocated on top of `current`'s allocation (whose election hashes it keeps). */
  async load(paths: readonly string[], current: ActiveConfig | undefined): Promise<ReloadOutcome> {
    const outcome = await this.loadFresh(paths, current?.allocation.state);
    if (outcome.ok && current) inheritElectionHashes(current, outcome.active);
    return outcome;
  }

  private loadFresh(paths: readonly string[], previous: AllocationState | undefined): Promise<ReloadOutcome> {
    if (manifestBytes(paths) <= IN_PROCESS_MAX_BYTES) {
      // No worker for a small config; one left from a larger one goes.
      this.stopWorker();
      try {
        return Promise.resolve(activate(loadManifests(paths), previous, new Date()));
      } catch (error) {
        return Promise.resolve({ ok: false, errors: [`configuration did not load: ${String(error)}`] });
      }
    }
    const worker = this.ensureWorker();
    const request: ConfigRequest = { id: this.nextId++, paths, previous, now: Date.now() };
    return new Promise<ReloadOutcome>((resolve) => {
      this.waiting.set(request.id, resolve);
      worker.postMessage(request);
    }).finally(() => this.recycle(worker));
  }

  /**
   * A worker that parsed 10,000 services keeps a heap grown to match (tens of MB of RSS between reloads):
   * replace it with a fresh one, started now so the next reload does not wait for it.
   */
  private recycle(worker: Worker): void {
    if (this.worker !== worker || this.waiting.size > 0) return;
    this.stopWorker();
    if (!this.closed) this.ensureWorker();
  }

  /**
   * Starts the worker ahead of the first reload when the config is large enough to need one: loading its
   * modules costs ~100 ms an edit should not wait.
   */
  warm(paths: readonly string[]): void {
    if (!this.closed && manifestBytes(paths) > IN_PROCESS_MAX_BYTES) this.ensureWorker();
  }

  private stopWorker(): void {
    const worker = this.worker;
    this.worker = undefined;
    if (worker) void worker.terminate();
  }

  close(): void {
    this.closed = true;
    void this.worker?.terminate();
    this.worker = undefined;
  }

  private ensureWorker(): Worker {
    if (this.worker) return this.worker;
    const worker = new Worker(join(__dirname, "config-worker.js"));
    // A reload must never keep the process alive on its own (graceful stop exits when the loop empties).
    worker.unref();
    worker.on("message", (reply: { id: number; outcome: ReloadOutcome }) => {
      const resolve = this.waiting.get(reply.id);
      this.waiting.delete(reply.id);
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
 * The config to start with: the state file's allocation (migrated when older; a newer or unknown format
 * throws, since refusing to start beats renumbering every service), then the manifests on top of it. Throws
 * with every error when the manifests are bad.
 */
export function loadStartupConfig(
  manifests: readonly string[],
  stateDir: string,
  version: string,
  log: Logger,
): ActiveConfig {
  const statePath = join(stateDir, "allocations.json");
  const previous = readAllocationState(statePath, `vipd ${version}`);
  if (previous.warning) log.log("warn", "stateFile", previous.warning, { path: statePath });
  if (previous.migratedFrom !== undefined) {
    const message = `migrated ${statePath} from format version ${previous.migratedFrom}`;
    log.log("info", "stateFile", message, { path: statePath });
  }
  const first = activate(loadManifests(manifests), previous.state, new Date());
  if (!first.ok) throw new Error(`configuration has errors, refusing to start:\n${first.errors.join("\n")}`);
  return first.active;
}
