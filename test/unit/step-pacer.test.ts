import assert from "node:assert/strict";
import { mock, test } from "node:test";
import { AFTER_COST_FACTOR, StepPacer } from "../../lib/daemon/step-pacer";

/**
 * A pacer on mocked setTimeout and a hand-moved monotonic clock; each step "costs" `cost` ms of it.
 * setImmediate stays real (Node 20's mock loops on an immediate set from a mocked timeout): advance() lets
 * the immediates queued so far run.
 */
function setUp(
  cost: number,
  busyWork?: () => Promise<unknown> | undefined,
): { pacer: StepPacer; runs: number[]; advance: (ms: number) => Promise<void> } {
  mock.timers.enable({ apis: ["setTimeout"] });
  let now = 1000;
  const runs: number[] = [];
  const pacer = new StepPacer(
    () => {
      runs.push(now);
      now += cost;
    },
    () => now,
    busyWork,
  );
  const advance = async (ms: number): Promise<void> => {
    now += ms;
    mock.timers.tick(ms);
    await new Promise<void>((resolve) => setImmediate(resolve));
  };
  return { pacer, runs, advance };
}

test("step pacer: requests in one turn make one step; a step after a quiet period runs at once", async () => {
  const { pacer, runs, advance } = setUp(0);
  try {
    pacer.request();
    pacer.request();
    pacer.request();
    await advance(0);
    assert.deepEqual(runs, [1000], "one step for three requests");
    pacer.request();
    await advance(0);
    assert.equal(runs.length, 2, "a cheap step leaves no wait before the next");
  } finally {
    mock.timers.reset();
  }
});

test("step pacer: after an expensive step the next waits as long as it took (half the thread at most)", async () => {
  const { pacer, runs, advance } = setUp(40);
  try {
    pacer.request();
    await advance(0);
    assert.deepEqual(runs, [1000]);
    pacer.request();
    await advance(39);
    assert.equal(runs.length, 1, "not before the previous step's cost has passed again");
    await advance(1);
    assert.equal(runs.length, 2);
  } finally {
    mock.timers.reset();
  }
});

test("step pacer: at() asks for a step at a time, replaces an earlier ask, and stop() cancels everything", async () => {
  const { pacer, runs, advance } = setUp(0);
  try {
    pacer.at(1250);
    pacer.at(1100);
    await advance(99);
    assert.deepEqual(runs, []);
    await advance(1);
    assert.deepEqual(runs, [1100], "at the time asked for, once");
    await advance(500);
    assert.equal(runs.length, 1, "the replaced ask does not fire");
    pacer.at(1700);
    pacer.stop();
    pacer.request();
    await advance(500);
    assert.equal(runs.length, 1, "nothing after stop");
  } finally {
    mock.timers.reset();
  }
});

test("step pacer: requestAfter() folds every ask into one step once the work settles", async () => {
  const { pacer, runs, advance } = setUp(0);
  try {
    let settle: () => void = () => {};
    const work = new Promise<void>((resolve) => (settle = resolve));
    for (let i = 0; i < 50; i++) pacer.requestAfter(work);
    await advance(50);
    assert.deepEqual(runs, [], "no step while the work runs");
    settle();
    await advance(0);
    await advance(0);
    assert.equal(runs.length, 1, "one step for fifty asks, right after the work");
    await advance(200);
    assert.equal(runs.length, 1, "its time cap does not fire a second one");
    pacer.requestAfter(Promise.resolve());
    await advance(0);
    await advance(0);
    assert.equal(runs.length, 2, "a new ask after that step gets its own");
  } finally {
    mock.timers.reset();
  }
});

test("step pacer: requestAfter() steps after its time cap when the work runs on", async () => {
  const { pacer, runs, advance } = setUp(0);
  try {
    const never = new Promise<void>(() => {});
    pacer.requestAfter(never, 100);
    pacer.requestAfter(never, 100);
    await advance(99);
    assert.deepEqual(runs, []);
    await advance(1);
    await advance(0);
    assert.equal(runs.length, 1, "at the cap, once");
    pacer.requestAfter(never, 100);
    await advance(100);
    await advance(0);
    assert.equal(runs.length, 2, "the next ask waits its own cap");
  } finally {
    mock.timers.reset();
  }
});

test("step pacer: an urgent request skips the wait after an expensive step, but not twice in a row", async () => {
  const { pacer, runs, advance } = setUp(40);
  try {
    pacer.request();
    await advance(0);
    pacer.request(true);
    await advance(0);
    assert.deepEqual(runs, [1000, 1040], "at once, although the previous step cost 40 ms");
    pacer.request(true);
    await advance(39);
    assert.equal(runs.length, 2, "the step after a skip waits its pace even when urgent");
    await advance(1);
    assert.equal(runs.length, 3);
    pacer.request(true);
    await advance(0);
    assert.equal(runs.length, 4, "after a paced step, urgent skips again");
  } finally {
    mock.timers.reset();
  }
});

