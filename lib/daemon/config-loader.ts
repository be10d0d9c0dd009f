// Loads the config off the main thread (config-worker.ts) so that gossip and the reconcile loop keep their
// pace while thousands of services are parsed and allocated. One worker, started on first use, one request
// at a time; a worker that dies is replaced on the next load.
import { join } from "node:path";
import { Worker } from "node:worker_threads";
import type { AllocationState } from "../alloc/types";
import type { ReloadOutcome } from "./config-state";
import type { ConfigRequest } from "./config-worker";

export class ConfigLoader {
  private worker: Worker | undefined;
  private nextId = 1;
  private closed = false;
  private readonly waiting = new Map<number, (outcome: ReloadOutcome) => void>();

  load(paths: readonly string[], previous: AllocationState | undefined): Promise<ReloadOutcome> {
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
    this.worker = undefined;
    void worker.terminate();
    this.warm();
  }

  /** Starts the worker ahead of the first reload: loading its modules costs ~100 ms an edit should not wait. */
  warm(): void {
    if (!this.closed) this.ensureWorker();
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
