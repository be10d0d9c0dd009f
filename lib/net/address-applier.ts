// The address applier: keeps the kernel's marked VIP addresses equal to the wanted set the plan gives. Level-triggered, not edge-triggered:
// any difference, whatever caused it, is repaired. An owned VIP that something else removed
// (systemd-networkd, `ip addr del`; keepalived #836, #2479) is put back at once and reported as
// `repaired`, so the caller re-announces it. Marked addresses that should not be here (left by a crashed
// vipd, or no longer owned) are removed; unmarked addresses are never touched.
import { sameEntries } from "../plan/compare";
import type { NetChange, NetlinkWatch } from "./netlink-watch";
import type { PlacementFailure, VipAddresses, VipPlacement } from "./vip-addresses";

export interface ApplyResult {
  readonly added: ReadonlyArray<{ ip: string; ifname: string; repaired: boolean }>;
  readonly removed: ReadonlyArray<{ ip: string; ifname: string }>;
  readonly failed: ReadonlyArray<{ ip: string; ifname: string; error: string }>;
}

export interface ApplyListener {
  /**
   * Called during every pass that changed something or failed: once with the removals, once per address
   * added as soon as the kernel confirmed it (its announcement must not wait for a batch of thousands),
   * and once with what failed.
   */
  (result: ApplyResult): void;
}

/** Why a wanted VIP is not in the kernel (the observed view differs from the intended one). */
export interface Divergence {
  readonly ip: string;
  readonly ifname: string;
  /** `add failed: EPERM`, `interface eth1 does not exist`, or `missing` while an add is under way. */
  readonly reason: string;
  /** Monotonic ms when the VIP was first seen missing (or failing) in this stretch. */
  readonly since: number;
  /** Add attempts that failed in a row. */
  readonly failures: number;
}

export interface ApplierOptions {
  /** Backoff of retries after failures: first delay, doubled per failed pass up to the cap. */
  readonly retryMinMs?: number;
  readonly retryMaxMs?: number;
  /** A full compare with a fresh kernel dump this often, for notifications that never came (0: never). */
  readonly verifyMs?: number;
  /** Our own change the watch has not reported after this long is no longer assumed done. */
  readonly unconfirmedMs?: number;
  /** Monotonic clock (performance.now() by default), so tests can drive time. */
  readonly now?: () => number;
}

const RETRY_MIN_MS = 100;
/** Capped at 1 s: a VIP that can be repaired is repaired within a second of the cause going away. */
const RETRY_MAX_MS = 1000;
const VERIFY_MS = 5000;
const UNCONFIRMED_MS = 1000;

/** One of our changes the watch has not reported yet: when it was acknowledged, and in which order. */
interface Unconfirmed {
  readonly at: number;
  readonly order: number;
}

/** A request of ours not acknowledged yet: the notification it will bring, and whether that came already. */
interface InFlight {
  readonly change: "new" | "del";
  seen: boolean;
}

/**
 * How long a compare's dump may hold back the clock's expiry of our unconfirmed changes, in multiples of
 * unconfirmedMs: a dump that never settles must not hide a lost change for good.
 */
const VERIFY_HOLD_MAX = 5;

/** The reason of a divergence whose add the kernel refused or never acknowledged. */
const ADD_FAILED = "add failed: ";

interface Missing {
  since: number;
  failures: number;
  error: string | undefined;
  readonly ifname: string;
}

/** What one pass found to change, and the wanted VIPs it cannot place (no such interface). */
interface PassChanges {
  readonly toRemove: VipPlacement[];
  readonly toAdd: VipPlacement[];
  readonly failed: Array<{ ip: string; ifname: string; error: string }>;
}

