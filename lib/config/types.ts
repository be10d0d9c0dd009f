// The data model of a loaded configuration: plain, immutable data shared by the pure core
// (allocation, election) and produced by the manifest loader. Nothing here does I/O.
import type { HealthCheckSpec } from "../health/spec";
import type { Cidr, Family } from "../ip";

/** Where an object or field came from, for messages an operator can act on. */
export interface SourceRef {
  readonly file: string;
  /** 1-based. */
  readonly line: number;
  /** 1-based. */
  readonly column: number;
}

export type Severity = "error" | "warning";

/** One problem found while loading or allocating. `object` is `Kind/name` (`IPAddressPool/dns-pool`). */
export interface Diagnostic {
  readonly severity: Severity;
  readonly message: string;
  readonly source?: SourceRef;
  readonly object?: string;
}

export type Labels = Readonly<Record<string, string>>;

export type SelectorOperator = "In" | "NotIn" | "Exists" | "DoesNotExist";

export interface LabelRequirement {
  readonly key: string;
  readonly operator: SelectorOperator;
  readonly values: readonly string[];
}

/** Kubernetes label selector semantics: every matchLabels pair and every expression must hold. */
export interface LabelSelector {
  readonly matchLabels: Labels;
  readonly matchExpressions: readonly LabelRequirement[];
}

export interface ServiceAllocation {
  /** Lower is preferred; 0 means "last". */
  readonly priority: number;
  /** Namespaces listed plus those matched by namespaceSelectors at load time. Empty = any namespace. */
  readonly namespaces: readonly string[];
  /** OR over selectors; empty = no service restriction. */
  readonly serviceSelectors: readonly LabelSelector[];
}

export interface AddressPool {
  readonly name: string;
  readonly labels: Labels;
  /** In `spec.addresses` order, ranges expanded to ascending CIDRs. */
  readonly cidrs: readonly Cidr[];
  readonly autoAssign: boolean;
  readonly avoidBuggyIPs: boolean;
  /** Absent means the pool is not pinned. */
  readonly serviceAllocation?: ServiceAllocation;
  readonly source: SourceRef;
}

export interface PreferredNodeSelector {
  readonly weight: number;
  readonly preference: LabelSelector;
}

export interface L2Advertisement {
  readonly name: string;
  /** Names of the pools this advertisement covers, after resolving names and selectors. */
  readonly pools: readonly string[];
  /** OR; empty = every node. */
  readonly nodeSelectors: readonly LabelSelector[];
  /** Empty = all interfaces (the node picks by subnet). */
  readonly interfaces: readonly string[];
  /** OR; empty = every service in the pools. */
  readonly serviceSelectors: readonly LabelSelector[];
  readonly preferredNodeSelectors: readonly PreferredNodeSelector[];
  readonly annotations: Labels;
  readonly source: SourceRef;
}

export type Protocol = "TCP" | "UDP" | "SCTP";

export interface ServicePort {
  readonly protocol: Protocol;
  readonly port: number;
}

export type IpFamilyName = "IPv4" | "IPv6";
export type IpFamilyPolicy = "SingleStack" | "PreferDualStack" | "RequireDualStack";

export interface Service {
  readonly namespace: string;
  readonly name: string;
  /** `namespace/name`, the allocation key. */
  readonly key: string;
  readonly labels: Labels;
  readonly annotations: Labels;
  readonly ports: readonly ServicePort[];
  /**
   * Canonical IPs requested through `metallb.io/loadBalancerIPs` or `spec.loadBalancerIP`.
   * Empty when none were requested or when the request was invalid (see `requestError`).
   */
  readonly requestedIPs: readonly string[];
  /** Why the request could not be understood; allocation reports it as the service's error. */
  readonly requestError?: string;
  readonly addressPool?: string;
  /** Non-empty `allow-shared-ip` value, or undefined. */
  readonly sharingKey?: string;
  /** "" for Cluster; the sorted selector `k=v,k2=v2` for Local (MetalLB's backend key). */
  readonly backendKey: string;
  readonly ipFamilies: readonly IpFamilyName[];
  readonly ipFamilyPolicy: IpFamilyPolicy;
  /**
   * Canonical `spec.clusterIPs` (else `spec.clusterIP`) of a Service pasted from a cluster. MetalLB takes the
   * Service's family from them; vipd does when `ipFamilies` is absent. Absent when there are none.
   */
  readonly clusterIPs?: readonly string[];
  /**
   * Canonical `status.loadBalancer.ingress[].ip`: the IPs the Service holds in the cluster it was pasted from.
   * MetalLB treats them as the current allocation, so does vipd (they win over stateDir). Absent when none.
   */
  readonly loadBalancerIngress?: readonly string[];
  readonly externalTrafficPolicy: "Cluster" | "Local";
  readonly selector: Labels;
  /** `vipd.io/health-check` and friends: a node serves the service's IP only while this passes there. */
  readonly healthCheck?: HealthCheckSpec;
  readonly source: SourceRef;
}

/** The whole of what the manifests say, after validation. Only produced when there are no errors. */
export interface ManifestConfig {
  readonly pools: readonly AddressPool[];
  readonly advertisements: readonly L2Advertisement[];
  readonly services: readonly Service[];
  /** Namespace name -> labels, from `Namespace` objects. */
  readonly namespaces: Readonly<Record<string, Labels>>;
}

export interface LoadResult {
  /** Present only when there are no error diagnostics. */
  readonly config?: ManifestConfig;
  readonly diagnostics: readonly Diagnostic[];
  /** SHA-256 over the normalised manifests, independent of file order; gossiped to spot drift. */
  readonly digest: string;
  readonly files: readonly string[];
}

export const familyName = (family: Family): IpFamilyName => (family === 4 ? "IPv4" : "IPv6");
