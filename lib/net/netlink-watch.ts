// Live view of this namespace's links and addresses: one dump at start, then rtnetlink multicast
// notifications (RTNLGRP_LINK, IPV4_IFADDR, IPV6_IFADDR), so changes arrive within milliseconds with no
// polling. If the kernel drops notifications (a burst beyond the receive buffer), the view is rebuilt from a
// fresh dump and the differences are emitted as ordinary events. Drops are read from the socket's counter,
// not from an ENOBUFS error: that error aborted the process (lib/net/netlink-socket-control.ts).
import type { AnnounceInterface } from "./announcer";
// netlink's route family only, by path: its index also loads the nl80211 and WireGuard families, whose
// generated structs were ~40 % of its load time and would double its share of the daemon's bundle.
import { createRtNetlink, type RtNetlinkSocket } from "netlink/dist/rt/rt";
import * as rt from "netlink/dist/rt/structs";
import type { NetlinkMessage } from "netlink/dist/structs";
import { NETLINK_ROUTE } from "./libc";
import { controlNetlinkSocket, type NetlinkSocketControl } from "./netlink-socket-control";
import type { AddressInfo, LinkInfo } from "./links";
import {
  addressFromPayload,
  addressKey,
  DUMP_TIMEOUT_MS,
  dumpAddresses,
  linkFromMessage,
} from "./rtnl-convert";
import { RTM_DELADDR, RTM_NEWADDR } from "./address-batch";

const RTM_NEWLINK = 16;
const RTM_DELLINK = 17;
/** Large enough for the notifications of thousands of address changes at once. */
export const EVENT_BUFFER_BYTES = 8 * 1024 * 1024;
/** Room for dump replies (address requests go through VipAddresses' own socket). */
const REQUEST_BUFFER_BYTES = 4 * 1024 * 1024;
const RESYNC_RETRY_MS = 1000;

export interface WatchOptions {
  /** Receive buffer of the notification socket (tests make it small to force drops). */
  readonly eventBufferBytes?: number;
}

export type NetChange =
  | {
      readonly kind: "link";
      readonly change: "new" | "del";
      readonly link: LinkInfo;
      readonly previous?: LinkInfo;
    }
  | { readonly kind: "address"; readonly change: "new" | "del"; readonly address: AddressInfo };

export interface NetSnapshot {
  readonly links: readonly LinkInfo[];
  readonly addresses: readonly AddressInfo[];
}

export type ChangeListener = (change: NetChange) => void;

export class NetlinkWatch {
  private readonly links = new Map<number, LinkInfo>();
  private readonly addresses = new Map<string, AddressInfo>();
  /**
   * The host addresses (/32, /128) of `addresses` again, by link index and then IP: the applier looks up every
   * wanted VIP per pass, and a lookup by `addressKey` built a string each time (~180 ms of a 10,000-VIP
   * takeover's main thread, profiled).
   */
  private readonly hostAddresses = new Map<number, Map<string, AddressInfo>>();
  private readonly listeners = new Set<ChangeListener>();
  /** linkLocal() answers by link index; an entry goes whenever a link-local address of that link changes. */
  private readonly linkLocals = new Map<number, string | undefined>();
  private pending: NetlinkMessage[] | undefined = [];
  private resyncing = false;
  /** Drops seen while a resync was under way: its dump may predate them, so another one follows. */
  private resyncAgain = false;
  private closed = false;
  private dropsSeen = 0;
  private dropCheck: NodeJS.Immediate | undefined;
  private retryTimer: NodeJS.Timeout | undefined;
  /** Times the view was rebuilt after lost notifications. */
  resyncs = 0;

  private constructor(
    private readonly requests: RtNetlinkSocket,
    private readonly events: RtNetlinkSocket,
    private readonly eventControl: NetlinkSocketControl,
  ) {}

  static async start(options: WatchOptions = {}): Promise<NetlinkWatch> {
    const eventBufferBytes = options.eventBufferBytes ?? EVENT_BUFFER_BYTES;
    const events = createRtNetlink({ ref: false, recvBufferSize: eventBufferBytes, sendBufferSize: 0 });
    const requests = createRtNetlink({ ref: false, recvBufferSize: REQUEST_BUFFER_BYTES, sendBufferSize: 0 });
    let watch: NetlinkWatch | undefined;
    try {
      // Beyond net.core.rmem_max where allowed (a smaller buffer only means more resyncs), and no ENOBUFS
      // error on either socket: the package's native poll handler aborts the process on one.
      const eventControl = controlNetlinkSocket(
        events.socket.address().port,
        NETLINK_ROUTE,
        eventBufferBytes,
      );
      controlNetlinkSocket(requests.socket.address().port, NETLINK_ROUTE, REQUEST_BUFFER_BYTES);
      watch = new NetlinkWatch(requests, events, eventControl);
    } catch (error) {
      events.socket.close();
      requests.socket.close();
      throw error;
    }
    try {
      events.socket.on("message", (messages) => watch.onMessages(messages));
      events.socket.on("error", (error) => watch.onSocketError(error));
      // An 'error' without a listener throws inside the package's native callback, which aborts.
      requests.socket.on("error", () => {});
      // Subscribe before dumping so nothing between the dump and the subscription is lost; notifications
      // that arrive during the dump are replayed after it, in order, which converges on the latest state.
      for (const group of ["LINK", "IPV4_IFADDR", "IPV6_IFADDR"] as const) events.addMembership(group);
      await watch.load();
      const queued = watch.pending ?? [];
      watch.pending = undefined;
      watch.receive(queued);
      events.socket.ref();
    } catch (error) {
      watch.close();
      throw error;
    }
    return watch;
  }