export class AddressApplier {
  private wantedSet = new Map<string, string>();
  private readonly externallyRemoved = new Set<string>();
  /**
   * Our own changes the watch has not reported yet ("ip|index"). Acknowledgements and notifications come on
   * different sockets, so a pass can start before the watch has seen the previous pass's work; without this
   * it would redo it. Any later notification for the same address supersedes the entry, and an entry older
   * than `unconfirmedMs` is dropped: a lost notification must not hide a missing address forever.
   *
   * "Older" counts from the watch's progress, not only the clock: a takeover of thousands of addresses
   * queues thousands of notifications, which the watch may read seconds after the acknowledgements. An
   * entry expires once a notification of a later change of ours arrived without its own (the kernel sends
   * them in order: it was lost), or once no notification of ours came for `unconfirmedMs` (none is on its
   * way). Expiring them by age alone re-added (and re-announced) every address of a large takeover.
   */
  private readonly unconfirmedAdds = new Map<string, Unconfirmed>();
  private readonly unconfirmedRemoves = new Map<string, Unconfirmed>();
  /**
   * Our changes sent and not acknowledged yet ("ip|index" -> the notification they will bring). Notifications
   * and acknowledgements come on different sockets, and on a busy host the notification often comes first:
   * it is ours all the same, and the pass that sent the change counts it. Taken for a stranger's change, each
   * asked for a pass of its own: a 10,000-VIP takeover ran passes over every wanted address back to back
   * until its last acknowledgement (a fifth of a survivor's main thread, cpu-prof of the scale bench).
   */
  private readonly inFlight = new Map<string, InFlight>();
  /** Passes run (each compares every wanted address with the view). */
  passes = 0;
  /** Order of our acknowledged changes, and the latest of them whose notification arrived. */
  private changeOrder = 0;
  private lastOrderSeen = 0;
  /** When the last notification of one of our addresses arrived. */
  private lastNotificationAt = Number.NEGATIVE_INFINITY;
  /** ip -> the current stretch of its wanted address missing from the kernel. */
  private readonly missing = new Map<string, Missing>();
  private retryDelay = 0;
  private verifyTimer: NodeJS.Timeout | undefined;
  /** A periodic compare's dump is under way. */
  private verifying = false;
  /** Since when (monotonic ms) passes have found notifications held back by a dump; undefined: not held. */
  private heldSince: number | undefined;
  private readonly now: () => number;
  private readonly retryMinMs: number;
  private readonly retryMaxMs: number;
  private readonly unconfirmedMs: number;
  /** Full compares done (the periodic safety net). */
  verifies = 0;
  private running: Promise<void> | undefined;
  /** Whether a pass ran yet: the first setWanted runs one even with nothing wanted (the start-up cleanup). */
  private passed = false;
  private again = false;
  private retryTimer: NodeJS.Timeout | undefined;
  private soon: NodeJS.Immediate | undefined;
  private readonly unsubscribe: () => void;
  private stopped = false;

  constructor(
    private readonly watch: NetlinkWatch,
    private readonly addresses: VipAddresses,
    private readonly listener: ApplyListener = () => {},
    options: ApplierOptions = {},
  ) {
    this.now = options.now ?? (() => performance.now());
    this.retryMinMs = options.retryMinMs ?? RETRY_MIN_MS;
    this.retryMaxMs = options.retryMaxMs ?? RETRY_MAX_MS;
    this.unconfirmedMs = options.unconfirmedMs ?? UNCONFIRMED_MS;
    this.unsubscribe = watch.onChange((change) => this.onChange(change));
    const verifyMs = options.verifyMs ?? VERIFY_MS;
    if (verifyMs > 0) {
      this.verifyTimer = setInterval(() => this.verify(), verifyMs);
      this.verifyTimer.unref();
    }
  }

  /**
   * The observed side: whether the kernel holds wanted `ip` on its wanted link now, from the watch's view
   * (netlink notifications and the periodic dump keep it current). Our own unacknowledged changes do not
   * count: observed means seen. An address added by hand (another proto) counts: clients reach it.
   */
  observed(ip: string): boolean {
    const ifname = this.wantedSet.get(ip);
    if (ifname === undefined) return false;
    const link = this.watch.link(ifname);
    return link !== undefined && this.watch.hasAddress(ip, link.index);
  }

  /** Wanted VIPs the kernel does not hold, with why; empty when intended and observed agree. */
  divergences(): Divergence[] {
    const out: Divergence[] = [];
    for (const [ip, m] of this.missing) {
      if (!this.wantedSet.has(ip) || this.observed(ip)) continue;
      out.push({ ip, ifname: m.ifname, reason: m.error ?? "missing", since: m.since, failures: m.failures });
    }
    return out;
  }

