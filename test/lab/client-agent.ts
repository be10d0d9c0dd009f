// The client's side of the lab, run inside the client namespace: watches its own neighbour table through
// rtnetlink (RTNLGRP_NEIGH, no polling) and sends UDP probes to a VIP to see which node answers.
import { createSocket } from "node:dgram";
import { isIPv6 } from "node:net";
import { createRtNetlink, rt, type NetlinkMessage } from "netlink";
import { bytesToIp, bytesToMac } from "../../lib/net/wire";
import { monotonicNs, serveAgent, type Json } from "./agent-protocol";

const RTM_NEWNEIGH = 28;

interface NeighbourView {
  mac: string;
  state: string[];
}

function neighbourOf(
  data: rt.Neighbor,
  attrs: rt.NeighborAttrs,
): { ip: string; view: NeighbourView } | undefined {
  if (!attrs.dst) return undefined;
  const state = Object.keys(data.state ?? {}).filter((k) => k !== "__unknown");
  return { ip: bytesToIp(attrs.dst), view: { mac: attrs.lladdr ? bytesToMac(attrs.lladdr) : "", state } };
}

async function main(): Promise<void> {
  const neighbours = new Map<string, NeighbourView & { at: bigint }>();
  const waiters = new Set<() => void>();
  const events = createRtNetlink({ ref: true, recvBufferSize: 1 << 20, sendBufferSize: 0 });
  events.socket.on("message", (messages: NetlinkMessage[]) => {
    const at = monotonicNs();
    for (const m of messages) {
      if (m.type !== RTM_NEWNEIGH) continue;
      const parsed = rt.parseNeighborMessage(m.data);
      const n = neighbourOf(parsed.data, parsed.attrs);
      if (n) neighbours.set(n.ip, { ...n.view, at });
    }
    for (const w of [...waiters]) w();
  });
  events.addMembership("NEIGH");
  const requests = createRtNetlink({ ref: false, recvBufferSize: 1 << 20, sendBufferSize: 0 });
  const refresh = async (): Promise<void> => {
    const at = monotonicNs();
    for (const m of await requests.getNeighbors()) {
      const n = neighbourOf(m.data, m.attrs);
      if (n && !neighbours.has(n.ip)) neighbours.set(n.ip, { ...n.view, at });
    }
  };
  await refresh();

  const udp4 = createSocket("udp4");
  const udp6 = createSocket({ type: "udp6", ipv6Only: true });
  const replies: Array<{ from: string; at: bigint; seq: number }> = [];
  let replyWaiters = new Set<() => void>();
  for (const socket of [udp4, udp6]) {
    socket.on("message", (msg) => {
      const [from, seq] = msg.toString().split("#");
      replies.push({ from, at: monotonicNs(), seq: Number(seq ?? -1) });
      for (const w of [...replyWaiters]) w();
    });
    socket.bind(0);
  }
  replyWaiters = new Set();

  const agent = serveAgent({
    neighbour: async (request) => {
      await refresh();
      const n = neighbours.get(String(request.ip));
      return n ? { mac: n.mac, state: n.state, at: n.at.toString() } : null;
    },
    /** Resolves when the neighbour entry for ip has the given MAC; `at` = when that notification arrived. */
    waitNeighbour: (request) =>
      new Promise<Json>((resolve, reject) => {
        const ip = String(request.ip);
        const mac = String(request.mac);
        const check = (): boolean => {
          const n = neighbours.get(ip);
          if (n && n.mac === mac) {
            waiters.delete(waiter);
            clearTimeout(timer);
            resolve({ mac: n.mac, state: n.state, at: n.at.toString() });
            return true;
          }
          return false;
        };
        const waiter = (): void => void check();
        const timer = setTimeout(
          () => {
            waiters.delete(waiter);
            const n = neighbours.get(ip);
            reject(
              new Error(
                `neighbour ${ip} did not become ${mac} (now ${n ? `${n.mac} ${n.state.join(",")}` : "absent"})`,
              ),
            );
          },
          Number(request.timeoutMs ?? 1000),
        );
        if (!check()) waiters.add(waiter);
      }),
    /**
     * Sends a probe every intervalMs until a reply from `expect` (any node when absent) arrives.
     * Returns who answered, when, and the monotonic time the first probe left.
     */
    probe: (request) =>
      new Promise<Json>((resolve, reject) => {
        const ip = String(request.ip);
        const expect = request.expect === undefined ? undefined : String(request.expect);
        const socket = isIPv6(ip) ? udp6 : udp4;
        const startedAt = monotonicNs();
        const firstReply = replies.length;
        let seq = 0;
        const send = (): void => socket.send(`probe#${seq++}`, Number(request.port), ip);
        const check = (): void => {
          const hit = replies.slice(firstReply).find((r) => expect === undefined || r.from === expect);
          if (!hit) return;
          finish();
          resolve({
            from: hit.from,
            at: hit.at.toString(),
            startedAt: startedAt.toString(),
            probesSent: seq,
          });
        };
        const interval = setInterval(send, Number(request.intervalMs ?? 5));
        const timer = setTimeout(
          () => {
            finish();
            const seen = [...new Set(replies.slice(firstReply).map((r) => r.from))];
            reject(
              new Error(
                `no reply from ${expect ?? "any node"} for ${ip} (replies from: ${seen.join(", ") || "none"})`,
              ),
            );
          },
          Number(request.timeoutMs ?? 1000),
        );
        const finish = (): void => {
          clearInterval(interval);
          clearTimeout(timer);
          replyWaiters.delete(check);
        };
        replyWaiters.add(check);
        send();
      }),
  });
  agent.emit("ready", {});
}

main().catch((error: unknown) => {
  process.stderr.write(`client-agent: ${error instanceof Error ? error.stack : String(error)}\n`);
  process.exit(1);
});