  onChange(listener: ChangeListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  snapshot(): NetSnapshot {
    return { links: [...this.links.values()], addresses: [...this.addresses.values()] };
  }

  link(nameOrIndex: string | number): LinkInfo | undefined {
    if (typeof nameOrIndex === "number") return this.links.get(nameOrIndex);
    for (const link of this.links.values()) if (link.name === nameOrIndex) return link;
    return undefined;
  }

  /** The links named (those that exist), as the announcer sends on them: MAC and IPv6 link-local source. */
  announceInterfaces(names: readonly string[]): AnnounceInterface[] {
    return names.flatMap((name) => {
      const link = this.link(name);
      return link
        ? [{ name: link.name, index: link.index, mac: link.mac, linkLocal: this.linkLocal(link.index) }]
        : [];
    });
  }

  /** Whether the view holds `ip` as a host address (/32, /128) on link `index`. */
  hasAddress(ip: string, index: number): boolean {
    return this.address(ip, index) !== undefined;
  }

  /** The host address (/32, /128) `ip` on link `index` in the view, if it holds one. */
  address(ip: string, index: number): AddressInfo | undefined {
    return this.hostAddresses.get(index)?.get(ip);
  }

  /**
   * Every address in the view, without the copy snapshot() makes (10,000 entries at scale, per applier
   * pass). Not to be held across a turn of the loop: the view changes under it.
   */
  eachAddress(): IterableIterator<AddressInfo> {
    return this.addresses.values();
  }

  /**
   * Compares the view with a fresh kernel dump and emits every difference as an ordinary event: the safety
   * net for notifications lost without an ENOBUFS (or while nobody listened). Resolves once compared.
   */
  async refresh(): Promise<boolean> {
    if (this.closed) return false;
    return this.resync(false);
  }

  /**
   * A dump is being read and notifications wait for it (they are late, not lost): our own changes may be
   * missing from the view meanwhile.
   */
  get holdsNotifications(): boolean {
    return this.resyncing;
  }

  addressesOf(index: number): AddressInfo[] {
    return [...this.addresses.values()].filter((a) => a.index === index);
  }

  /** A usable IPv6 link-local address of the link (the source of its NAs), if it has one. */
  linkLocal(index: number): string | undefined {
    if (this.linkLocals.has(index)) return this.linkLocals.get(index);
    let found: string | undefined;
    for (const a of this.addresses.values()) {
      if (a.index === index && isLinkLocal(a) && !a.tentative && !a.dadfailed) {
        found = a.ip;
        break;
      }
    }
    this.linkLocals.set(index, found);
    return found;
  }

  /**
   * The request socket (dumps), shared with VipAddresses for its listMarked dump; its adds and removals go
   * in batches through a socket of its own (lib/net/netlink-channel.ts).
   */
  get requestSocket(): RtNetlinkSocket {
    return this.requests;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.dropCheck) clearImmediate(this.dropCheck);
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.listeners.clear();
    this.events.socket.close();
    this.requests.socket.close();
  }

  private async load(): Promise<void> {
    const links = await this.requests.getLinks(undefined, undefined, { timeout: DUMP_TIMEOUT_MS });
    const addresses = await dumpAddresses(this.requests);
    this.links.clear();
    this.addresses.clear();
    this.hostAddresses.clear();
    this.linkLocals.clear();
    for (const m of links) {
      const link = linkFromMessage(m.data, m.attrs);
      if (link) this.links.set(link.index, link);
    }
    for (const address of addresses) this.put(address);
  }

  private put(address: AddressInfo): void {
    this.addresses.set(addressKey(address), address);
    if (!isHostAddress(address)) return;
    let byIp = this.hostAddresses.get(address.index);
    if (!byIp) this.hostAddresses.set(address.index, (byIp = new Map()));
    byIp.set(address.ip, address);
  }

  private drop(address: AddressInfo): void {
    this.addresses.delete(addressKey(address));
    if (isHostAddress(address)) this.hostAddresses.get(address.index)?.delete(address.ip);
  }

