// Service objects (v1): the fields MetalLB's controller consumes (§3), MetalLB's annotation precedence,
// and the requested-IP parsing whose failures are per-service errors, not configuration errors.
import { exact, sharedIfEmpty } from "../arrays";
import { isMap, isScalar, isSeq, type Node } from "yaml";
import { canonicalIp, parseIp } from "../ip";
import { HEALTH_ANNOTATIONS, parseHealthCheck } from "../health/spec";
import { quote, quoteList } from "./diagnostics";
import type { Metadata } from "./fields";
import { didYouMean, unknownKeyMessage } from "./suggest";
import type {
  IpFamilyName,
  IpFamilyPolicy,
  Labels,
  Protocol,
  Service,
  ServicePort,
  SourceRef,
} from "./types";
import {
  join,
  readInt,
  readList,
  readMap,
  readString,
  readStringList,
  readStringMap,
  type ReadContext,
} from "./yamlread";

export const ANNOTATION = {
  loadBalancerIPs: "metallb.io/loadBalancerIPs",
  addressPool: "metallb.io/address-pool",
  allowSharedIP: "metallb.io/allow-shared-ip",
  ipAllocatedFromPool: "metallb.io/ip-allocated-from-pool",
} as const;
const PREFIX = "metallb.io/";
const DEPRECATED_PREFIX = "metallb.universe.tf/";
const VIPD_PREFIX = "vipd.io/";
const KNOWN_ANNOTATION_NAMES = Object.values(ANNOTATION).map((a) => a.slice(PREFIX.length));

/** Kubernetes ServiceSpec fields; all accepted so `kubectl get svc -o yaml` loads, only some are used. */
const SPEC_FIELDS = [
  "ports",
  "selector",
  "clusterIP",
  "clusterIPs",
  "type",
  "externalIPs",
  "sessionAffinity",
  "loadBalancerIP",
  "loadBalancerSourceRanges",
  "externalName",
  "externalTrafficPolicy",
  "healthCheckNodePort",
  "publishNotReadyAddresses",
  "sessionAffinityConfig",
  "ipFamilies",
  "ipFamilyPolicy",
  "allocateLoadBalancerNodePorts",
  "loadBalancerClass",
  "internalTrafficPolicy",
  "trafficDistribution",
];
const PORT_FIELDS = ["name", "protocol", "appProtocol", "port", "targetPort", "nodePort"];
const SERVICE_TYPES = ["ClusterIP", "NodePort", "LoadBalancer", "ExternalName"];
const PROTOCOLS: readonly Protocol[] = ["TCP", "UDP", "SCTP"];
const FAMILIES: readonly IpFamilyName[] = ["IPv4", "IPv6"];
const POLICIES: readonly IpFamilyPolicy[] = ["SingleStack", "PreferDualStack", "RequireDualStack"];

/** MetalLB's `valueForAnnotation`: the metallb.io key wins whenever it is present, even when empty. */
export function annotationValue(annotations: Labels, stable: string): string | undefined {
  const has = (k: string): boolean => Object.prototype.hasOwnProperty.call(annotations, k);
  if (has(stable)) return annotations[stable];
  const deprecated = DEPRECATED_PREFIX + stable.slice(PREFIX.length);
  return has(deprecated) ? annotations[deprecated] : undefined;
}

/**
 * MetalLB's `getDesiredLbIPs`: the requested IPs (canonical) or the error the controller would report as
 * `LoadBalancerFailed`/`AllocationFailed` for this one service.
 */