  /**
   * Tries once to add `ip` on `ifname` and removes it at once: can this node hold it again? Resolves with
   * the error, undefined when the add worked. Not for a wanted IP (that one the passes handle).
   */
  async trial(ip: string, ifname: string): Promise<string | undefined> {
    const link = this.watch.link(ifname);
    if (!link) return `interface ${ifname} does not exist`;
    // A wanted IP is the passes' business: report what they see.
    if (this.wantedSet.has(ip))
      return this.observed(ip) ? undefined : (this.missing.get(ip)?.error ?? "being added");
    const placement = { ip, ifindex: link.index };
    const failures = await this.addresses.add([placement]);
    // Whatever happened, the next pass removes a marked address that is not wanted; this is just sooner.
    await this.addresses.remove([placement]);
    this.applySoon();
    return failures[0]?.error;
  }

  /**
   * Replaces the wanted set (ip -> interface name) and applies it. The first call doubles as the start-up
   * cleanup: marked addresses not in `wanted` are stale and go.
   */
  setWanted(wanted: ReadonlyMap<string, string>): Promise<void> {
    // The daemon calls this every tick with an unchanged set: keeping the copy we hold, instead of a new
    // 10,000-entry map each time, keeps it out of the old generation.
    if (!this.passed || !sameEntries(this.wantedSet, wanted)) {
      if (!sameEntries(this.wantedSet, wanted)) this.wantedSet = new Map(wanted);
      return this.apply();
    }
    // Unchanged: a pass would find nothing new. Kernel changes (notifications), failures (the retry timer)
    // and the periodic compare start their own passes; a pass over 10,000 addresses on every step of a
    // takeover (one per acknowledged batch) was a third of the applier's main-thread time.
    return this.settled();
  }

  /** Resolves once no pass is running (at once when idle). */
  settled(): Promise<void> {
    return this.running ?? Promise.resolve();
  }

  /** The pass under way, if any (settles when the set has been applied). */
  passUnderWay(): Promise<void> | undefined {
    return this.running;
  }

  wanted(): ReadonlyMap<string, string> {
    return this.wantedSet;
  }

  /** Runs a pass now (or right after the one in progress); resolves when the set has been applied. */
  apply(): Promise<void> {
    if (this.stopped) return Promise.resolve();
    if (this.running) {
      this.again = true;
      return this.running;
    }
    this.running = (async () => {
      try {
        do {
          this.again = false;
          await this.pass();
        } while (this.again && !this.stopped);
      } finally {
        this.running = undefined;
      }
    })();
    return this.running;
  }

  /** Shutdown: removes every marked address this node holds, then stops reacting to changes. */
  async releaseAll(): Promise<void> {
    this.wantedSet = new Map();
    await this.apply();
    this.stop();
  }

  stop(): void {
    this.stopped = true;
    this.unsubscribe();
    if (this.verifyTimer) clearInterval(this.verifyTimer);
    if (this.retryTimer) clearTimeout(this.retryTimer);
    if (this.soon) clearImmediate(this.soon);
  }

  private onChange(change: NetChange): void {
    if (this.stopped) return;
    if (change.kind === "address") {
      const a = change.address;
      if (a.proto !== this.addresses.proto) return;
      const key = `${a.ip}|${a.index}`;
      // Our own adds and removes come back here, one notification each: thousands in a takeover. One we
      // were waiting for changes nothing a pass would see (it counted the change as done already), so it
      // costs no pass over every wanted address.
      const expected = change.change === "new" ? this.unconfirmedAdds : this.unconfirmedRemoves;
      const ours = expected.get(key);
      expected.delete(key);
      (change.change === "new" ? this.unconfirmedRemoves : this.unconfirmedAdds).delete(key);
      this.lastNotificationAt = this.now();
      if (ours) {
        this.lastOrderSeen = Math.max(this.lastOrderSeen, ours.order);
        return;
      }
      const request = this.inFlight.get(key);
      if (request?.change === change.change) {
        request.seen = true;
        return;
      }
      if (change.change === "del" && this.watch.link(this.wantedSet.get(a.ip) ?? "")?.index === a.index) {
        this.externallyRemoved.add(a.ip);
      }
      this.applySoon();
    } else if (change.change === "del") {
      for (const set of [this.unconfirmedAdds, this.unconfirmedRemoves]) {
        for (const key of set.keys()) if (key.endsWith(`|${change.link.index}`)) set.delete(key);
      }
      this.applySoon();
    } else if (change.previous === undefined || change.previous.name !== change.link.name) {
      this.applySoon();
    } else if (!change.previous.up && change.link.up) {
      // IPv6 addresses are flushed when a link goes down; put them back when it comes up.
      this.applySoon();
    }
  }

