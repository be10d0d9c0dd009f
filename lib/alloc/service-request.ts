// What the allocator needs from a Service: its sharing identity and its address family.
//
// MetalLB derives a Service's family from its ClusterIPs, which Kubernetes fills in from ipFamilyPolicy
// and ipFamilies. vipd has no cluster and no ClusterIPs, so `ipFamilies` (and the policy) stand in for
// them, as a dual-stack cluster would fill them in:
// - RequireDualStack: dual (Kubernetes always gives such a Service both ClusterIPs);
// - ipFamilies set: SingleStack -> ipFamilies[0]; PreferDualStack -> dual;
// - otherwise spec.clusterIPs (a Service pasted from a cluster): their family, as MetalLB's ForService;
// - otherwise the requested IPs decide (one IP -> its family, an IPv4+IPv6 pair -> dual);
// - otherwise SingleStack -> IPv4 and PreferDualStack -> dual.
// The primary family (listed first, preferred by PreferDualStack) is ipFamilies[0], else the first
// ClusterIP's family, else the first requested IP's family, else IPv4.
import { exact } from "../arrays";
import type { IpFamilyPolicy, Service } from "../config/types";
import { formatIp, parseIp, type Family, type Ip } from "../ip";
import { quoteGoList } from "./go-format";
import type { Claimant } from "./ip-table";

/** MetalLB's ipfamily.Family values; they appear verbatim in error texts. */
export type ServiceFamily = "ipv4" | "ipv6" | "dual";

export interface ServiceRequest extends Claimant {
  readonly svc: Service;
  readonly family: ServiceFamily;
  readonly primary: Family;
  readonly policy: IpFamilyPolicy;
  /** Parsed requestedIPs, in request order. */
  readonly requested: readonly Ip[];
  /** Why the requested IPs cannot be used at all (the loader's requestError, or a bad family mix). */
  readonly requestError?: string;
}

export const familyOfNumber = (family: Family): ServiceFamily => (family === 4 ? "ipv4" : "ipv6");

/**
 * Requests by Service object. A reload reuses the Service objects of unchanged manifest documents (the
 * loader's document cache), and a request is a pure function of its Service, never modified.
 */
const requests = new WeakMap<Service, ServiceRequest>();

export function toServiceRequest(svc: Service): ServiceRequest {
  let request = requests.get(svc);
  if (request === undefined) {
    request = serviceRequest(svc);
    requests.set(svc, request);
  }
  return request;
}

function serviceRequest(svc: Service): ServiceRequest {
  const requested: Ip[] = [];
  let requestError = svc.requestError;
  for (const text of svc.requestedIPs) {
    const ip = parseIp(text);
    if (ip) requested.push(ip);
    else requestError ??= `IPFamilyForAddresses: Invalid address ${quoteGoList(svc.requestedIPs)}`;
  }
  let requestedFamily: ServiceFamily | undefined;
  if (requestError === undefined && requested.length > 0) {
    const found = familyOfIps(requested);
    requestedFamily = found.family;
    requestError = found.error;
  }
  const declared = svc.ipFamilies[0];
  // A Service pasted from a cluster without ipFamilies still has its ClusterIPs: MetalLB's source of truth.
  const cluster = declared ? [] : (svc.clusterIPs ?? []).flatMap((text) => parseIp(text) ?? []);
  const clusterFamily = cluster.length > 0 ? familyOfIps(cluster) : undefined;
  const primary: Family = declared
    ? declared === "IPv6"
      ? 6
      : 4
    : (cluster[0]?.family ?? requested[0]?.family ?? 4);
  let family: ServiceFamily;
  if (svc.ipFamilyPolicy === "RequireDualStack") family = "dual";
  else if (declared) family = svc.ipFamilyPolicy === "SingleStack" ? familyOfNumber(primary) : "dual";
  else if (clusterFamily?.family) family = clusterFamily.family;
  else if (requestedFamily) family = requestedFamily;
  else family = svc.ipFamilyPolicy === "SingleStack" ? "ipv4" : "dual";
  return {
    svc,
    service: svc.key,
    ports: svc.ports.map(portKey),
    key: { sharing: svc.sharingKey ?? "", backend: svc.backendKey },
    family,
    primary,
    policy: svc.ipFamilyPolicy,
    requested: requestError === undefined ? exact(requested) : exact([]),
    requestError,
  };
}

/**
 * "TCP/80": one string per distinct port, not one per service (10,000 services on port 80 held 10,000 equal
 * strings, each kept by its request and its IP's port owners). Bounded: there are at most 3 x 65,535 keys.
 */
const portKeys = new Map<string, string>();
function portKey(p: { readonly protocol: string; readonly port: number }): string {
  const text = `${p.protocol}/${p.port}`;
  const known = portKeys.get(text);
  if (known !== undefined) return known;
  const flat = [p.protocol, p.port].join("/");
  portKeys.set(flat, flat);
  return flat;
}

/** MetalLB's ipfamily.ForAddresses: the family of 1 or 2 addresses, or its error text. */
export function familyOfIps(ips: readonly Ip[]): { family?: ServiceFamily; error?: string } {
  // The quoted list only for an error: this runs for every kept service on every reload.
  const list = (): string => quoteGoList(ips.map(formatIp));
  const [a, b] = ips;
  if (ips.length === 1 && a) return { family: familyOfNumber(a.family) };
  if (ips.length === 2 && a && b) {
    if (a.family === b.family) return { error: `IPFamilyForAddresses: same address family ${list()}` };
    return { family: "dual" };
  }
  return { error: `IPFamilyForAddresses: invalid ips length ${ips.length} ${list()}` };
}

/** Primary family first, as Assignment.ips promises. */
export function orderByPrimary(ips: readonly Ip[], primary: Family): Ip[] {
  return [...ips].sort((a, b) => (a.family === b.family ? 0 : a.family === primary ? -1 : 1));
}
