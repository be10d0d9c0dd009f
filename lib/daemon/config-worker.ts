// Runs in a worker thread: parses, validates and allocates the manifests the main thread read, and posts the
// outcome back. A first parse of 10,000 services in a fresh isolate is ~2.7 s of CPU here: too long a stall
// for the main thread's reconcile loop (config-loader.ts says when a load comes here).
import { parentPort } from "node:worker_threads";
import type { AllocationState } from "../alloc/types";
import { parseRead, type ReadManifests } from "../config/load";
import { activate } from "./config-state";

export interface ConfigRequest {
  readonly id: number;
  readonly read: ReadManifests;
  readonly previous: AllocationState | undefined;
  readonly now: number;
}

parentPort?.on("message", (request: ConfigRequest) => {
  let outcome;
  try {
    outcome = activate(parseRead(request.read), request.previous, new Date(request.now));
  } catch (error) {
    outcome = { ok: false, errors: [`configuration did not load: ${String(error)}`] };
  }
  parentPort?.postMessage({ id: request.id, outcome });
});
