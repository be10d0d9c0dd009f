// UDP transport over node:dgram. Thin on purpose: all validation happens in the memberlist receive path.
import dgram from "node:dgram";
import { isIPv6 } from "node:net";
import { joinHostPort, splitHostPort, type PacketHandler, type Transport } from "./transport";

export interface UdpTransportOptions {
  bindHost: string;
  /** 0 picks a free port (tests). */
  port: number;
  /** Kernel receive buffer: absorbs bursts (push-pull chunks) and short stalls. */
  recvBufferBytes?: number;
}

export class UdpTransport implements Transport {
  private handler: PacketHandler = () => {};
  private sendErrors = 0;

  private constructor(
    private readonly socket: dgram.Socket,
    readonly localAddress: string,
  ) {}

  static async listen(opts: UdpTransportOptions): Promise<UdpTransport> {
    const socket = dgram.createSocket({ type: isIPv6(opts.bindHost) ? "udp6" : "udp4", reuseAddr: false });
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
    const hp = splitHostPort(to);
    if (!hp) {
      this.sendErrors++;
      return;
    }
    try {
      this.socket.send(packet, hp.port, hp.host, (err) => {
        if (err) this.sendErrors++;
      });
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
