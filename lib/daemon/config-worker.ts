// Runs in a worker thread: reads, validates and allocates the manifests, and posts the outcome back. At
// 10,000 services this is ~1 s of CPU; on the main thread it stopped gossip heartbeats for that long, so
// peers declared an editing node dead and moved its VIPs (already at ~1,000 services the stall passed the
// 100 ms heartbeat timeout).
import { parentPort } from "node:worker_threads";
import type { AllocationState } from "../alloc/types";
import { loadManifests } from "../config/load";
import { activate } from "./config-state";

export interface ConfigRequest {
  readonly id: number;
  readonly paths: readonly string[];
  readonly previous: AllocationState | undefined;
  readonly now: number;
}

parentPort?.on("message", (request: ConfigRequest) => {
  let outcome;
  try {
    outcome = activate(loadManifests(request.paths), request.previous, new Date(request.now));
  } catch (error) {
    outcome = { ok: false, errors: [`configuration did not load: ${String(error)}`] };
  }
  parentPort?.postMessage({ id: request.id, outcome });
});
