// Address requests to the kernel in batches: many RTM_NEWADDR / RTM_DELADDR messages in one datagram, the
// way `ip -batch` gets its speed but without its one-at-a-time round trips. The kernel handles every message
// of a datagram inside the one sendmsg call and queues one acknowledgement per message, so a batch costs the
// kernel's own work plus one system call, and its acknowledgements are read right after it.
//
// Why not the netlink package's request(): one request per datagram, each acknowledgement a separate
// JavaScript callback, promise and timer, and the next requests wait for the event loop to come round. At
// 10,000 VIPs that made adding 1,700 addresses take seconds where `ip -batch` takes ~0.1-0.5 s (issue 14).
//
// The batch size adapts to the kernel's speed: adds get slower as an interface gathers addresses (IPv6
// notably), and one sendmsg blocks the main thread for the whole batch. Each batch is sized so that it takes
// about TARGET_BATCH_MS, and the event loop gets a turn between batches (announcements, ARP, metrics). A
// batch goes out as datagrams of about DATAGRAM_MS each, back to back: a kernel without preemption holds the
// core for a whole datagram, and the gossip thread must not wait that long. Acknowledgements are handed over
// per batch, as each batch is confirmed: the announcement of the first VIPs of a takeover never waits for the
// last.
import { constants as osConstants } from "node:os";
import { errnoName } from "./libc";
import { AF_INET, AF_INET6, IFA_ADDRESS, IFA_F_NODAD, IFA_FLAGS, IFA_LOCAL, IFA_PROTO } from "./rtnl-convert";
import { ipToBytes } from "./wire";

/** The kernel side of the batches: one netlink socket (NETLINK_ROUTE). An edge, faked in unit tests. */
export interface NetlinkChannel {
  /**
   * Sends one datagram of requests. The kernel handles them before this returns. Returns 0, or the errno
   * when nothing was sent (EAGAIN/ENOBUFS: try again later).
   */
  send(datagram: Buffer): number;
  /**
   * The next datagram the kernel queued for this socket, without blocking; undefined when none is waiting.
   * The buffer may be reused by the next call. A number is an errno (ENOBUFS: some were dropped).
   */
  receive(): Buffer | number | undefined;
  close(): void;
}

export type AddressRequestKind = "add" | "remove";

export interface AddressRequest {
  readonly ip: string;
  readonly ifindex: number;
}

export interface AddressOutcome<P extends AddressRequest> {
  readonly placement: P;
  /** undefined: done (an add of an address already there and a removal of one already gone count as done). */
  readonly error?: string;
}

const NLMSG_HDRLEN = 16;
const IFADDRMSG_LENGTH = 8;
const NLMSG_ERROR = 2;
const NLMSG_DONE = 3;
export const RTM_NEWADDR = 20;
export const RTM_DELADDR = 21;
const NLM_F_REQUEST = 0x1;
const NLM_F_ACK = 0x4;
const NLM_F_EXCL = 0x200;
const NLM_F_CREATE = 0x400;
/** No prefix route for the address (its /128 in the main table): a host address needs only its local route. */
const IFA_F_NOPREFIXROUTE = 0x200;
/** Flags of an IPv6 VIP add (IFA_FLAGS is 32 bits; the ifaddrmsg's own 8-bit field carries the low byte). */
const IPV6_ADD_FLAGS = IFA_F_NODAD | IFA_F_NOPREFIXROUTE;

/**
 * Upper bound of messages per datagram: their acknowledgements must fit the socket's receive buffer (4 MB
 * asked, netlink-channel.ts; each 36-byte acknowledgement is its own skb of ~1 KB there).
 */
export const MAX_BATCH = 512;
/** The first batch of a run, before the kernel's speed is known. */
export const FIRST_BATCH = 32;
/**
 * Main-thread time one batch may take in the kernel. Every batch is followed by a loop turn that runs
 * whatever else is queued (at 10,000 VIPs, record decodes and steps of 50-250 ms each), so fewer, larger
 * batches finish a takeover sooner: at 10 ms, IPv6 adds on an interface holding 10,000 addresses (~1 ms
 * each) went out 9 per batch. Membership runs on its own thread, so 40 ms here delays nothing urgent.
 */
