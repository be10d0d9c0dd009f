// Per-VIP interface choice kept current as links and addresses change. A link going down, losing carrier
// or losing the subnet changes the affected VIPs' eligibility in the same tick as the netlink event, and
// listeners hear about every VIP whose choice changed.
import { chooseInterfaceIn, interfaceContext, type InterfaceChoice } from "./interface-choice";
import { sameList } from "../plan/compare";
import { VIPD_ADDRESS_PROTO } from "./links";
import type { NetlinkWatch } from "./netlink-watch";

export interface EligibilityChange {
  readonly ip: string;
  readonly choice: InterfaceChoice;
  readonly previous: InterfaceChoice | undefined;
}

export type EligibilityListener = (changes: readonly EligibilityChange[]) => void;

export class EligibilityTracker {
  private vips: ReadonlyMap<string, readonly string[]> = new Map();
  private readonly choices = new Map<string, InterfaceChoice>();
  private readonly listeners = new Set<EligibilityListener>();
  private readonly unsubscribe: () => void;

  constructor(private readonly watch: NetlinkWatch) {
    this.unsubscribe = watch.onChange((change) => {
      // vipd's own VIP addresses never change eligibility (chooseInterface ignores them).
      if (change.kind === "address" && change.address.proto === VIPD_ADDRESS_PROTO) return;
      this.recompute();
    });
  }

  /**
   * The VIPs to track, each with the advertised interface list that applies on this node ([] = by subnet).
   * The tracker keeps `vips` itself (no copy: 10,000 entries per reload): the caller must not change it.
   */
  setVips(
    vips: ReadonlyMap<string, readonly string[]>,
    /**
     * When the caller knows it: the VIPs `vips` adds to, and removes from, the map set before (every other
     * entry the same list), so a reload's one new VIP is not found by comparing 10,000.
     */
    edit?: { readonly added: readonly string[]; readonly removed: readonly string[] },
  ): void {
    if (edit !== undefined) {
      this.vips = vips;
      for (const ip of edit.removed) this.choices.delete(ip);
      const added: Array<[string, readonly string[]]> = [];
      for (const ip of edit.added) added.push([ip, vips.get(ip) ?? []]);
      if (added.length > 0) this.recompute(added);
      return;
    }
    const before = this.vips;
    this.vips = vips;
    for (const ip of this.choices.keys()) if (!vips.has(ip)) this.choices.delete(ip);
    // Links and addresses have not changed since the last computation (a change recomputes everything), so
    // only VIPs that are new or follow other advertised interfaces need a choice: a reload that adds one
    // service to thousands computes one.
    const changed: Array<[string, readonly string[]]> = [];
    for (const [ip, advertised] of this.vips) {
      const previous = before.get(ip);
      if (!previous || !this.choices.has(ip) || !sameList(previous, advertised))
        changed.push([ip, advertised]);
    }
    if (changed.length > 0) this.recompute(changed);
  }

  choice(ip: string): InterfaceChoice | undefined {
    return this.choices.get(ip);
  }

  /**
   * The choice `ip` would get with `advertised`, from the links as they are now, without tracking it: a
   * reload's new VIP is probed before the tracker takes the new config's 10,000 VIPs (setVips).
   */
  preview(ip: string, advertised: readonly string[]): InterfaceChoice {
    const { links, addresses } = this.watch.snapshot();
    return this.choices.get(ip) ?? chooseInterfaceIn(interfaceContext(links, addresses), ip, advertised);
  }

  onChange(listener: EligibilityListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  close(): void {
    this.unsubscribe();
    this.listeners.clear();
  }

  private recompute(vips: Iterable<[string, readonly string[]]> = this.vips): void {
    const { links, addresses } = this.watch.snapshot();
    const context = interfaceContext(links, addresses);
    const changes: EligibilityChange[] = [];
    for (const [ip, advertised] of vips) {
      const choice = chooseInterfaceIn(context, ip, advertised);
      const previous = this.choices.get(ip);
      if (!previous || !sameChoice(previous, choice)) {
        this.choices.set(ip, choice);
        changes.push({ ip, choice, previous });
      }
    }
    if (changes.length === 0) return;
    for (const listener of this.listeners) listener(changes);
  }
}

function sameChoice(a: InterfaceChoice, b: InterfaceChoice): boolean {
  if (a.eligible && b.eligible) return a.interfaces.join(",") === b.interfaces.join(",");
  if (!a.eligible && !b.eligible) return a.reason === b.reason;
  return false;
}