  private onMessages(messages: NetlinkMessage[]): void {
    this.receive(messages);
    // Once per loop turn that brought notifications: a drop means the queue was full, so notifications
    // were waiting and this runs after it.
    this.dropCheck ??= setImmediate(() => this.checkDrops());
  }

  private checkDrops(): void {
    this.dropCheck = undefined;
    if (this.closed) return;
    const drops = this.eventControl.drops();
    if (drops === this.dropsSeen) return;
    this.dropsSeen = drops;
    this.resyncAfterLoss();
  }

  private receive(messages: NetlinkMessage[]): void {
    if (this.pending) {
      this.pending.push(...messages);
      return;
    }
    for (const message of messages) {
      try {
        this.apply(message);
      } catch {
        // A message this library cannot parse is not worth losing the watch over.
      }
    }
  }

  private apply(message: NetlinkMessage): void {
    switch (message.type) {
      case RTM_NEWLINK:
      case RTM_DELLINK: {
        const parsed = rt.parseLinkMessage(message.data);
        const link = linkFromMessage(parsed.data, parsed.attrs);
        if (!link) return;
        const previous = this.links.get(link.index);
        if (message.type === RTM_NEWLINK) {
          this.links.set(link.index, link);
          this.emit({ kind: "link", change: "new", link, previous });
        } else {
          this.links.delete(link.index);
          this.linkLocals.delete(link.index);
          for (const [key, a] of this.addresses) if (a.index === link.index) this.addresses.delete(key);
          this.hostAddresses.delete(link.index);
          this.emit({ kind: "link", change: "del", link, previous });
        }
        return;
      }
      case RTM_NEWADDR:
      case RTM_DELADDR: {
        const address = addressFromPayload(message.data);
        if (!address) return;
        if (message.type === RTM_NEWADDR) this.put(address);
        else this.drop(address);
        if (isLinkLocal(address)) this.linkLocals.delete(address.index);
        this.emit({ kind: "address", change: message.type === RTM_NEWADDR ? "new" : "del", address });
        return;
      }
    }
  }

  private emit(change: NetChange): void {
    for (const listener of this.listeners) listener(change);
  }

  private onSocketError(error: Error & { code?: string }): void {
    if (this.closed) return;
    if (error.code === "ENOBUFS") this.resyncAfterLoss();
  }

  /**
   * A resync whose dump fails (a timeout on a loaded host) is tried again a second later: the loss is known,
   * and a rejection nobody handles would end the process.
   */
  private resyncAfterLoss(): void {
    this.resync().catch(() => {
      if (this.closed || this.retryTimer) return;
      this.retryTimer = setTimeout(() => {
        this.retryTimer = undefined;
        if (!this.closed) this.resyncAfterLoss();
      }, RESYNC_RETRY_MS);
      this.retryTimer.unref();
    });
  }

  /**
   * Rebuilds the view after lost notifications and emits what changed meanwhile. Resolves true once a dump
   * that started after the call was compared; false when one already under way made this one unnecessary.
   */
  private async resync(afterLoss = true): Promise<boolean> {
    if (this.resyncing) {
      if (afterLoss) this.resyncAgain = true;
      return false;
    }
    this.resyncing = true;
    if (afterLoss) this.resyncs++;
    try {
      const oldLinks = new Map(this.links);
      const oldAddresses = new Map(this.addresses);
      // What is still queued predates the dump below; replayed after it, a queued RTM_NEWADDR whose
      // RTM_DELADDR was lost would put a removed address back into the view.
      if (afterLoss) this.eventControl.discardQueued();
      this.pending = [];
      await this.load();
      for (const [index, link] of oldLinks) {
        if (!this.links.has(index)) this.emit({ kind: "link", change: "del", link, previous: link });
      }
      for (const [index, link] of this.links) {
        const previous = oldLinks.get(index);
        if (!previous || JSON.stringify(previous) !== JSON.stringify(link))
          this.emit({ kind: "link", change: "new", link, previous });
      }
      for (const [key, address] of oldAddresses)
        if (!this.addresses.has(key)) this.emit({ kind: "address", change: "del", address });
      for (const [key, address] of this.addresses)
        if (!oldAddresses.has(key)) this.emit({ kind: "address", change: "new", address });
      return true;
    } finally {
      const queued = this.pending ?? [];
      this.pending = undefined;
      this.resyncing = false;
      this.receive(queued);
      if (this.resyncAgain && !this.closed) {
        this.resyncAgain = false;
        this.resyncAfterLoss();
      }
    }
  }
}

const isHostAddress = (address: AddressInfo): boolean =>
  address.prefixlen === (address.family === 6 ? 128 : 32);

/** fe80::/10. */
function isLinkLocal(address: AddressInfo): boolean {
  return address.family === 6 && /^fe[89ab][0-9a-f]:/i.test(address.ip);
}