export const TARGET_BATCH_MS = 40;
/**
 * Kernel time of one datagram. A batch goes out as datagrams of about this much each, back to back in the
 * same loop turn, each one's acknowledgements read before the next is sent. Why: on a kernel without
 * preemption (PREEMPT_NONE, as in the lab) sendmsg holds its core until the kernel is done with the whole
 * datagram, and returning to user space between two is where a waiting thread gets the core. perf sched of a
 * 10,000-IPv6 start-up (one datagram per batch): the daemons' main threads ran up to 92 ms at a stretch and
 * the real-time gossip threads waited up to 79 ms for a core (57 waits over 20 ms in 12 s); members were
 * suspected, and in 2 of 7 runs declared dead while alive. Smaller batches instead (10 ms) cut the waits to 24
 * ms but cost a loop turn each: start-up 59-70 s against 41 s, the takeover 35 s against 30 s. The split cut
 * the longest wait to 35-45 ms; its own price there, a 10,000-IPv6 takeover ~25 % slower (docs/design.md,
 * "Cost per VIP: round 24"). Datagrams of 20 ms gave the gossip threads longer waits again (p99 17-18 ms
 * against 10-14) and no faster takeover ("Cost per VIP: round 25").
 */
export const DATAGRAM_MS = 10;
/**
 * Batches whose cost per request sizes the next: the cheapest of them counts. A batch's wall time includes
 * any time the thread was preempted (2 cores shared by a whole lab), and one such batch shrank the next
 * ones to a few requests each, every one followed by a loop turn of other work (issue 14's crash trace).
 */
export const COST_WINDOW = 3;
/** A datagram refused for lack of room (EAGAIN, ENOBUFS) is retried this many times, one loop turn apart. */
const SEND_RETRIES = 20;

/** The longest request: an IPv6 add (header, ifaddrmsg, IFA_LOCAL, IFA_ADDRESS, IFA_PROTO, IFA_FLAGS). */
export const MAX_REQUEST_BYTES = NLMSG_HDRLEN + IFADDRMSG_LENGTH + 2 * (4 + 16) + 8 + 8;

/** Writes one attribute at `at` (padded to 4 bytes); returns where the next one starts. */
function writeAttribute(
  target: Buffer,
  at: number,
  type: number,
  data: Buffer | number,
  length: number,
): number {
  target.writeUInt16LE(4 + length, at);
  target.writeUInt16LE(type, at + 2);
  if (typeof data === "number") {
    if (length === 1) target.writeUInt8(data, at + 4);
    else target.writeUInt32LE(data, at + 4);
  } else data.copy(target, at + 4);
  const end = at + 4 + length;
  const padded = (end + 3) & ~3;
  target.fill(0, end, padded);
  return padded;
}

/**
 * Writes one RTM_NEWADDR (create, exclusive) or RTM_DELADDR request for a host address (/32, /128),
 * acknowledged, into `target` at `at` (room: MAX_REQUEST_BYTES); returns where the next request starts.
 * Added addresses carry IFA_PROTO = `proto`; IPv6 ones IFA_F_NODAD (a failover overlap with the old owner
 * must not leave them `dadfailed`; keepalived adds VIPs the same way) and IFA_F_NOPREFIXROUTE: without it the
 * kernel adds a /128 route per VIP to the main table, and each removal walks every address of the interface
 * to see whether another one still needs that route (3,400 removals: 1.16 s plain, 0.70 s without it).
 * Throws for a text that is no IP.
 */
export function writeAddressRequest(
  target: Buffer,
  at: number,
  kind: AddressRequestKind,
  placement: AddressRequest,
  seq: number,
  proto: number,
): number {
  const v6 = placement.ip.includes(":");
  const bytes = ipToBytes(placement.ip, v6 ? 6 : 4);
  const add = kind === "add";
  let end = at + NLMSG_HDRLEN;
  target.writeUInt8(v6 ? AF_INET6 : AF_INET, end);
  target.writeUInt8(v6 ? 128 : 32, end + 1);
  target.writeUInt8(add && v6 ? IPV6_ADD_FLAGS & 0xff : 0, end + 2);
  target.writeUInt8(0, end + 3); // scope: universe
  target.writeUInt32LE(placement.ifindex, end + 4);
  end += IFADDRMSG_LENGTH;
  end = writeAttribute(target, end, IFA_LOCAL, bytes, bytes.length);
  end = writeAttribute(target, end, IFA_ADDRESS, bytes, bytes.length);
  if (add) {
    end = writeAttribute(target, end, IFA_PROTO, proto, 1);
    if (v6) end = writeAttribute(target, end, IFA_FLAGS, IPV6_ADD_FLAGS, 4);
  }
  target.writeUInt32LE(end - at, at);
  target.writeUInt16LE(add ? RTM_NEWADDR : RTM_DELADDR, at + 4);
  target.writeUInt16LE(NLM_F_REQUEST | NLM_F_ACK | (add ? NLM_F_CREATE | NLM_F_EXCL : 0), at + 6);
  target.writeUInt32LE(seq >>> 0, at + 8);
  target.writeUInt32LE(0, at + 12); // port: the kernel fills in ours
  return end;
}

/** One request in a buffer of its own (see writeAddressRequest). */
export function encodeAddressRequest(
  kind: AddressRequestKind,
  placement: AddressRequest,
  seq: number,
  proto: number,
): Buffer {
  const target = Buffer.alloc(MAX_REQUEST_BYTES);
  return target.subarray(0, writeAddressRequest(target, 0, kind, placement, seq, proto));
}