  /**
   * Notifications come one per address: thousands when many VIPs change at once. They are coalesced into
   * one pass per event-loop turn instead of a pass each.
   */
  private applySoon(): void {
    if (this.soon || this.stopped) return;
    this.soon = setImmediate(() => {
      this.soon = undefined;
      void this.apply();
    });
  }

  /**
   * The periodic compare: a fresh kernel dump beside the passes, not inside one. Differences come back as
   * ordinary events; one pass after it also catches what expired meanwhile (an unconfirmed change whose
   * notification was lost). A failed dump waits for the next. At 10,000 VIPs the dump is read over many
   * loop turns (hundreds of ms on a busy host): run inside a pass, it held back every pass asked for
   * meanwhile, and a reload's new VIP, cleared by its probe, waited for it before its add went out.
   */
  private verify(): void {
    if (this.verifying || this.stopped) return;
    this.verifying = true;
    this.verifies++;
    // Every change acknowledged before the dump starts is in it: once it is compared, the view holds the
    // kernel's truth for them, so the ones still unconfirmed were lost (or undone) and expire now. Not when
    // no dump of its own ran (one after lost notifications was under way and still holds them).
    const acknowledgedBefore = this.changeOrder;
    void this.watch.refresh().then(
      (dumped) => {
        this.verifying = false;
        if (dumped)
          for (const map of [this.unconfirmedAdds, this.unconfirmedRemoves])
            for (const [key, u] of map) if (u.order <= acknowledgedBefore) map.delete(key);
        this.applySoon();
      },
      () => {
        this.verifying = false;
        this.applySoon();
      },
    );
  }

  private async pass(): Promise<void> {
    this.passed = true;
    this.passes++;
    const changes = this.findChanges(this.now());
    if (changes !== undefined) await this.makeChanges(changes);
  }

