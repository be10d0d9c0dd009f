// The client's side of the failover bench, run inside the client namespace: sends a numbered UDP probe to the
// VIP every few milliseconds and records which node echoed each one. Prints {"event":"ready"} once three
// probes in a row came back from the expected node, then, when stdin says "stop", waits for late replies and
// prints one JSON summary line. Usage: failover-prober.js <ip> <port> <intervalMs> <expectedNode>
import { createSocket } from "node:dgram";
import { isIPv6 } from "node:net";
import { createInterface } from "node:readline";

const [ip = "", portText = "7777", intervalText = "5", expected = ""] = process.argv.slice(2);
const port = Number(portText);
const intervalMs = Number(intervalText);
const socket = createSocket(isIPv6(ip) ? "udp6" : "udp4");
const sentAt: bigint[] = [];
const answeredBy = new Map<number, string>();
let inARow = 0;
let ready = false;

socket.on("message", (message) => {
  const [from = "", seqText = "-1"] = message.toString().split("#");
  const seq = Number(seqText);
  if (!answeredBy.has(seq)) answeredBy.set(seq, from);
  if (ready) return;
  inARow = from === expected ? inARow + 1 : 0;
  if (inARow >= 3) {
    ready = true;
    process.stdout.write(JSON.stringify({ event: "ready", seq }) + "\n");
  }
});

// Absolute deadlines, so a late timer does not shift every later probe.
const startedAt = process.hrtime.bigint();
const tick = (): void => {
  const seq = sentAt.length;
  sentAt.push(process.hrtime.bigint());
  socket.send(`probe#${seq}`, port, ip);
  const next = startedAt + BigInt(Math.round((seq + 1) * intervalMs * 1e6));
  const waitMs = Number(next - process.hrtime.bigint()) / 1e6;
  timer = setTimeout(tick, Math.max(0, waitMs));
};
let timer = setTimeout(tick, 0);

/** True once the last `count` probes sent after `sinceNs` all came back (older ones have had 20+ ms). */
const flowing = (sinceNs: bigint, count: number): boolean => {
  let answered = 0;
  for (let seq = sentAt.length - 5; seq >= 0 && sentAt[seq] >= sinceNs; seq--) {
    if (!answeredBy.has(seq)) return false;
    if (++answered >= count) return true;
  }
  return false;
};

// "stop <ns>": stop once probes flow again after that monotonic time (or 5 s later: the lost count is then a
// lower bound, flagged recovered=false; a longer wait only made npm run bench longer), then report.
createInterface({ input: process.stdin }).on("line", (line) => {
  const [command, sinceText = "0"] = line.trim().split(/\s+/);
  if (command !== "stop") return;
  const since = BigInt(sinceText);
  const giveUp = Date.now() + 5_000;
  const poll = setInterval(() => {
    const recovered = flowing(since, 20);
    if (!recovered && Date.now() < giveUp) return;
    clearInterval(poll);
    clearTimeout(timer);
    setTimeout(() => {
      const lost: number[] = [];
      for (let seq = 0; seq < sentAt.length; seq++) if (!answeredBy.has(seq)) lost.push(seq);
      process.stdout.write(
        JSON.stringify({
          event: "summary",
          sent: sentAt.length,
          sentAt: sentAt.map(String),
          lost,
          recovered,
        }) + "\n",
      );
      process.exit(0);
    }, 100);
  }, 10);
});
socket.bind(0);