export interface Ack {
  readonly seq: number;
  /** 0 for success, else the (positive) errno. */
  readonly errno: number;
}

/** The acknowledgements (NLMSG_ERROR messages) in one received datagram; anything else is skipped. */
export function parseAcks(datagram: Buffer): Ack[] {
  const out: Ack[] = [];
  for (let at = 0; at + NLMSG_HDRLEN <= datagram.length;) {
    const length = datagram.readUInt32LE(at);
    if (length < NLMSG_HDRLEN || at + length > datagram.length) break;
    const type = datagram.readUInt16LE(at + 4);
    const seq = datagram.readUInt32LE(at + 8);
    if (type === NLMSG_ERROR && length >= NLMSG_HDRLEN + 4)
      out.push({ seq, errno: 0 - datagram.readInt32LE(at + NLMSG_HDRLEN) });
    if (type === NLMSG_DONE) break;
    at += (length + 3) & ~3;
  }
  return out;
}

/**
 * The size of the next batch, from how long the last one took: about `targetMs` of kernel time, at most
 * twice the last (one fast batch says little), between 1 and MAX_BATCH.
 */
export function nextBatchSize(lastSize: number, lastMs: number, targetMs = TARGET_BATCH_MS): number {
  const perRequest = Math.max(lastMs, 0.001) / Math.max(lastSize, 1);
  const fit = Math.floor(targetMs / perRequest);
  return Math.max(1, Math.min(MAX_BATCH, 2 * Math.max(lastSize, 1), fit));
}

/** Errors that mean the wanted state already holds. */
const DONE_ERRORS: Record<AddressRequestKind, ReadonlySet<string>> = {
  add: new Set(["EEXIST"]),
  remove: new Set(["EADDRNOTAVAIL", "ENODEV", "ESRCH"]),
};

export interface BatcherOptions {
  readonly proto: number;
  /** Clock for sizing batches, in ms (performance.now() by default; the daemon uses its thread CPU time). */
  readonly now?: () => number;
  /** Lets the event loop run between batches (setImmediate by default). */
  readonly yieldTurn?: () => Promise<void>;
  readonly targetMs?: number;
  /** Kernel time of one datagram of a batch (DATAGRAM_MS by default). */
  readonly datagramMs?: number;
}

/**
 * Runs address requests through a NetlinkChannel in adaptive batches, one run at a time (a second run waits
 * for the first, so the order of adds and removals is kept).
 */
export class AddressBatcher {
  private seq = 1;
  private batchSize = FIRST_BATCH;
  /** Milliseconds per request of the last COST_WINDOW batches. */
  private readonly recentCosts: number[] = [];
  private queue: Promise<unknown> = Promise.resolve();
  /** Reused for every batch (runs never overlap). */
  private datagramRoom = Buffer.alloc(0);
  private readonly now: () => number;
  private readonly yieldTurn: () => Promise<void>;
  private readonly targetMs: number;
  private readonly datagramMs: number;

  constructor(
    private readonly channel: NetlinkChannel,
    private readonly options: BatcherOptions,
  ) {
    this.now = options.now ?? (() => performance.now());
    this.yieldTurn = options.yieldTurn ?? (() => new Promise((resolve) => setImmediate(resolve)));
    this.targetMs = options.targetMs ?? TARGET_BATCH_MS;
    this.datagramMs = options.datagramMs ?? DATAGRAM_MS;
  }

  /**
   * Requests `kind` for every placement. `onBatch` hears each batch's outcomes as soon as the kernel
   * confirmed it. Resolves with every outcome, in placement order.
   */
  run<P extends AddressRequest>(
    kind: AddressRequestKind,
    placements: readonly P[],
    onBatch?: (outcomes: ReadonlyArray<AddressOutcome<P>>) => void,
  ): Promise<Array<AddressOutcome<P>>> {
    const result = this.queue.then(() => this.runNow(kind, placements, onBatch));
    this.queue = result.catch(() => undefined);
    return result;
  }

  private async runNow<P extends AddressRequest>(
    kind: AddressRequestKind,
    placements: readonly P[],
    onBatch?: (outcomes: ReadonlyArray<AddressOutcome<P>>) => void,
  ): Promise<Array<AddressOutcome<P>>> {
    const all: Array<AddressOutcome<P>> = [];
    for (let next = 0; next < placements.length;) {
      if (next > 0) await this.yieldTurn();
      const batch = placements.slice(next, next + this.batchSize);
      next += batch.length;
      const started = this.now();
      const outcomes = await this.exchange(kind, batch);
      this.batchSize = this.sizeAfter(batch.length, this.now() - started);
      all.push(...outcomes);
      onBatch?.(outcomes);
    }
    return all;
  }

