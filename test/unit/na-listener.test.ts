// The NA listener's socket lifecycle: raw-socket closes its socket after a poll error, and the listener
// opens a new one (after a pause) instead of going deaf; a close of our own is final.
import { test } from "node:test";
import assert from "node:assert/strict";
import { EventEmitter } from "node:events";
import type * as raw from "raw-socket";
import { NaListener } from "../../lib/net/na-listener";
import { unsolicitedNeighborAdvertisement } from "../../lib/net/ndp-frame";

class FakeSocket extends EventEmitter {
  closed = false;
  options = 0;
  setOption(): void {
    this.options++;
  }
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.emit("close");
  }
  /** What raw-socket does on a poll error: "error", then close. */
  pollError(): void {
    this.emit("error", new Error("-9"));
    this.close();
  }
}

const waitFor = async (what: string, cond: () => boolean, ms = 2000): Promise<void> => {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
};

test("NA listener: a socket raw-socket closed on a poll error is replaced; our own close is final", async () => {
  const made: FakeSocket[] = [];
  const listener = new NaListener(20, () => {
    const s = new FakeSocket();
    made.push(s);
    return s as unknown as raw.Socket;
  });
  assert.equal(made.length, 1);
  assert.equal(made[0]!.options, 1, "the ICMP6 filter is set");
  made[0]!.pollError();
  await waitFor("a new socket", () => made.length === 2);
  assert.equal(listener.reopened, 1);
  assert.equal(made[1]!.options, 1, "the new socket gets the filter too");
  // The new socket is the one read: an NA on it is drained.
  made[1]!.emit("message", unsolicitedNeighborAdvertisement("2001:db8::10", "02:00:00:00:00:01"));
  const claims = listener.drain(10);
  assert.equal(claims.length, 1);
  assert.equal(claims[0]!.ip, "2001:db8::10");
  assert.equal(claims[0]!.mac, "02:00:00:00:00:01");
  // A stale close (the old socket again) opens nothing more.
  made[0]!.emit("close");
  await new Promise((r) => setTimeout(r, 60));
  assert.equal(made.length, 2);
  listener.close();
  assert.equal(made[1]!.closed, true);
  await new Promise((r) => setTimeout(r, 60));
  assert.equal(made.length, 2, "closed by us: not reopened");
});

test("NA listener: a reopen that fails is tried again, and does not throw", async () => {
  const made: FakeSocket[] = [];
  let failNext = 0;
  const listener = new NaListener(10, () => {
    if (failNext > 0) {
      failNext--;
      throw new Error("EMFILE");
    }
    const s = new FakeSocket();
    made.push(s);
    return s as unknown as raw.Socket;
  });
  failNext = 2;
  made[0]!.pollError();
  await waitFor("a new socket after two failures", () => made.length === 2);
  assert.equal(listener.reopenFailures, 2);
  assert.equal(listener.reopened, 1);
  listener.close();
});