export function desiredIPs(
  annotations: Labels,
  loadBalancerIP: string,
): { ips: string[] } | { error: string } {
  const listed = annotationValue(annotations, ANNOTATION.loadBalancerIPs) ?? "";
  if (listed === "" && loadBalancerIP === "") return { ips: [] };
  if (listed !== "" && loadBalancerIP !== "") {
    return { error: `service can not have both ${ANNOTATION.loadBalancerIPs} and svc.Spec.LoadBalancerIP` };
  }
  if (listed !== "") {
    const ips: string[] = [];
    for (const part of listed.split(",")) {
      const ip = canonicalIp(part.trim());
      if (ip === undefined) return { error: `invalid ${ANNOTATION.loadBalancerIPs}: ${quote(listed)}` };
      ips.push(ip);
    }
    if (ips.length === 2 && parseIp(ips[0])?.family === parseIp(ips[1])?.family) {
      return { error: `IPFamilyForAddresses: same address family ${quoteList(ips)}` };
    }
    if (ips.length > 2)
      return { error: `IPFamilyForAddresses: invalid ips length ${ips.length} ${quoteList(ips)}` };
    return { ips };
  }
  const ip = canonicalIp(loadBalancerIP);
  if (ip === undefined) return { error: `invalid spec.loadBalancerIP ${quote(loadBalancerIP)}` };
  return { ips: [ip] };
}

/** `k=v,k2=v2` with sorted keys: Kubernetes' labels.Set String(), MetalLB's backend key for Local. */
export function labelsString(labels: Labels): string {
  return Object.keys(labels)
    .sort()
    .map((k) => `${k}=${labels[k]}`)
    .join(",");
}

/**
 * One frozen object per distinct port (most services say TCP/80): 10,000 services held 10,000 equal ones.
 * Bounded: at most 3 x 65,535 of them.
 */
const sharedPorts = new Map<string, ServicePort>();
function sharedPort(protocol: Protocol, port: number): ServicePort {
  const key = `${protocol}/${port}`;
  let shared = sharedPorts.get(key);
  if (shared === undefined) {
    shared = Object.freeze({ protocol, port });
    sharedPorts.set(key, shared);
  }
  return shared;
}

function enumValue<T extends string>(
  ctx: ReadContext,
  node: Node | null,
  path: string,
  allowed: readonly T[],
): T | undefined {
  const value = readString(ctx, node, path);
  if (value === undefined) return undefined;
  // The allowed constant, not the parsed text: 10,000 services then share one "TCP" and one "IPv4".
  const index = (allowed as readonly string[]).indexOf(value);
  if (index >= 0) return allowed[index];
  const hint = didYouMean(value, allowed);
  ctx.error(
    node,
    `${path}: unsupported value ${quote(value)}, expected one of ${allowed.join(", ")}${hint ? ` (did you mean ${quote(hint)}?)` : ""}`,
  );
  return undefined;
}

/**
 * A LoadBalancer Service, or undefined when the object is not one (other types are skipped, see below) or
 * is too broken to use. Structural problems are configuration errors: Kubernetes would refuse the object.
 */
