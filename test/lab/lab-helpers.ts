// Starting the lab's agents and reading the capture, shared by the lab tests and bench/.
import { parseArpFrame, type ArpFrame } from "../../lib/net/arp-frame";
import { parseNeighborAdvertisementFrame, type CapturedNeighborAdvertisement } from "../../lib/net/ndp-frame";
import { startAgent, type AgentEvent, type AgentHandle } from "./agent-protocol";
import type { Lab, LabMember } from "./lab";

export async function startNodeAgent(lab: Lab, member: LabMember): Promise<AgentHandle> {
  return startAgent(member.role, lab.spawnScript(member.ns, "test/lab/net-agent.js", [member.role]));
}

export async function startClientAgent(lab: Lab): Promise<AgentHandle> {
  return startAgent("client", lab.spawnScript(lab.client.ns, "test/lab/client-agent.js"));
}

export async function startCapture(
  lab: Lab,
  member: LabMember = lab.client,
  ifname = "eth0",
): Promise<AgentHandle> {
  return startAgent(
    `capture-${member.role}`,
    lab.spawnScript(member.ns, "test/lab/capture-agent.js", [ifname]),
  );
}

export interface CapturedArp extends ArpFrame {
  readonly at: bigint;
}

export interface CapturedNa extends CapturedNeighborAdvertisement {
  readonly at: bigint;
}

const frameBytes = (e: AgentEvent): Buffer => Buffer.from(String(e.hex), "hex");

/** Gratuitous ARP frames (sender IP = target IP) for `ip` seen by the capture, optionally since a time. */
export function capturedGarps(capture: AgentHandle, ip: string, since = 0n): CapturedArp[] {
  const out: CapturedArp[] = [];
  for (const e of capture.events) {
    if (e.event !== "frame" || BigInt(e.at) < since || e.pkttype === 4) continue;
    const arp = parseArpFrame(frameBytes(e));
    if (arp && arp.senderIp === ip && arp.targetIp === ip) out.push({ ...arp, at: BigInt(e.at) });
  }
  return out;
}

export function capturedNas(capture: AgentHandle, target: string, since = 0n): CapturedNa[] {
  const out: CapturedNa[] = [];
  for (const e of capture.events) {
    if (e.event !== "frame" || BigInt(e.at) < since || e.pkttype === 4) continue;
    const na = parseNeighborAdvertisementFrame(frameBytes(e));
    if (na && na.target === target) out.push({ ...na, at: BigInt(e.at) });
  }
  return out;
}

export const msBetween = (from: bigint, to: bigint): number => Number(to - from) / 1e6;

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Manifests with one pool spanning `range`, one L2Advertisement of it, and one LoadBalancer Service per entry
 * of `services` (name -> its IP, asked for with metallb.io/loadBalancerIPs; an IPv6 one says ipFamilies).
 */
export function pinnedServiceManifests(range: string, services: Record<string, string>): string {
  const head = `apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: pool}
spec: {addresses: [${range}]}
---
apiVersion: metallb.io/v1beta1
kind: L2Advertisement
metadata: {name: l2}
spec: {ipAddressPools: [pool]}
`;
  const service = ([name, ip]: [string, string]): string => `---
apiVersion: v1
kind: Service
metadata:
  name: ${name}
  annotations: {metallb.io/loadBalancerIPs: "${ip}"}
spec: {type: LoadBalancer,${ip.includes(":") ? " ipFamilies: [IPv6]," : ""} ports: [{port: 80, protocol: TCP}]}
`;
  return head + Object.entries(services).map(service).join("");
}
