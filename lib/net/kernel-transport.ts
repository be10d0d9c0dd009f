// The real PacketTransport: ARP frames through AF_PACKET, NAs through a raw ICMPv6 socket. Each socket is
// opened on first use, so a node with only IPv4 VIPs never opens the ICMPv6 one.
import type { OutgoingPacket, PacketTransport } from "./announcer";
import { NdpSocket } from "./ndp-socket";
import { PacketSocket } from "./packet-socket";

export class KernelTransport implements PacketTransport {
  private packets?: PacketSocket;
  private ndp?: NdpSocket;

  send(packet: OutgoingPacket): boolean {
    if (packet.kind === "na") {
      this.ndp ??= new NdpSocket();
      return this.ndp.send(packet.ifname, packet.bytes);
    }
    this.packets ??= new PacketSocket();
    return this.packets.send(packet.ifindex, packet.bytes);
  }

  /** Errors that surfaced asynchronously (raw-socket reports NA send failures in a callback). */
  asyncErrors(): number {
    return this.ndp?.sendErrors ?? 0;
  }

  /** NAs accepted but not yet written to the kernel. */
  inFlight(): number {
    return this.ndp?.inFlight ?? 0;
  }

  close(): void {
    this.packets?.close();
    this.ndp?.close();
    this.packets = undefined;
    this.ndp = undefined;
  }
}
