// Allocation results: which service holds which IPs. Plain data, JSON-serialisable, shared by the
// allocator (pure), the state file (I/O edge), `vipd validate`, the election and the metrics.
import type { Diagnostic, SourceRef } from "../config/types";

export interface Assignment {
  /** `namespace/name`. */
  readonly service: string;
  /** Canonical IPs, at most one per family, primary family first. */
  readonly ips: readonly string[];
  readonly pool: string;
}

/** What is persisted in `stateDir` and fed back as `previous`, so services keep their IPs. */
export interface AllocationState {
  readonly version: 1;
  /** Keyed by service key. */
  readonly assignments: Readonly<Record<string, { readonly ips: readonly string[]; readonly pool: string }>>;
}

export interface AllocationError {
  readonly service: string;
  /** MetalLB's AllocationFailed text (`no available IPs`, `unknown pool "x"`, ...). */
  readonly message: string;
  readonly source?: SourceRef;
}

export interface FamilyUsage {
  readonly inUse: number;
  /** Addresses the pool can hand out (after avoidBuggyIPs); a float for huge IPv6 pools. */
  readonly total: number;
}

export interface PoolUsage {
  readonly pool: string;
  readonly ipv4: FamilyUsage;
  readonly ipv6: FamilyUsage;
}

export interface AllocationResult {
  /** Sorted by service key. */
  readonly assignments: readonly Assignment[];
  /** Sorted by service key. */
  readonly errors: readonly AllocationError[];
  readonly warnings: readonly Diagnostic[];
  /** In pool name order. */
  readonly pools: readonly PoolUsage[];
  /** Ready to persist as the next `previous`. */
  readonly state: AllocationState;
}
