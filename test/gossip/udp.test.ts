// Real sockets: three membership layers on 127.0.0.1 (separate UDP ports, real clock, encrypted) converge,
// detect a kill, and process a leave.
import { test } from "node:test";
import assert from "node:assert/strict";
import { RealClock } from "../../lib/gossip/clock";
import { generateKey, Keyring } from "../../lib/gossip/keyring";
import { Memberlist } from "../../lib/gossip/memberlist";
import { UdpTransport } from "../../lib/gossip/udp-transport";
import { waitUntil } from "../wait";

const waitFor = (what: string, cond: () => boolean, timeoutMs: number): Promise<number> =>
  waitUntil(what, cond, timeoutMs, { stepMs: 5 });

test("UDP on 127.0.0.1: 3 members converge, detect a kill, process a leave", async () => {
  const key = generateKey();
  const nodes: { ml: Memberlist; transport: UdpTransport }[] = [];
  try {
    for (let i = 0; i < 3; i++) {
      const transport = await UdpTransport.listen({ bindHost: "127.0.0.1", port: 0 });
      const ml = new Memberlist({
        name: `udp-${i}`,
        advertiseAddr: transport.localAddress,
        transport,
        clock: new RealClock(),
        seed: i + 1,
        keyring: Keyring.fromBase64(key),
      });
      ml.start();
      nodes.push({ ml, transport });
    }
    const [a, b, c] = nodes as [(typeof nodes)[0], (typeof nodes)[0], (typeof nodes)[0]];
    b.ml.join([a.transport.localAddress]);
    c.ml.join([a.transport.localAddress]);
    const aliveCount = (ml: Memberlist) => ml.members().filter((m) => m.state === "alive").length;
    await waitFor("convergence", () => nodes.every((n) => aliveCount(n.ml) === 3), 5000);

    await new Promise((r) => setTimeout(r, 300)); // let heartbeat watches arm
    // kill -9 of c: no leave, its socket simply goes silent.
    c.ml.stop();
    await c.transport.close();
    const detect = await waitFor(
      "kill detection",
      () => [a, b].every((n) => n.ml.member("udp-2")?.state === "dead"),
      5000,
    );
    console.log(`# UDP kill detected by both peers after ${detect.toFixed(0)} ms (real clock)`);

    await b.ml.leave();
    b.ml.stop();
    await waitFor("leave", () => a.ml.member("udp-1")?.state === "left", 2000);
    const s = a.ml.stats();
    assert.ok(s.packetsIn > 0 && s.packetsOut > 0);
    assert.equal(s.rejected.decrypt + s.rejected.malformed + s.rejected.internal, 0);
  } finally {
    for (const n of nodes) {
      n.ml.stop();
      await n.transport.close();
    }
  }
});
