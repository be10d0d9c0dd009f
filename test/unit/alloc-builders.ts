// Builders for allocator tests: ManifestConfig objects made directly, without YAML, so allocation tests
// do not depend on the manifest loader.
import type {
  AddressPool,
  IpFamilyName,
  IpFamilyPolicy,
  LabelSelector,
  Labels,
  ManifestConfig,
  Protocol,
  Service,
} from "../../lib/config/types";
import { parseCidr, parseIp, summarizeRange, type Cidr } from "../../lib/ip";

const here = { file: "test.yaml", line: 1, column: 1 };

export interface PoolOptions {
  autoAssign?: boolean;
  avoidBuggyIPs?: boolean;
  priority?: number;
  namespaces?: string[];
  serviceSelectors?: LabelSelector[];
  /** Pinned with no restriction (serviceAllocation present, only a priority or nothing). */
  pinned?: boolean;
  /** serviceAllocation whose namespaceSelectors matched no namespace: empty namespaces and selectors. */
  unpinnable?: boolean;
}

export function pool(name: string, addresses: string[], options: PoolOptions = {}): AddressPool {
  const pinned =
    options.pinned ||
    options.unpinnable ||
    options.priority !== undefined ||
    options.namespaces !== undefined ||
    options.serviceSelectors !== undefined;
  return {
    name,
    labels: {},
    cidrs: addresses.flatMap(toCidrs),
    autoAssign: options.autoAssign ?? true,
    avoidBuggyIPs: options.avoidBuggyIPs ?? false,
    serviceAllocation: pinned
      ? {
          priority: options.priority ?? 0,
          namespaces: options.namespaces ?? [],
          // As the loader does (and MetalLB): no restriction at all means a match-everything selector.
          serviceSelectors:
            options.serviceSelectors ??
            (options.namespaces === undefined && !options.unpinnable ? [selector({})] : []),
        }
      : undefined,
    source: here,
  };
}

function toCidrs(text: string): Cidr[] {
  const dash = text.indexOf("-");
  if (dash < 0) {
    const c = parseCidr(text);
    if (!c) throw new Error(`bad CIDR in test: ${text}`);
    return [c];
  }
  const start = parseIp(text.slice(0, dash).trim());
  const end = parseIp(text.slice(dash + 1).trim());
  if (!start || !end) throw new Error(`bad range in test: ${text}`);
  return summarizeRange(start, end);
}

export interface ServiceOptions {
  labels?: Labels;
  /** `TCP/53` style. */
  ports?: string[];
  ips?: string[];
  requestError?: string;
  pool?: string;
  share?: string;
  /** Local traffic policy with this selector (backend key derived from it). */
  localSelector?: Labels;
  families?: IpFamilyName[];
  policy?: IpFamilyPolicy;
}

/** `key` is `namespace/name`, or `name` for the default namespace. */
export function svc(key: string, options: ServiceOptions = {}): Service {
  const [namespace, name] = key.includes("/") ? (key.split("/") as [string, string]) : ["default", key];
  const local = options.localSelector;
  return {
    namespace,
    name,
    key: `${namespace}/${name}`,
    labels: options.labels ?? {},
    annotations: {},
    ports: (options.ports ?? []).map((p) => {
      const [protocol, port] = p.split("/") as [Protocol, string];
      return { protocol, port: Number(port) };
    }),
    requestedIPs: options.ips ?? [],
    requestError: options.requestError,
    addressPool: options.pool,
    sharingKey: options.share,
    backendKey: local
      ? Object.keys(local)
          .sort()
          .map((k) => `${k}=${local[k]}`)
          .join(",")
      : "",
    ipFamilies: options.families ?? [],
    ipFamilyPolicy: options.policy ?? "SingleStack",
    externalTrafficPolicy: local ? "Local" : "Cluster",
    selector: local ?? {},
    source: here,
  };
}

export function config(pools: AddressPool[], services: Service[]): ManifestConfig {
  return { pools, advertisements: [], services, namespaces: {} };
}

export function selector(matchLabels: Labels): LabelSelector {
  return { matchLabels, matchExpressions: [] };
}
