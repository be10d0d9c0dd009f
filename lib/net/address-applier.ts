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

/** Delay before retrying a pass that had failures (missing interface, kernel error). */
const RETRY_MS = 1000;

export class AddressApplier {
  private wantedSet = new Map<string, string>();
  private readonly externallyRemoved = new Set<string>();
  /**
   * Our own changes the watch has not reported yet ("ip|index"). Acknowledgements and notifications come on
   * different sockets, so a pass can start before the watch has seen the previous pass's work; without this
   * it would redo it. Any later notification for the same address supersedes the entry.
   */
  private readonly unconfirmedAdds = new Set<string>();
  private readonly unconfirmedRemoves = new Set<string>();
  private running: Promise<void> | undefined;
  private again = false;
  private retryTimer: NodeJS.Timeout | undefined;
  private soon: NodeJS.Immediate | undefined;
  private readonly unsubscribe: () => void;
  private stopped = false;

  constructor(
    private readonly watch: NetlinkWatch,
    private readonly addresses: VipAddresses,
    private readonly listener: ApplyListener = () => {},
  ) {
    this.unsubscribe = watch.onChange((change) => this.onChange(change));
  }

  /**
   * Replaces the wanted set (ip -> interface name) and applies it. The first call doubles as the start-up
   * cleanup: marked addresses not in `wanted` are stale and go.
   */
  setWanted(wanted: ReadonlyMap<string, string>): Promise<void> {
    // The daemon calls this every tick with an unchanged set: keeping the copy we hold, instead of a new
    // 10,000-entry map each time, keeps it out of the old generation.
    if (!sameEntries(this.wantedSet, wanted)) this.wantedSet = new Map(wanted);
    return this.apply();
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
    if (this.retryTimer) clearTimeout(this.retryTimer);
    if (this.soon) clearImmediate(this.soon);
  }

  private onChange(change: NetChange): void {
    if (this.stopped) return;
    if (change.kind === "address") {
      const a = change.address;
      if (a.proto !== this.addresses.proto) return;
      this.unconfirmedAdds.delete(`${a.ip}|${a.index}`);
      this.unconfirmedRemoves.delete(`${a.ip}|${a.index}`);
      if (change.change === "del" && this.watch.link(this.wantedSet.get(a.ip) ?? "")?.index === a.index) {
        this.externallyRemoved.add(a.ip);
      }
      // Our own adds and removes come back here too; a pass then finds nothing to do.
      this.applySoon();
    } else if (change.change === "del") {
      for (const set of [this.unconfirmedAdds, this.unconfirmedRemoves]) {
        for (const key of set) if (key.endsWith(`|${change.link.index}`)) set.delete(key);
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

  private async pass(): Promise<void> {
    const { addresses } = this.watch.snapshot();
    const marked = new Map<string, number[]>();
    const foreign = new Set<string>();
    for (const a of addresses) {
      const key = `${a.ip}|${a.index}`;
      if (a.proto !== this.addresses.proto) foreign.add(key);
      else if (!this.unconfirmedRemoves.has(key)) marked.set(a.ip, [...(marked.get(a.ip) ?? []), a.index]);
    }
    for (const key of this.unconfirmedAdds) {
      const [ip, index] = key.split("|");
      const list = marked.get(ip) ?? [];
      if (!list.includes(Number(index))) marked.set(ip, [...list, Number(index)]);
    }

    const failed: Array<{ ip: string; ifname: string; error: string }> = [];
    const toAdd: VipPlacement[] = [];
    const toRemove: VipPlacement[] = [];
    const wantedIndex = new Map<string, number>();
    for (const [ip, ifname] of this.wantedSet) {
      const link = this.watch.link(ifname);
      if (!link) {
        failed.push({ ip, ifname, error: `interface ${ifname} does not exist` });
        continue;
      }
      wantedIndex.set(ip, link.index);
      const present = (marked.get(ip) ?? []).includes(link.index);
      // Someone configured the VIP by hand on that link: it is there, and it is not ours to manage.
      if (!present && !foreign.has(`${ip}|${link.index}`)) toAdd.push({ ip, ifindex: link.index });
    }
    for (const [ip, list] of marked) {
      for (const index of list) if (wantedIndex.get(ip) !== index) toRemove.push({ ip, ifindex: index });
    }
    if (toAdd.length === 0 && toRemove.length === 0) {
      this.externallyRemoved.clear();
      if (failed.length > 0) this.report({ added: [], removed: [], failed });
      this.scheduleRetry(failed.length > 0);
      return;
    }

    const nameOf = (index: number): string => this.watch.link(index)?.name ?? `#${index}`;
    const failedOf = (list: PlacementFailure[]) =>
      list.map((f) => ({ ip: f.ip, ifname: nameOf(f.ifindex), error: f.error }));
    // Removals first, so a VIP moving between two links is never on both.
    const removeFailures = await this.addresses.remove(toRemove);
    const removeFailed = new Set(removeFailures.map((f) => `${f.ip}|${f.ifindex}`));
    const removed = toRemove.filter((p) => !removeFailed.has(`${p.ip}|${p.ifindex}`));
    for (const p of toRemove) {
      const key = `${p.ip}|${p.ifindex}`;
      this.unconfirmedAdds.delete(key);
      if (!removeFailed.has(key)) this.unconfirmedRemoves.add(key);
    }
    if (removed.length > 0)
      this.report({
        added: [],
        removed: removed.map((p) => ({ ip: p.ip, ifname: nameOf(p.ifindex) })),
        failed: [],
      });
    const addFailures = await this.addresses.add(toAdd, (p) => {
      const key = `${p.ip}|${p.ifindex}`;
      this.unconfirmedRemoves.delete(key);
      this.unconfirmedAdds.add(key);
      const repaired = this.externallyRemoved.delete(p.ip);
      this.report({ added: [{ ip: p.ip, ifname: nameOf(p.ifindex), repaired }], removed: [], failed: [] });
    });
    for (const p of addFailures) this.unconfirmedRemoves.delete(`${p.ip}|${p.ifindex}`);
    const allFailed = [...failed, ...failedOf(removeFailures), ...failedOf(addFailures)];
    if (allFailed.length > 0) this.report({ added: [], removed: [], failed: allFailed });
    this.scheduleRetry(allFailed.length > 0);
  }

  private scheduleRetry(needed: boolean): void {
    if (!needed || this.retryTimer || this.stopped) return;
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      void this.apply();
    }, RETRY_MS);
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