test("step pacer: an urgent request brings a waiting paced step forward (one step for both)", async () => {
  const { pacer, runs, advance } = setUp(40);
  try {
    pacer.request();
    await advance(0);
    pacer.request();
    await advance(10);
    assert.equal(runs.length, 1, "the paced step waits");
    pacer.request(true);
    await advance(0);
    assert.deepEqual(runs, [1000, 1050], "brought forward");
    await advance(100);
    assert.equal(runs.length, 2, "its pacing timer does not fire a second step");
  } finally {
    mock.timers.reset();
  }
});

test("step pacer: requestAfter()'s time cap grows with the last step's cost (planning gets a fifth at most)", async () => {
  const { pacer, runs, advance } = setUp(60);
  try {
    pacer.request();
    await advance(0);
    assert.equal(runs.length, 1);
    const never = new Promise<void>(() => {});
    pacer.requestAfter(never, 100);
    await advance(200);
    assert.equal(runs.length, 1, "not at the 100 ms cap: the last step cost 60 ms");
    await advance(40);
    await advance(0);
    assert.equal(runs.length, 2, `at ${AFTER_COST_FACTOR} times its cost`);
  } finally {
    mock.timers.reset();
  }
});

test("step pacer: requestAfter() from inside a step counts that step's cost so far", async () => {
  mock.timers.enable({ apis: ["setTimeout"] });
  let now = 1000;
  const runs: number[] = [];
  const never = new Promise<void>(() => {});
  const pacer: StepPacer = new StepPacer(
    () => {
      runs.push(now);
      now += 50; // the deciding step's plan
      if (runs.length === 1) pacer.requestAfter(never, 100);
    },
    () => now,
  );
  const advance = async (ms: number): Promise<void> => {
    now += ms;
    mock.timers.tick(ms);
    await new Promise<void>((resolve) => setImmediate(resolve));
  };
  try {
    pacer.request();
    await advance(0);
    await advance(150);
    assert.equal(runs.length, 1, "not at the 100 ms cap: the step that asked had run 50 ms");
    await advance(50);
    await advance(0);
    assert.equal(runs.length, 2);
  } finally {
    mock.timers.reset();
  }
});

test("step pacer: followUp() waits for the adds when the pass is due now, else asks for its time", async () => {
  const { pacer, runs, advance } = setUp(0);
  try {
    let settle: () => void = () => {};
    const adds = new Promise<void>((resolve) => (settle = resolve));
    pacer.followUp(1000, adds);
    await advance(50);
    assert.deepEqual(runs, [], "a pass due now waits while the adds run");
    settle();
    await advance(0);
    await advance(0);
    assert.equal(runs.length, 1, "and runs once they are done");
    pacer.followUp(1200, never());
    await advance(149);
    assert.equal(runs.length, 1);
    await advance(1);
    assert.equal(runs.length, 2, "a later pass runs at its time, whatever the adds do");
    pacer.followUp(undefined, never());
    await advance(500);
    assert.equal(runs.length, 2, "none asked, none run");
  } finally {
    mock.timers.reset();
  }
});

function never(): Promise<void> {
  return new Promise<void>(() => {});
}

test("step pacer: while busy work runs, requests wait for it (or the cap); urgent ones do not", async () => {
  let busy: Promise<void> | undefined;
  const { pacer, runs, advance } = setUp(0, () => busy);
  try {
    let finish: () => void = () => {};
    busy = new Promise<void>((resolve) => (finish = resolve));
    pacer.request();
    pacer.request();
    await advance(50);
    assert.deepEqual(runs, [], "the tick's step waits for the adds");
    pacer.request(true);
    await advance(0);
    assert.equal(runs.length, 1, "an urgent input (a death, a clean probe) does not wait");
    pacer.request();
    await advance(10);
    assert.equal(runs.length, 1);
    busy = undefined;
    finish();
    await advance(0);
    await advance(0);
    assert.equal(runs.length, 2, "one step once the work settled");
    pacer.request();
    await advance(0);
    assert.equal(runs.length, 3, "no work: a request steps at once");
    busy = new Promise<void>(() => {});
    pacer.request();
    await advance(99);
    assert.equal(runs.length, 3);
    await advance(1);
    await advance(0);
    assert.equal(runs.length, 4, "work that runs on: the step comes at requestAfter's cap");
  } finally {
    mock.timers.reset();
  }
});

test("step pacer: runNow() steps before it returns when a step may run at once, else waits as urgent does", async () => {
  const { pacer, runs, advance } = setUp(40);
  try {
    pacer.runNow();
    assert.deepEqual(runs, [1000], "a quiet pacer steps right away");
    pacer.runNow();
    assert.deepEqual(runs, [1000, 1040], "skips the wait after an expensive step, as urgent does");
    pacer.runNow();
    assert.equal(runs.length, 2, "but not twice in a row: the pace comes back");
    await advance(40);
    assert.equal(runs.length, 3, "the paced step runs at its time");
    pacer.request();
    await advance(0);
    assert.equal(runs.length, 3, "a plain request after the expensive step waits its pace");
    pacer.runNow();
    assert.equal(runs.length, 4, "runNow() brings the waiting step forward, at once");
    await advance(100);
    assert.equal(runs.length, 4, "one step for both");
    pacer.stop();
    pacer.runNow();
    await advance(100);
    assert.equal(runs.length, 4, "after stop() nothing runs");
  } finally {
    mock.timers.reset();
  }
});