export function readService(
  ctx: ReadContext,
  meta: Metadata,
  specNode: Node | null,
  source: SourceRef,
  statusNode: Node | null = null,
): Service | undefined {
  const diagnosticsBefore = ctx.diagnostics.length;
  const spec = readMap(ctx, specNode, "spec", SPEC_FIELDS) ?? new Map();
  const typeNode = spec.get("type")?.value ?? null;
  const type = enumValue(ctx, typeNode, "spec.type", SERVICE_TYPES);
  if (typeNode === null) {
    // Kubernetes defaults to ClusterIP; a hand-written Service without a type is almost always a mistake.
    ctx.warn(
      specNode,
      "spec.type is not set (Kubernetes' default is ClusterIP): ignored; set type: LoadBalancer",
      source,
    );
    return undefined;
  }
  // Other types are normal in `kubectl get svc -A -o yaml` output; skipping them silently keeps that quiet.
  if (type !== "LoadBalancer") return undefined;

  const lbClass = readString(ctx, spec.get("loadBalancerClass")?.value ?? null, "spec.loadBalancerClass");
  if (lbClass) {
    ctx.warn(
      spec.get("loadBalancerClass")?.value,
      `spec.loadBalancerClass ${quote(lbClass)} is set: like MetalLB without --lb-class, vipd only handles Services without a class; ignored`,
    );
    return undefined;
  }
  if (meta.name === "") ctx.error(meta.nameNode, "metadata.name is required", source);
  const namespace = meta.namespace ?? "default";

  for (const [key, node] of meta.annotationNodes) {
    if (key.startsWith(DEPRECATED_PREFIX)) ctx.warn(node, `Service uses deprecated annotation ${key}`);
    const prefix = key.startsWith(PREFIX)
      ? PREFIX
      : key.startsWith(DEPRECATED_PREFIX)
        ? DEPRECATED_PREFIX
        : undefined;
    if (prefix && !KNOWN_ANNOTATION_NAMES.includes(key.slice(prefix.length))) {
      ctx.warn(
        node,
        unknownKeyMessage(
          "MetalLB annotation",
          key,
          KNOWN_ANNOTATION_NAMES.map((n) => prefix + n),
        ),
      );
    }
  }

  const health = parseHealthCheck(meta.annotations);
  for (const e of health.errors) ctx.error(meta.annotationNodes.get(e.annotation) ?? null, e.message, source);
  for (const [key, node] of meta.annotationNodes) {
    if (key.startsWith(VIPD_PREFIX) && !HEALTH_ANNOTATIONS.includes(key))
      ctx.warn(node, unknownKeyMessage("vipd Service annotation", key, HEALTH_ANNOTATIONS));
  }

  const ports: ServicePort[] = [];
  const seenPorts = new Set<string>();
  const portItems = readList(ctx, spec.get("ports")?.value ?? null, "spec.ports") ?? [];
  portItems.forEach((item, i) => {
    const path = `spec.ports[${i}]`;
    const fields = readMap(ctx, item, path, PORT_FIELDS);
    if (!fields) return;
    const portNode = fields.get("port")?.value ?? null;
    const port = readInt(ctx, portNode, `${path}.port`, 1, 65535);
    if (portNode === null) ctx.error(item ?? specNode, `${path}.port is required`, source);
    const protocolNode = fields.get("protocol")?.value ?? null;
    const protocol =
      protocolNode === null ? "TCP" : enumValue(ctx, protocolNode, `${path}.protocol`, PROTOCOLS);
    readString(ctx, fields.get("name")?.value ?? null, `${path}.name`);
    readInt(ctx, fields.get("nodePort")?.value ?? null, `${path}.nodePort`, 0, 65535);
    if (port === undefined || protocol === undefined) return;
    const text = `${protocol}/${port}`;
    if (seenPorts.has(text)) ctx.error(item, `${path}: duplicate port ${text}`);
    seenPorts.add(text);
    ports.push(sharedPort(protocol, port));
  });

  const selector = readStringMap(ctx, spec.get("selector")?.value ?? null, "spec.selector") ?? {};
  const externalTrafficPolicy =
    enumValue(ctx, spec.get("externalTrafficPolicy")?.value ?? null, "spec.externalTrafficPolicy", [
      "Cluster",
      "Local",
    ] as const) ?? "Cluster";
  const policyNode = spec.get("ipFamilyPolicy")?.value ?? null;
  const ipFamilyPolicy = enumValue(ctx, policyNode, "spec.ipFamilyPolicy", POLICIES) ?? "SingleStack";
  const familiesNode = spec.get("ipFamilies")?.value ?? null;
  const ipFamilies: IpFamilyName[] = [];
  for (const [i, { node }] of (readStringList(ctx, familiesNode, "spec.ipFamilies") ?? []).entries()) {
    const family = enumValue(ctx, node, `spec.ipFamilies[${i}]`, FAMILIES);
    if (family === undefined) continue;
    if (ipFamilies.includes(family)) ctx.error(node, `spec.ipFamilies[${i}]: duplicate family ${family}`);
    else ipFamilies.push(family);
  }
  if (ipFamilies.length > 1 && ipFamilyPolicy === "SingleStack") {
    ctx.error(
      familiesNode,
      "spec.ipFamilies lists two families but spec.ipFamilyPolicy is SingleStack (Kubernetes rejects this)",
    );
  }
  for (const field of ["clusterIP", "externalName", "sessionAffinity", "internalTrafficPolicy"]) {
    readString(ctx, spec.get(field)?.value ?? null, join("spec", field));
  }
  const clusterIPs = readClusterIPs(ctx, spec);
  const loadBalancerIngress = readIngress(ctx, statusNode);
  const loadBalancerIP =
    readString(ctx, spec.get("loadBalancerIP")?.value ?? null, "spec.loadBalancerIP") ?? "";

  if (ctx.diagnostics.slice(diagnosticsBefore).some((d) => d.severity === "error")) return undefined;

  const request = desiredIPs(meta.annotations, loadBalancerIP);
  const addressPool = annotationValue(meta.annotations, ANNOTATION.addressPool);
  const sharingKey = annotationValue(meta.annotations, ANNOTATION.allowSharedIP);
  return {
    namespace,
    name: meta.name,
    key: `${namespace}/${meta.name}`,
    // Empty ones are one shared frozen object (lib/arrays.ts): 20,000 empty objects at 10,000 services.
    labels: sharedIfEmpty(meta.labels),
    annotations: meta.annotations,
    // Exact-size arrays (lib/arrays.ts): a config keeps them, one set per service, as long as it is loaded.
    ports: exact(ports),
    requestedIPs: exact("ips" in request ? request.ips : []),
    ...("error" in request ? { requestError: request.error } : {}),
    ...(addressPool ? { addressPool } : {}),
    ...(sharingKey ? { sharingKey } : {}),
    backendKey: externalTrafficPolicy === "Local" ? labelsString(selector) : "",
    ipFamilies: exact(ipFamilies),
    ipFamilyPolicy,
    // Only when present, so the config digest of manifests without them is what it always was.
    ...(clusterIPs.length > 0 ? { clusterIPs: exact(clusterIPs) } : {}),
    ...(loadBalancerIngress.length > 0 ? { loadBalancerIngress: exact(loadBalancerIngress) } : {}),
    externalTrafficPolicy,
    selector: sharedIfEmpty(selector),
    ...(health.spec ? { healthCheck: health.spec } : {}),
    source,
  };
}