  /**
   * The first half of a pass: expires unconfirmed changes, reports what landed unseen, and returns what to
   * remove and add (undefined when nothing). Runs every pass over every address; makeChanges runs only
   * when something changes. Two methods, not one: V8 optimizes a function whole, and a steady state's `pass`
   * never ran its changing half, so a takeover threw its optimized code away and recompiled all of it
   * (~300 ms of a helper thread's time in the middle of a 10,000-VIP takeover, issue 14 round 19).
   */
  private findChanges(now: number): PassChanges | undefined {
    // While a compare's dump is read, the watch holds notifications back (they are late, not lost): no
    // unconfirmed change expires by the clock then. Expired, a 10,000-VIP takeover's adds were redone (and
    // re-announced) whenever the 5 s compare fell inside it; the dump's end expires the lost ones instead.
    if (this.verifying || this.watch.holdsNotifications) this.heldSince ??= now;
    else this.heldSince = undefined;
    const expireByClock =
      this.heldSince === undefined || now - this.heldSince > VERIFY_HOLD_MAX * this.unconfirmedMs;
    for (const map of [this.unconfirmedAdds, this.unconfirmedRemoves])
      for (const [key, u] of map) {
        const overtaken = u.order < this.lastOrderSeen;
        const silent = now - Math.max(u.at, this.lastNotificationAt) > this.unconfirmedMs;
        if (overtaken || (expireByClock && silent)) map.delete(key);
      }
    const proto = this.addresses.proto;
    // "ip|index" keys are built only while some change of ours is unconfirmed: at 10,000 VIPs, building
    // them (and the maps they filled) for every address was most of an idle pass (~30 ms here).
    const keyed = this.unconfirmedAdds.size > 0 || this.unconfirmedRemoves.size > 0;
    const indexes = new Map<string, number | undefined>();
    const indexOf = (ifname: string): number | undefined => {
      if (!indexes.has(ifname)) indexes.set(ifname, this.watch.link(ifname)?.index);
      return indexes.get(ifname);
    };
    const wantedAt = (ip: string): number | undefined => {
      const ifname = this.wantedSet.get(ip);
      return ifname === undefined ? undefined : indexOf(ifname);
    };
    // Marked addresses as the kernel will hold them once our unconfirmed changes land, where they are not
    // wanted: removed. Others' addresses (a VIP someone configured by hand) are noted: not ours to manage.
    const toRemove: VipPlacement[] = [];
    const foreign = new Set<string>();
    // Ours but not a host prefix (vipd adds /32 and /128 only: one added by hand with our proto): present
    // all the same, as the view's host-address lookup below would miss it.
    const otherPrefix = new Set<string>();
    for (const a of this.watch.eachAddress()) {
      if (a.proto !== proto) foreign.add(`${a.ip}|${a.index}`);
      else if (!(keyed && this.unconfirmedRemoves.has(`${a.ip}|${a.index}`))) {
        if (a.prefixlen !== (a.family === 6 ? 128 : 32)) {
          const key = `${a.ip}|${a.index}`;
          if (otherPrefix.has(key)) continue;
          otherPrefix.add(key);
        }
        if (wantedAt(a.ip) !== a.index) toRemove.push({ ip: a.ip, ifindex: a.index });
      }
    }
    for (const key of this.unconfirmedAdds.keys()) {
      const [ip, index] = key.split("|");
      const ifindex = Number(index);
      // One the view holds already was seen above.
      const seenAbove = this.watch.address(ip, ifindex)?.proto === proto || otherPrefix.has(key);
      if (!seenAbove && wantedAt(ip) !== ifindex) toRemove.push({ ip, ifindex });
    }

    const failed: Array<{ ip: string; ifname: string; error: string }> = [];
    const toAdd: VipPlacement[] = [];
    const landed: Array<{ ip: string; ifname: string; repaired: boolean }> = [];
    for (const [ip, ifname] of this.wantedSet) {
      const index = indexOf(ifname);
      if (index === undefined) {
        const error = `interface ${ifname} does not exist`;
        failed.push({ ip, ifname, error });
        this.noteMissing(ip, ifname, now, error);
        continue;
      }
      const inView = this.watch.address(ip, index);
      const key = keyed || foreign.size > 0 || otherPrefix.size > 0 ? `${ip}|${index}` : "";
      const present =
        inView?.proto === proto
          ? !(keyed && this.unconfirmedRemoves.has(key))
          : (keyed && this.unconfirmedAdds.has(key)) || otherPrefix.has(key);
      // Someone configured the VIP by hand on that link: it is there, and it is not ours to manage.
      if (!present && !foreign.has(key)) {
        toAdd.push({ ip, ifindex: index });
        this.noteMissing(ip, ifname, now);
      } else if (inView !== undefined && this.missing.has(ip)) {
        // An add that failed (its acknowledgement lost or late: ETIMEDOUT, ENOBUFS) may have landed all
        // the same. Nothing reported it, so nothing announced it: report it now, or the VIP stays silent.
        if (this.missing.get(ip)?.error?.startsWith(ADD_FAILED)) landed.push({ ip, ifname, repaired: false });
        this.missing.delete(ip);
      }
    }
    if (landed.length > 0) this.report({ added: landed, removed: [], failed: [] });
    if (this.missing.size > 0)
      for (const ip of this.missing.keys()) if (!this.wantedSet.has(ip)) this.missing.delete(ip);
    if (toAdd.length === 0 && toRemove.length === 0) {
      this.externallyRemoved.clear();
      if (failed.length > 0) this.report({ added: [], removed: [], failed });
      this.scheduleRetry(failed.length > 0);
      return undefined;
    }
    return { toRemove, toAdd, failed };
  }

