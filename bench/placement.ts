// Where to put 10,000 VIPs (issue 14, goal 3): the kernel's own time to place them, per method, measured in
// one lab and one run with `ip -batch`, and whether a client on the segment then reaches a VIP:
//  - addr: addresses on eth0, what vipd does (`ip addr` shows them);
//  - addr×4: the same addresses spread over 4 interfaces on the same segment (the per-interface address list
//    is what grows);
//  - local route: IPv4, a `local` route per VIP in the local table (the kernel answers ARP for any address
//    its local table calls local, with arp_ignore 0); IPv6, a local route plus a proxy NDP entry per VIP (the
//    kernel answers Neighbor Solicitations only for interface addresses, or for proxy entries on an interface
//    with forwarding and proxy_ndp on; proxy_delay 0 so it answers at once). `ip addr` shows none of these
//    VIPs: `ip route show table local` and `ip -6 neigh show proxy` do.
// Each method starts from a node with no VIPs. The check: the client sends a UDP datagram to one VIP of the
// batch and a listener bound to the wildcard address in the node's namespace must receive it (neighbour
// resolution and local delivery both work). Not part of `npm run bench` (the IPv6 addr case alone takes
// ~70 s here); run: node dist/bench/placement.js (root). BENCH_VIPS sets the count (default 10000).
// Writes bench/results/placement.json.
import { execFileSync } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { Lab } from "../test/lab/lab";
import { sleep } from "../test/lab/lab-helpers";
import { machine } from "./machine";

const VIPS = Number(process.env.BENCH_VIPS ?? 10_000);
const PORT = 7788;
const SPREAD = 4;

type Family = 4 | 6;
type Method = "addr" | "addr×4" | "local route";

/** The i-th VIP: 198.18.64.0/18 (RFC 2544) for IPv4, 2001:db8:100::1:0/112 for IPv6, as bench/scale.ts. */
function vip(family: Family, i: number): string {
  if (family === 6) return `2001:db8:100::1:${i.toString(16)}`;
  const n = (198 << 24) + (18 << 16) + (64 << 8) + i;
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join(".");
}

const hostBits = (family: Family): number => (family === 4 ? 32 : 128);
const iface = (method: Method, i: number): string => (method === "addr×4" ? `eth${i % SPREAD}` : "eth0");

/** The `ip -batch` lines that place (or remove) VIP i with `method`. */
function lines(method: Method, family: Family, i: number, verb: "add" | "del"): string[] {
  const ip = vip(family, i);
  if (method !== "local route")
    return [
      `addr ${verb} ${ip}/${hostBits(family)} dev ${iface(method, i)}${verb === "add" && family === 6 ? " nodad noprefixroute" : ""}`,
    ];
  const route = `route ${verb} local ${ip}/${hostBits(family)} dev eth0 table local`;
  return family === 6 ? [route, `neigh ${verb} proxy ${ip} dev eth0`] : [route];
}

/** Sends one datagram from the client to `ip` until the node's listener reports it; false after 5 s. */
async function reachable(lab: Lab, listener: { received: Set<string> }, ip: string): Promise<boolean> {
  const deadline = Date.now() + 5000;
  const family = ip.includes(":") ? "udp6" : "udp4";
  const script =
    `const s=require("dgram").createSocket("${family}");` +
    `s.send(Buffer.from("${ip}"),${PORT},"${ip}",()=>setTimeout(()=>s.close(),50));`;
  while (Date.now() < deadline) {
    execFileSync("ip", ["netns", "exec", lab.client.ns, process.execPath, "-e", script]);
    await sleep(100);
    if (listener.received.has(ip)) return true;
  }
  return false;
}

interface Row {
  family: Family;
  method: Method;
  vips: number;
  addMs: number;
  delMs: number;
  reachable: boolean;
}

async function main(): Promise<void> {
  if (process.getuid?.() !== 0) throw new Error("the placement bench builds a network lab and needs root");
  const extraInterfaces = Array.from({ length: SPREAD - 1 }, (_, k) => ({ node: 1, name: `eth${k + 1}` }));
  const lab = await Lab.create({ nodes: 1, extraInterfaces });
  const rows: Row[] = [];
  try {
    const node = lab.node(1);
    // On-link routes for the IPv4 benchmark range, as bench/scale.ts (the lab's IPv6 /64 already holds it).
    await lab.ipBatch(node.ns, ["addr add 198.19.255.1/15 dev eth0"]);
    await lab.ipBatch(lab.client.ns, ["addr add 198.19.255.200/15 dev eth0"]);
    // The kernel answers a Neighbor Solicitation for a proxy entry only on an interface that forwards.
    for (const sysctl of [
      "net.ipv6.conf.eth0.forwarding=1",
      "net.ipv6.conf.eth0.proxy_ndp=1",
      "net.ipv6.neigh.eth0.proxy_delay=0",
    ])
      execFileSync("ip", ["netns", "exec", node.ns, "sysctl", "-qw", sysctl]);
    const received = new Set<string>();
    const listener = lab.spawnIn(node.ns, process.execPath, [
      "-e",
      `for (const f of ["udp4","udp6"]) { const s=require("dgram").createSocket({type:f,ipv6Only:f==="udp6"});` +
        `s.on("message",(m)=>console.log(m.toString())); s.bind(${PORT}); }`,
    ]);
    listener.stdout?.on("data", (chunk: Buffer) => {
      for (const line of chunk.toString().split("\n")) if (line) received.add(line.trim());
    });
    await sleep(500);
    for (const family of [4, 6] as const)
      for (const method of ["local route", "addr×4", "addr"] as const) {
        const add = Array.from({ length: VIPS }, (_, i) => lines(method, family, i, "add")).flat();
        const del = Array.from({ length: VIPS }, (_, i) => lines(method, family, i, "del")).flat();
        let t = performance.now();
        await lab.ipBatch(node.ns, add);
        const addMs = Math.round(performance.now() - t);
        // The VIP checked is the last placed (for addr×4, on the last extra interface).
        const ok = await reachable(lab, { received }, vip(family, VIPS - 1));
        t = performance.now();
        await lab.ipBatch(node.ns, del);
        const delMs = Math.round(performance.now() - t);
        rows.push({ family, method, vips: VIPS, addMs, delMs, reachable: ok });
        console.log(
          `IPv${family} ${method}: add ${addMs} ms, delete ${delMs} ms, client reaches a VIP: ${ok}`,
        );
      }
  } finally {
    await lab.destroy();
  }
  const result = {
    bench: "placement",
    // Not run by `npm run bench`, so the provenance the report shows is recorded here.
    provenance: {
      command: `BENCH_VIPS=${VIPS} node dist/bench/placement.js`,
      at: new Date().toISOString(),
      machine: machine(),
    },
    rows,
  };
  const dir = join(__dirname, "..", "..", "bench", "results");
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, "placement.json"), JSON.stringify(result, null, 2) + "\n");
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