/** `spec.clusterIPs`, else `spec.clusterIP`, as canonical IPs; "None" (headless) and "" mean none. */
function readClusterIPs(ctx: ReadContext, spec: ReadonlyMap<string, { value: Node | null }>): string[] {
  const listNode = spec.get("clusterIPs")?.value ?? null;
  const listed = (readStringList(ctx, listNode, "spec.clusterIPs") ?? []).map(({ node }, i) => ({
    node,
    path: `spec.clusterIPs[${i}]`,
  }));
  const single = spec.get("clusterIP")?.value ?? null;
  const items =
    listed.length > 0 ? listed : single === null ? [] : [{ node: single, path: "spec.clusterIP" }];
  const ips: string[] = [];
  for (const { node, path } of items) {
    const text = isScalar(node) && typeof node.value === "string" ? node.value : "";
    if (text === "" || text === "None") continue;
    const ip = canonicalIp(text);
    if (ip === undefined) ctx.error(node, `${path}: ${quote(text)} is not an IP address`);
    else ips.push(ip);
  }
  return ips;
}

/**
 * `status.loadBalancer.ingress[].ip` of a pasted Service. The rest of `status` (conditions, hostname,
 * ipMode, ports) is Kubernetes' business and is not checked; an ingress ip that is not an IP is ignored with
 * a warning, as MetalLB clears such a status and allocates afresh.
 */
function readIngress(ctx: ReadContext, statusNode: Node | null): string[] {
  const child = (node: Node | null, key: string): Node | null =>
    isMap(node) ? (readMap(ctx, node, "status", "any")?.get(key)?.value ?? null) : null;
  const ingress = child(child(statusNode, "loadBalancer"), "ingress");
  if (!isSeq(ingress)) return [];
  const ips: string[] = [];
  for (const item of readList(ctx, ingress, "status.loadBalancer.ingress") ?? []) {
    const ipNode = child(item, "ip");
    if (ipNode === null) continue;
    const text = isScalar(ipNode) ? String(ipNode.value) : "";
    const ip = canonicalIp(text);
    if (ip === undefined)
      ctx.warn(ipNode, `status.loadBalancer.ingress: ${quote(text)} is not an IP: ignored`);
    else if (!ips.includes(ip)) ips.push(ip);
  }
  return ips;
}