  /**
   * Sends one batch as datagrams of about `datagramMs` each (requestsPerDatagram) and collects their
   * acknowledgements. No loop turn between them, unless the socket is full.
   */
  private async exchange<P extends AddressRequest>(
    kind: AddressRequestKind,
    batch: readonly P[],
  ): Promise<Array<AddressOutcome<P>>> {
    const errors: Array<string | undefined> = new Array<string | undefined>(batch.length);
    const perDatagram = this.requestsPerDatagram();
    for (let from = 0; from < batch.length; from += perDatagram)
      await this.exchangeDatagram(kind, batch, from, Math.min(batch.length, from + perDatagram), errors);
    return batch.map((placement, i) =>
      errors[i] === undefined ? { placement } : { placement, error: errors[i] },
    );
  }

  /** Sends batch[from, to) in one datagram; what failed is written to `errors` (indexed like `batch`). */
  private async exchangeDatagram(
    kind: AddressRequestKind,
    batch: readonly AddressRequest[],
    from: number,
    to: number,
    errors: Array<string | undefined>,
  ): Promise<void> {
    const bySeq = new Map<number, number>();
    const room = (to - from) * MAX_REQUEST_BYTES;
    if (this.datagramRoom.length < room) this.datagramRoom = Buffer.alloc(room);
    let end = 0;
    for (let i = from; i < to; i++) {
      const placement = batch[i];
      if (placement === undefined) continue;
      try {
        const seq = this.nextSeq();
        end = writeAddressRequest(this.datagramRoom, end, kind, placement, seq, this.options.proto);
        bySeq.set(seq, i);
      } catch (error) {
        errors[i] = error instanceof Error ? error.message : String(error);
      }
    }
    if (bySeq.size === 0) return;
    const datagram = this.datagramRoom.subarray(0, end);
    let sendError = this.channel.send(datagram);
    for (let tries = 0; isBusy(sendError) && tries < SEND_RETRIES; tries++) {
      await this.yieldTurn();
      sendError = this.channel.send(datagram);
    }
    if (sendError !== 0) for (const i of bySeq.values()) errors[i] = errnoName(sendError);
    else this.collectAcks(bySeq, errors, kind);
  }

  /** Requests in one datagram: `datagramMs` at the cheapest recent cost per request; all while none is known. */
  private requestsPerDatagram(): number {
    const cost = this.cheapestRecentCost();
    return cost === undefined ? MAX_BATCH : Math.max(1, Math.floor(this.datagramMs / cost));
  }

  /** Milliseconds per request of the cheapest of the last COST_WINDOW batches; undefined before the first. */
  private cheapestRecentCost(): number | undefined {
    return this.recentCosts.length > 0 ? Math.min(...this.recentCosts) : undefined;
  }

  /**
   * The kernel queued every acknowledgement before send returned; they are read until each request has
   * one. One that never comes (dropped for a full receive buffer) is a failure, retried by the caller.
   */
  private collectAcks(
    bySeq: Map<number, number>,
    errors: Array<string | undefined>,
    kind: AddressRequestKind,
  ): void {
    const waiting = new Set(bySeq.keys());
    let lost = false;
    while (waiting.size > 0) {
      const datagram = this.channel.receive();
      if (datagram === undefined) break;
      if (typeof datagram === "number") {
        if (datagram !== osConstants.errno.ENOBUFS) break;
        lost = true;
        continue;
      }
      for (const ack of parseAcks(datagram)) {
        const i = bySeq.get(ack.seq);
        if (i === undefined || !waiting.delete(ack.seq)) continue; // a late one of an earlier batch
        if (ack.errno === 0) continue;
        const name = errnoName(ack.errno);
        if (!DONE_ERRORS[kind].has(name)) errors[i] = name;
      }
    }
    for (const seq of waiting) errors[bySeq.get(seq) ?? 0] = lost ? "ENOBUFS" : "ENOACK";
  }

  /** The next batch's size: nextBatchSize with the cheapest recent cost per request (COST_WINDOW). */
  private sizeAfter(size: number, ms: number): number {
    if (size > 0) this.recentCosts.push(ms / size);
    if (this.recentCosts.length > COST_WINDOW) this.recentCosts.shift();
    const perRequest = this.cheapestRecentCost() ?? ms;
    return nextBatchSize(size, perRequest * size, this.targetMs);
  }

  private nextSeq(): number {
    const seq = this.seq;
    this.seq = this.seq >= 0x7fffffff ? 1 : this.seq + 1;
    return seq;
  }
}

const isBusy = (errno: number): boolean =>
  errno === osConstants.errno.EAGAIN ||
  errno === osConstants.errno.ENOBUFS ||
  errno === osConstants.errno.EINTR;
