// The steady state's cost cuts (issue 14): heartbeats on a shared time grid, the keyring's single-buffer
// seal, the UDP transport's send path without per-send deferrals.
import { test } from "node:test";
import assert from "node:assert/strict";
import dgram from "node:dgram";
import { RealClock, untilGridAt, type Clock, type TimerHandle } from "../../lib/gossip/clock";
import { generateKey, Keyring, SEAL_OVERHEAD, ENCRYPTED_VERSION } from "../../lib/gossip/keyring";
import { Memberlist } from "../../lib/gossip/memberlist";
import { SimNetwork } from "../../lib/gossip/sim-network";
import { UdpTransport } from "../../lib/gossip/udp-transport";
import { NodeClock, VirtualScheduler } from "../../lib/gossip/virtual-clock";
import { waitUntil } from "../wait";

test("untilGridAt: time to the next grid point, in (0, interval], a point just ahead counts as reached", () => {
  const cases: Array<[t: number, interval: number, want: number]> = [
    [0, 25, 25],
    [10, 25, 15],
    [22.5, 25, 2.5],
    [23, 25, 2],
    // 1.5 ms before a grid point: the timer that brought us here fired early by a precise clock.
    [23.5, 25, 26.5],
    [24.99, 25, 25.01],
    [1_700_000_000_010, 25, 15],
    [-10, 25, 10],
    [450, 500, 50],
    [9.4, 10, 10.6],
    // A short interval: the early margin shrinks with it (a quarter of the interval).
    [3.5, 4, 4.5],
    [2.9, 4, 1.1],
  ];
  for (const [t, interval, want] of cases)
    assert.ok(
      Math.abs(untilGridAt(t, interval) - want) < 1e-6,
      `${t} % ${interval}: ${untilGridAt(t, interval)}`,
    );
});

test("RealClock.untilGrid: the wall-time grid, never further than an interval and the early margin", () => {
  const clock = new RealClock();
  for (let i = 0; i < 50; i++) {
    const left = clock.untilGrid(25);
    assert.ok(left > 0 && left <= 27, `${left}`);
    const at = performance.timeOrigin + performance.now() + left;
    assert.ok(Math.abs(at - Math.round(at / 25) * 25) < 1, `lands on the grid: ${at % 25}`);
  }
});

/** A simulated node's clock with a wall-time grid that starts `offsetMs` into the simulation's time. */
class GridClock implements Clock {
  constructor(
    private readonly inner: NodeClock,
    private readonly offsetMs: number,
  ) {}
  now(): number {
    return this.inner.now();
  }
  setTimer(ms: number, fn: () => void): TimerHandle {
    return this.inner.setTimer(ms, fn);
  }
  clearTimer(handle: TimerHandle | undefined): void {
    this.inner.clearTimer(handle);
  }
  afterPendingIo(fn: () => void): void {
    this.inner.afterPendingIo(fn);
  }
  untilGrid(intervalMs: number): number {
    return untilGridAt(this.inner.now() + this.offsetMs, intervalMs);
  }
}

test("heartbeats leave on the shared grid whatever each member's start time, every interval", () => {
  const sched = new VirtualScheduler();
  const net = new SimNetwork(sched, 7);
  const offset = 1_000_003.7; // the grid's phase against simulated time
  const sent: Array<{ from: string; at: number }> = [];
  const members: Memberlist[] = [];
  for (let i = 0; i < 3; i++) {
    const address = `10.0.0.${i + 1}:7946`;
    const clock = new NodeClock(sched);
    const transport = net.attach(address, clock);
    const send = transport.send.bind(transport);
    transport.send = (to, packet) => {
      sent.push({ from: address, at: sched.now() });
      send(to, packet);
    };
    const ml = new Memberlist({
      name: `g${i}`,
      advertiseAddr: address,
      transport,
      clock: new GridClock(clock, offset),
      seed: 11 + i,
      insecure: true,
    });
    members.push(ml);
    // Members start at unrelated times.
    sched.runUntil(sched.now() + 7.3 * (i + 1));
    ml.start();
    if (i > 0) ml.join(["10.0.0.1:7946"]);
  }
  sched.runUntil(sched.now() + 3000);
  assert.ok(members.every((m) => m.members().filter((x) => x.state === "alive").length === 3));
  sent.length = 0;
  const from = sched.now();
  sched.runUntil(from + 2000);
  // Every member heartbeats 2 successors every 25 ms; other sends (probes, acks) are few.
  const phase = (at: number): number => (((at + offset) % 25) + 25) % 25;
  const onGrid = sent.filter((s) => phase(s.at) < 1e-6 || phase(s.at) > 25 - 1e-6);
  assert.ok(onGrid.length >= 3 * 2 * 80 * 0.95, `on the grid: ${onGrid.length} of ${sent.length}`);
  for (const name of ["10.0.0.1:7946", "10.0.0.2:7946", "10.0.0.3:7946"]) {
    const times = [...new Set(onGrid.filter((s) => s.from === name).map((s) => s.at))].sort((a, b) => a - b);
    const gaps = times.slice(1).map((t, i) => t - (times[i] as number));
    assert.ok(Math.max(...gaps) <= 25 + 1e-6, `${name}: a gap of ${Math.max(...gaps)} ms`);
  }
  for (const m of members) m.stop();
});

test("keyring seal: version ‖ nonce ‖ ciphertext ‖ tag in one buffer, fresh nonces, label and tamper checked", () => {
  const keyring = Keyring.fromBase64(generateKey());
  const label = Buffer.from("vipd");
  const plain = Buffer.from("heartbeat of a sort");
  const a = keyring.seal(plain, label);
  const b = keyring.seal(plain, label);
  assert.equal(a.length, plain.length + SEAL_OVERHEAD);
  assert.equal(a[0], ENCRYPTED_VERSION);
  assert.notDeepEqual(a.subarray(1, 13), b.subarray(1, 13), "a nonce is never reused");
  assert.deepEqual(keyring.open(a, label), plain);
  assert.deepEqual(keyring.open(b, Buffer.from("vipd")), plain, "an equal label in another buffer");
  assert.equal(keyring.open(a, Buffer.from("other")), undefined);
  // The label's AAD is cached: a label changed after use is still checked.
  assert.deepEqual(keyring.open(keyring.seal(plain, Buffer.from("other")), Buffer.from("other")), plain);
  assert.equal(keyring.open(b, Buffer.from("other")), undefined);
  const tampered = Buffer.from(a);
  tampered[20] = (tampered[20] as number) ^ 1;
  assert.equal(keyring.open(tampered, label), undefined);
  assert.deepEqual(keyring.open(keyring.seal(Buffer.alloc(0), label), label), Buffer.alloc(0));
});

test("UDP transport: sends to an IP literal and to a host name both arrive; a malformed address is counted", async () => {
  const transport = await UdpTransport.listen({ bindHost: "127.0.0.1", port: 0 });
  const sink = dgram.createSocket("udp4");
  await new Promise<void>((resolve) => sink.bind(0, "127.0.0.1", resolve));
  const got: string[] = [];
  sink.on("message", (m) => got.push(m.toString()));
  try {
    const port = sink.address().port;
    transport.send(`127.0.0.1:${port}`, Buffer.from("literal"));
    transport.send(`localhost:${port}`, Buffer.from("name"));
    transport.send("no port here", Buffer.from("x"));
    await waitUntil("both datagrams", () => got.length === 2, 5000, { stepMs: 5 });
    assert.deepEqual(got.sort(), ["literal", "name"]);
    assert.equal(transport.errors, 1);
  } finally {
    sink.close();
    await transport.close();
  }
});