  /** The second half of a pass: removals, then adds, each reported as the kernel confirms it. */
  private async makeChanges({ toRemove, toAdd, failed }: PassChanges): Promise<void> {
    const nameOf = (index: number): string => this.watch.link(index)?.name ?? `#${index}`;
    const failedOf = (list: PlacementFailure[]) =>
      list.map((f) => ({ ip: f.ip, ifname: nameOf(f.ifindex), error: f.error }));
    // Removals first, so a VIP moving between two links is never on both.
    for (const p of toRemove) this.inFlight.set(`${p.ip}|${p.ifindex}`, { change: "del", seen: false });
    let removeFailures: PlacementFailure[];
    let removeFailed: Set<string>;
    try {
      removeFailures = await this.addresses.remove(toRemove);
      removeFailed = new Set(removeFailures.map((f) => `${f.ip}|${f.ifindex}`));
      for (const p of toRemove) {
        const key = `${p.ip}|${p.ifindex}`;
        this.unconfirmedAdds.delete(key);
        // The notification may have come while the acknowledgement was on its way: then it is seen already
        // (and the view's word after it is later news).
        if (!this.notifiedFirst(key) && !removeFailed.has(key) && this.watch.hasAddress(p.ip, p.ifindex))
          this.unconfirmedRemoves.set(key, this.unconfirmed());
      }
    } finally {
      this.landed(toRemove, "del");
    }
    const removed = toRemove.filter((p) => !removeFailed.has(`${p.ip}|${p.ifindex}`));
    if (removed.length > 0)
      this.report({
        added: [],
        removed: removed.map((p) => ({ ip: p.ip, ifname: nameOf(p.ifindex) })),
        failed: [],
      });
    for (const p of toAdd) this.inFlight.set(`${p.ip}|${p.ifindex}`, { change: "new", seen: false });
    const addFailures = await this.addresses
      .add(toAdd, (p) => {
        const key = `${p.ip}|${p.ifindex}`;
        // Its notification came first: whatever the view says now is later news (an outside delete racing
        // the add must not pass for our add still on its way).
        const seen = this.notifiedFirst(key);
        this.inFlight.delete(key);
        this.unconfirmedRemoves.delete(key);
        if (!seen && !this.watch.hasAddress(p.ip, p.ifindex))
          this.unconfirmedAdds.set(key, this.unconfirmed());
        const repaired = this.externallyRemoved.delete(p.ip);
        this.report({ added: [{ ip: p.ip, ifname: nameOf(p.ifindex), repaired }], removed: [], failed: [] });
      })
      .finally(() => this.landed(toAdd, "new"));
    for (const p of addFailures) {
      this.unconfirmedRemoves.delete(`${p.ip}|${p.ifindex}`);
      const m = this.missing.get(p.ip);
      if (m) {
        m.failures++;
        m.error = `${ADD_FAILED}${p.error}`;
      }
    }
    const allFailed = [...failed, ...failedOf(removeFailures), ...failedOf(addFailures)];
    if (allFailed.length > 0) this.report({ added: [], removed: [], failed: allFailed });
    this.scheduleRetry(allFailed.length > 0);
  }

  /** Whether the notification of our request for `key` came before its acknowledgement. */
  private notifiedFirst(key: string): boolean {
    return this.inFlight.get(key)?.seen === true;
  }

  /** The requests for `placements` are answered (acknowledged or failed): none is in flight any more. */
  private landed(placements: readonly VipPlacement[], change: "new" | "del"): void {
    if (this.inFlight.size === 0) return;
    for (const p of placements) {
      const key = `${p.ip}|${p.ifindex}`;
      if (this.inFlight.get(key)?.change === change) this.inFlight.delete(key);
    }
  }

  private unconfirmed(): Unconfirmed {
    return { at: this.now(), order: ++this.changeOrder };
  }

  private noteMissing(ip: string, ifname: string, now: number, error?: string): void {
    const m = this.missing.get(ip);
    if (!m || m.ifname !== ifname)
      this.missing.set(ip, { since: now, failures: error ? 1 : 0, error, ifname });
    else if (error !== undefined) {
      m.failures++;
      m.error = error;
    }
  }

  /** Retries after failures with backoff (100 ms doubling to 1 s); a clean pass resets it. */
  private scheduleRetry(needed: boolean): void {
    if (!needed) {
      this.retryDelay = 0;
      return;
    }
    if (this.retryTimer || this.stopped) return;
    this.retryDelay = Math.min(
      this.retryMaxMs,
      this.retryDelay === 0 ? this.retryMinMs : this.retryDelay * 2,
    );
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      void this.apply();
    }, this.retryDelay);
    this.retryTimer.unref();
  }

  private report(result: ApplyResult): void {
    try {
      this.listener(result);
    } catch {
      // A listener's bug must not stop the applier.
    }
  }
}
