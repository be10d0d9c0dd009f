// UDP transport over node:dgram. Thin on purpose: all validation happens in the memberlist receive path.
import dgram from "node:dgram";
import { lookup as dnsLookup } from "node:dns";
import { isIP, isIPv6 } from "node:net";
import { joinHostPort, splitHostPort, type PacketHandler, type Transport } from "./transport";

export interface UdpTransportOptions {
  bindHost: string;
  /** 0 picks a free port (tests). */
  port: number;
  /** Kernel receive buffer: absorbs bursts (push-pull chunks) and short stalls. */
  recvBufferBytes?: number;
}

/** Peer addresses parsed once: a node sends to the same few peers 80 times a second. */
const PARSED_CACHE_MAX = 4096;

/**
 * dgram resolves every send's address through dns.lookup, which for an IP literal still defers to the next
 * tick: one extra tick-queue run per heartbeat. Gossip peers are IP literals, so answer those at once; a
 * name (an operator's advertise setting) still goes to the resolver.
 */
function literalFirstLookup(
  host: string,
  family: number,
  callback: (error: NodeJS.ErrnoException | null, address: string, family: number) => void,
): void {
  const literal = isIP(host);
  if (literal !== 0) callback(null, host, literal);
  else dnsLookup(host, family, callback);
}

export class UdpTransport implements Transport {
  private handler: PacketHandler = () => {};
  private sendErrors = 0;
  private readonly parsed = new Map<string, { host: string; port: number } | undefined>();

  private constructor(
    private readonly socket: dgram.Socket,
    readonly localAddress: string,
  ) {}

  static async listen(opts: UdpTransportOptions): Promise<UdpTransport> {
    const socket = dgram.createSocket({
      type: isIPv6(opts.bindHost) ? "udp6" : "udp4",
      reuseAddr: false,
      lookup: literalFirstLookup as unknown as typeof dnsLookup,
    });
    await new Promise<void>((resolve, reject) => {
      socket.once("error", reject);
      socket.bind(opts.port, opts.bindHost, () => {
        socket.off("error", reject);
        resolve();
      });
    });
    try {
      socket.setRecvBufferSize(opts.recvBufferBytes ?? 4 * 1024 * 1024);
    } catch {
      // The kernel caps it at net.core.rmem_max; the default still works.
    }
    const bound = socket.address();
    const t = new UdpTransport(socket, joinHostPort(opts.bindHost, bound.port));
    socket.on("message", (msg, rinfo) => t.handler(msg, joinHostPort(rinfo.address, rinfo.port)));
    // A send to a closed port can surface as an async error (ICMP); it must never kill the daemon.
    socket.on("error", () => {
      t.sendErrors++;
    });
    return t;
  }

  get errors(): number {
    return this.sendErrors;
  }

  send(to: string, packet: Buffer): void {
    let hp = this.parsed.get(to);
    if (hp === undefined && !this.parsed.has(to)) {
      if (this.parsed.size >= PARSED_CACHE_MAX) this.parsed.clear();
      hp = splitHostPort(to);
      this.parsed.set(to, hp);
    }
    if (!hp) {
      this.sendErrors++;
      return;
    }
    try {
      // No completion callback: with one, dgram defers it to the next tick even when the datagram left at
      // once (the usual case), an extra tick-queue run per send. Delivery is best effort either way.
      this.socket.send(packet, hp.port, hp.host);
    } catch {
      this.sendErrors++;
    }
  }

  onPacket(handler: PacketHandler): void {
    this.handler = handler;
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      try {
        this.socket.close(() => resolve());
      } catch {
        resolve();
      }
    });
  }
}
